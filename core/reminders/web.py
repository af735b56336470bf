"""The confirm page behind every reminder's confirm link, as a router `lifeline serve` can include.

`GET /c/{token}` shows the interview time (in the candidate's zone) and three buttons; only the
POST records anything, so a link scanner's GET does nothing. Confirm and decline become a
`Confirmation` record (source `<tenant>.links`, the token's interview version as `sequence_seen`);
reschedule is recorded too and then leads to the reschedule page (`/r/{token}`). A link that is no
longer live answers 410 with a page saying why; the form is read through the receiver's bounded
reader (core.receiver.guards).

    app.include_router(confirm_router(store, config))
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lifeline_hub.core.config import Config
from lifeline_hub.core.links import LinkPurpose, LinkStatus, ResolvedLink, links_source, resolve
from lifeline_hub.core.models import Confirmation, ConfirmationAction, utcnow
from lifeline_hub.core.receiver.guards import FORM_LIMIT, read_body
from lifeline_hub.core.remediation.links import reschedule_link
from lifeline_hub.core.remediation.texts import LOCALES, locale_of, when, zone_name
from lifeline_hub.core.remediation.web import notice, page
from lifeline_hub.core.store import Store

PAGE: dict[str, dict[str, str]] = {
    "zh-CN": {"title": "确认面试", "when": "面试时间：{when}（{zone}）", "confirm": "我会准时参加",
              "decline": "我无法参加", "reschedule": "我想改期", "done.confirm": "谢谢，已确认您会参加。",
              "done.decline": "已收到，招聘方会与您联系。"},
    "en": {"title": "Confirm your interview", "when": "Interview time: {when} ({zone})", "confirm": "I will be there",
           "decline": "I cannot make it", "reschedule": "I need another time",
           "done.confirm": "Thank you, your attendance is confirmed.",
           "done.decline": "Thank you for letting us know; the recruiter will be in touch."},
}


class ConfirmPages:
    def __init__(self, store: Store, config: Config, clock: Callable[[], datetime]) -> None:
        self.store, self.config, self.clock = store, config, clock

    def locale(self, resolved: ResolvedLink | None, asked: str | None) -> str:
        if asked in LOCALES:
            return str(asked)
        tenant = self.config.data.tenants.get(resolved.link.tenant) if resolved else None
        return locale_of(resolved.candidate_locale if resolved else None, tenant.locale if tenant else None)

    def answer(self, token: str, asked: str | None, action: str | None) -> Response:
        now = self.clock()
        resolved = resolve(self.store, token, now)
        lang = self.locale(resolved, asked)
        if resolved is None or resolved.link.purpose is not LinkPurpose.confirm:
            return notice(lang, "not_found", 404)
        if resolved.status is not LinkStatus.live:
            return notice(lang, resolved.status.value, 410)
        choice = ConfirmationAction.__members__.get(action or "")
        if choice is None:
            return self.form(lang, resolved)
        link = resolved.link
        self.store.write(link.tenant, [Confirmation(
            source=links_source(link.tenant), remote_id=f"confirm/{link.fingerprint}/{choice.value}",
            interview_id=link.interview_id, occurred_at=now, action=choice, sequence_seen=link.sequence)])
        if choice is ConfirmationAction.reschedule:
            return RedirectResponse(reschedule_link(self.store, link.interview_id, now), status_code=303)
        p = PAGE[lang]
        return page(lang, p["title"], f"<p>{html.escape(p[f'done.{choice.value}'])}</p>")

    def form(self, lang: str, resolved: ResolvedLink) -> HTMLResponse:
        p = PAGE[lang]
        zone = resolved.candidate_timezone or resolved.interview.timezone
        at = p["when"].format(when=when(resolved.interview.start_at, zone, lang), zone=zone_name(zone, lang))
        buttons = "".join(
            f'<form method="post"><input type="hidden" name="lang" value="{lang}">'
            f'<input type="hidden" name="action" value="{a.value}">'
            f'<p><button type="submit">{html.escape(p[a.value])}</button></p></form>' for a in ConfirmationAction)
        return page(lang, p["title"], f"<p>{html.escape(at)}</p>{buttons}")


def confirm_router(store: Store, config: Config, clock: Callable[[], datetime] = utcnow) -> APIRouter:
    pages = ConfirmPages(store, config, clock)
    router = APIRouter(include_in_schema=False)

    @router.get("/c/{token}", response_class=HTMLResponse)
    async def confirm_form(token: str, lang: str | None = None) -> Response:
        return await run_in_threadpool(pages.answer, token, lang, None)

    @router.post("/c/{token}")
    async def confirm_submit(token: str, request: Request) -> Response:
        form = parse_qs((await read_body(request, FORM_LIMIT)).decode("utf-8", "replace"))
        lang, action = (next(iter(form.get(k, [])), None) for k in ("lang", "action"))
        return await run_in_threadpool(pages.answer, token, lang, action)

    return router
