"""The pages behind remediation links, as a FastAPI router the receiver (`lifeline serve`) includes.

- `/r/{token}`: the candidate's reschedule page (zh-CN/en, plain HTML forms, no JavaScript): a
  reason, offered slots and times of their own; the POST becomes a RescheduleRequest and its
  approval. It shows no personal data: a forwarded link tells nothing about the candidate.
- `/hr/{signed}`: HR's next step (confirm attended, re-issue the link, offer a new time) behind a
  confirmation button, so a link scanner's GET does nothing.
- `/ask/{signed}`: an interviewer's answer to "Did <candidate> attend?" (one signed link per answer and
  per interviewer, `core.remediation.answers`), behind a confirmation button the same way.

A link that is no longer live (rotated, expired, cancelled) answers 410 with a page saying what to
do; times the form cannot hold (unreadable, out of range, outside the acceptable window) answer 422.
Forms are read through the receiver's bounded reader (core.receiver.guards), which also gives
every page its protective headers.

    app.include_router(remediation_router(store, config, get_host(), clock))
"""

from __future__ import annotations

import html
import logging
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from lifeline_hub.core.config import Config
from lifeline_hub.core.links import LinkPurpose, LinkStatus, ResolvedLink, resolve
from lifeline_hub.core.models import Interview, Slot, parse_instant, utcnow, zone_info
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.guards import FORM_LIMIT, read_body
from lifeline_hub.core.remediation import answers, hr
from lifeline_hub.core.remediation.case import load_candidate
from lifeline_hub.core.remediation.links import read_answer, read_hr_link
from lifeline_hub.core.remediation.reschedule.requests import acceptable, existing, offered_slots, submit
from lifeline_hub.core.remediation.texts import LOCALES, REASONS, P, T, locale_of, when, window, zone_name
from lifeline_hub.core.store import Store

log = logging.getLogger("lifeline.remediation")
STYLE = (
    "body{margin:0;background:#f4f6f8;color:#1f2328;font:16px/1.6 system-ui,-apple-system,'PingFang SC',"
    "'Microsoft YaHei',sans-serif}main{max-width:34rem;margin:8vh auto 0;padding:2rem 1.5rem;background:#fff;"
    "border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}h1{font-size:1.4rem;margin:0 0 1rem}"
    "label{display:block;margin:.3rem 0}fieldset{border:0;padding:0;margin:0 0 1.2rem}legend{font-weight:600}"
    "textarea,select,input[type=datetime-local]{width:100%;box-sizing:border-box;padding:.5rem;font:inherit}"
    "button{width:100%;padding:.9rem;border:0;border-radius:8px;background:#0969da;color:#fff;font-size:1.1rem}"
    ".note,footer{color:#59636e;font-size:.9rem}.error{color:#b42318;font-weight:600}"
    "footer{max-width:34rem;margin:1rem auto;text-align:center}footer a{color:inherit}"
)


def page(lang: str, title: str, body: str, status: int = 200, switch: bool = True) -> HTMLResponse:
    """A whole page; `body` is HTML made from escaped parts."""
    p = P[lang]
    footer = f'<footer><a href="?lang={p["switch_to"]}">{p["switch"]}</a></footer>' if switch else ""
    text = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><main><h1>{html.escape(title)}</h1>{body}</main>{footer}</body></html>")
    return HTMLResponse(text, status_code=status)


