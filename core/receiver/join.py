"""`/j/{token}`: the interstitial (GET/HEAD, never consumes anything) and the join (POST, 303).

Every request to a known token is recorded as a LinkEvent (machine-made ones flagged), including
requests to rotated, expired or cancelled links, which get a page saying what to do next.
Recording is best effort on the way to the interview: when the store cannot record, the
candidate still gets the page or the redirect, and the failure is logged (when it cannot even
look the token up, the app answers with the "not ready" page and a 503). The POST reads its
(empty) form through the guards' bounded reader; the receiver adds the protective page headers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from lifeline_hub.core.config import Config
from lifeline_hub.core.links import LinkPurpose, LinkStatus, ResolvedLink, Visit, record_visit, resolve
from lifeline_hub.core.links.pages import Notice, choose_locale, render_join, render_notice
from lifeline_hub.core.models import LinkEventType
from lifeline_hub.core.receiver.guards import FORM_LIMIT, read_body
from lifeline_hub.core.store import Store

log = logging.getLogger("lifeline.receiver.links")

NOTICES = {LinkStatus.rotated: Notice.rotated, LinkStatus.expired: Notice.expired,
           LinkStatus.cancelled: Notice.cancelled}


def join_router(config: Config, store: Store, clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter()

    def visit(request: Request) -> Visit:
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Visit(request.method, headers, request.client.host if request.client else None, clock())

    def locale(request: Request, resolved: ResolvedLink | None) -> str:
        wanted = request.query_params.get("lang")
        if resolved is None:
            return choose_locale(wanted, request.headers.get("accept-language"))
        tenant = config.data.tenants.get(resolved.link.tenant)
        return choose_locale(wanted, resolved.candidate_locale, tenant.locale if tenant else None)

    def page(html: str, status: int, request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=status, media_type="text/html")
        return HTMLResponse(html, status_code=status)

    def lookup(token: str, seen: Visit) -> ResolvedLink | None:
        resolved = resolve(store, token, seen.at)
        if resolved is None:
            log.info("link: unknown token (%s)", seen.method)
        return resolved

    def record(resolved: ResolvedLink, kind: LinkEventType, seen: Visit, code: str | None = None) -> None:
        try:
            event = record_visit(store, resolved.link, kind, seen, code)
        except SQLAlchemyError as exc:
            log.error("link %s: could not record %s: %s", resolved.link.fingerprint, kind.value, type(exc).__name__)
            return
        log.info("link %s: %s %s%s", resolved.link.fingerprint, kind.value, event.ua_family,
                 f" machine:{event.machine_reason}" if event.machine_made else "")

    @router.api_route("/j/{token}", methods=["GET", "HEAD"], include_in_schema=False)
    def open_link(token: str, request: Request) -> Response:
        seen = visit(request)
        resolved = lookup(token, seen)
        lang = locale(request, resolved)
        if resolved is None or resolved.link.purpose is not LinkPurpose.join:
            return page(render_notice(Notice.not_found, lang), 404, request)
        if resolved.status is not LinkStatus.live:
            record(resolved, LinkEventType.open, seen, f"link_{resolved.status.value}")
            return page(render_notice(NOTICES[resolved.status], lang), 410, request)
        record(resolved, LinkEventType.open, seen)
        zone = resolved.candidate_timezone or resolved.interview.timezone
        return page(render_join(resolved.interview, lang, zone), 200, request)

    @router.post("/j/{token}", include_in_schema=False)
    async def join_submit(token: str, request: Request) -> Response:
        await read_body(request, FORM_LIMIT)  # the interstitial's form carries nothing: only bound it
        return await run_in_threadpool(join, token, request)

    def join(token: str, request: Request) -> Response:
        seen = visit(request)
        resolved = lookup(token, seen)
        lang = locale(request, resolved)
        if resolved is None or resolved.link.purpose is not LinkPurpose.join:
            return page(render_notice(Notice.not_found, lang), 404, request)
        if resolved.status is not LinkStatus.live:
            record(resolved, LinkEventType.join_attempt, seen, f"link_{resolved.status.value}")
            return page(render_notice(NOTICES[resolved.status], lang), 410, request)
        target = resolved.interview.join_url
        if not target or not target.startswith(("https://", "http://")):
            record(resolved, LinkEventType.join_error, seen, "no_join_url")
            return page(render_notice(Notice.unavailable, lang), 503, request)
        record(resolved, LinkEventType.join_attempt, seen)
        return RedirectResponse(target, status_code=303)

    return router