def notice(lang: str, key: str, status: int = 200) -> HTMLResponse:
    return page(lang, P[lang][f"{key}.title"], f"<p>{html.escape(P[lang][f'{key}.body'])}</p>", status)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _plain(text: str) -> str:
    """A form's free text without control characters (line breaks and tabs stay)."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cs"))


class Pages:
    """The handlers, over one store and config (the receiver's)."""

    def __init__(self, store: Store, config: Config, host: PluginHost, clock: Callable[[], datetime]) -> None:
        self.store, self.config, self.host, self.clock = store, config, host, clock

    def locale(self, resolved: ResolvedLink | None, asked: str | None) -> str:
        if asked in LOCALES:
            return str(asked)
        tenant = self.config.data.tenants.get(resolved.link.tenant) if resolved else None
        with self.store.engine.connect() as conn:
            candidate = load_candidate(conn, resolved.link.candidate_id) if resolved else None
        return locale_of(candidate.locale if candidate else None, tenant.locale if tenant else None)

    def zone(self, resolved: ResolvedLink) -> str:
        with self.store.engine.connect() as conn:
            candidate = load_candidate(conn, resolved.link.candidate_id)
        return candidate.timezone if candidate else resolved.interview.timezone

    def reschedule(self, token: str, asked: str | None, form: Mapping[str, list[str]] | None) -> HTMLResponse:
        now = self.clock()
        resolved = resolve(self.store, token, now)
        lang = self.locale(resolved, asked)
        if resolved is None or resolved.link.purpose is not LinkPurpose.reschedule:
            return notice(lang, "not_found", 404)
        if resolved.status is not LinkStatus.live:
            return notice(lang, resolved.status.value, 410)
        interview = resolved.interview
        with self.store.engine.connect() as conn:
            if existing(conn, interview.id, interview.thread.sequence):
                return notice(lang, "already")
        tenant = self.config.data.tenants.get(resolved.link.tenant)
        if tenant is None:
            return notice(lang, "unavailable", 503)
        zone = self.zone(resolved)
        offered = offered_slots(interview, tenant.policy, zone, now)
        if form is None:
            return self.form(lang, interview, offered, zone, error=None, form={}, now=now)
        slots, error = self.wished(form, interview, zone, now)
        if error:
            return self.form(lang, interview, offered, zone, error=error, form=form, now=now, status=422)
        reason = (form.get("reason") or [""])[0]
        note = _plain((form.get("note") or [""])[0])
        try:
            done = submit(self.store, self.config, interview.id, slots, now,
                          reason_code=reason if reason in REASONS else "other", reason_text=note)
        except LookupError as exc:
            log.warning("reschedule request for %s not taken: %s", interview.id, exc)
            return notice(lang, "unavailable", 503)
        return notice(lang, "thanks" if done.created else "already")

    def wished(self, form: Mapping[str, list[str]], interview: Interview, zone: str,
               now: datetime) -> tuple[list[Slot], str | None]:
        length = interview.end_at - interview.start_at
        starts: list[datetime] = []
        try:
            starts += [parse_instant(v) for v in form.get("slot", []) if v]
            starts += [parse_instant(v, zone) for v in form.get("propose", []) if v.strip()]
        except (ValueError, OverflowError):  # OverflowError: a wall time near year 1 or 9999 has no UTC instant
            return [], "form.bad_time"
        if not starts:
            return [], "form.need_time"
        if not all(acceptable(Slot(start_at=s, end_at=s), now) for s in starts):
            return [], "form.bad_time"
        slots = sorted({Slot(start_at=s, end_at=s + length) for s in starts}, key=lambda s: s.start_at)
        return slots[:5], None

    def form(self, lang: str, interview: Interview, offered: list[Slot], zone: str, error: str | None,
             form: Mapping[str, list[str]], now: datetime, status: int = 200) -> HTMLResponse:
        p, t = P[lang], T[lang]
        chosen, reason = set(form.get("slot", [])), (form.get("reason") or ["schedule_conflict"])[0]
        reasons = "".join(
            f'<label><input type="radio" name="reason" value="{r}"{" checked" if r == reason else ""}> '
            f"{_esc(t[f'reason.{r}'])}</label>" for r in REASONS)
        slots = "".join(
            f'<label><input type="checkbox" name="slot" value="{_esc(s.start_at.isoformat())}"'
            f'{" checked" if s.start_at.isoformat() in chosen else ""}> '
            f"{_esc(window(s.start_at, s.end_at, zone, lang))}</label>" for s in offered)
        soonest = (now + timedelta(hours=2)).astimezone(zone_info(zone)).strftime("%Y-%m-%dT%H:%M")
        proposals = "".join(f'<input type="datetime-local" name="propose" min="{soonest}" '
                            f'aria-label="{_esc(p["form.choice"].format(n=i))}">' for i in (1, 2))
        current = p["form.current"].format(kind=t[f"kind.{interview.kind.value}"],
                                           when=when(interview.start_at, zone, lang))
        body = (
            f"<p>{_esc(p['form.intro'])}</p>"
            f'<p class="note">{_esc(current)}</p>'
            + (f'<p class="error" role="alert">{_esc(p[error])}</p>' if error else "")
            + '<form method="post">'
            f'<input type="hidden" name="lang" value="{lang}">'
            f"<fieldset><legend>{_esc(p['form.reason'])}</legend>{reasons}</fieldset>"
            + (f"<fieldset><legend>{_esc(p['form.slots'])}</legend>{slots}</fieldset>" if offered else "")
            + f"<fieldset><legend>{_esc(p['form.propose'])}</legend>{proposals}</fieldset>"
            f'<fieldset><legend>{_esc(p["form.note"])}</legend>'
            f'<textarea name="note" rows="3" maxlength="500">{_esc((form.get("note") or [""])[0])}</textarea>'
            "</fieldset>"
            f'<p class="note">{_esc(p["form.zone"].format(zone=zone_name(zone, lang)))}</p>'
            f'<button type="submit">{_esc(p["form.submit"])}</button></form>'
        )
        return page(lang, p["form.title"], body, status)

    def hr_page(self, signed: str, confirm: bool) -> HTMLResponse:
        link = read_hr_link(signed, self.clock())
        tenant = self.config.data.tenants.get(link.tenant) if link else None
        lang = tenant.locale if tenant else "zh-CN"
        p = P[lang]
        if link is None or tenant is None:
            return page(lang, p["hr.title"], f"<p>{_esc(p['hr.invalid'])}</p>", 404, switch=False)
        if not confirm:
            body = (f"<p>{_esc(p[f'hr.{link.action}'])}</p>"
                    f'<form method="post"><button type="submit">{_esc(p["hr.confirm"])}</button></form>')
            return page(lang, p["hr.title"], body, switch=False)
        result = hr.perform(self.store, self.config, self.host, link, self.clock())
        key = f"hr.done.{link.action}" if result is hr.Result.done else f"hr.{result.value}"
        return page(lang, p["hr.title"], f"<p>{_esc(p[key])}</p>", switch=False)

    def answer_page(self, signed: str, confirm: bool) -> HTMLResponse:
        now = self.clock()
        link = read_answer(signed, now)
        tenant = self.config.data.tenants.get(link.tenant) if link else None
        lang = tenant.locale if tenant else "zh-CN"
        p = P[lang]
        if link is None or tenant is None:
            return page(lang, p["ask.title"], f"<p>{_esc(p['hr.invalid'])}</p>", 404, switch=False)
        verdict = T[lang][f"answer.{link.verdict.value}"]
        if not confirm:
            body = (f"<p>{_esc(p['ask.confirm'].format(verdict=verdict))}</p>"
                    f'<form method="post"><button type="submit">{_esc(p["hr.confirm"])}</button></form>')
            return page(lang, p["ask.title"], body, switch=False)
        result = answers.record(self.store, link, link.interviewer, now)
        status = 410 if result is answers.Answered.stale else 200
        return page(lang, p["ask.title"], f"<p>{_esc(p[f'ask.{result.value}'].format(verdict=verdict))}</p>", status,
                    switch=False)


async def _form(request: Request) -> dict[str, list[str]]:
    body = await read_body(request, FORM_LIMIT)
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def remediation_router(store: Store, config: Config, host: PluginHost,
                       clock: Callable[[], datetime] = utcnow) -> APIRouter:
    """The reschedule and HR pages over `store` and `config`."""
    pages = Pages(store, config, host, clock)
    router = APIRouter(include_in_schema=False)

    @router.get("/r/{token}", response_class=HTMLResponse)
    async def reschedule_form(token: str, lang: str | None = None) -> HTMLResponse:
        return await run_in_threadpool(pages.reschedule, token, lang, None)

    @router.post("/r/{token}", response_class=HTMLResponse)
    async def reschedule_submit(token: str, request: Request) -> HTMLResponse:
        form = await _form(request)
        return await run_in_threadpool(pages.reschedule, token, next(iter(form.get("lang", [])), None), form)

    @router.get("/hr/{signed}", response_class=HTMLResponse)
    async def hr_confirm(signed: str) -> HTMLResponse:
        return await run_in_threadpool(pages.hr_page, signed, False)

    @router.post("/hr/{signed}", response_class=HTMLResponse)
    async def hr_do(signed: str, request: Request) -> HTMLResponse:
        await read_body(request, FORM_LIMIT)  # the button's form carries nothing: only bound it
        return await run_in_threadpool(pages.hr_page, signed, True)

    @router.get("/ask/{signed}", response_class=HTMLResponse)
    async def answer_confirm(signed: str) -> HTMLResponse:
        return await run_in_threadpool(pages.answer_page, signed, False)

    @router.post("/ask/{signed}", response_class=HTMLResponse)
    async def answer_do(signed: str, request: Request) -> HTMLResponse:
        await read_body(request, FORM_LIMIT)
        return await run_in_threadpool(pages.answer_page, signed, True)

    return router
