"""The candidate's pages behind a link: the interstitial and the notices, in zh-CN and en.

Plain HTML from a small jinja2 template set (`templates/`), no JavaScript, no personal data: a
forwarded or scanned link shows the kind of interview and its time in the candidate's zone, never
a name or contact. The language is the `?lang=` choice, else the candidate's preference, else the
tenant's default.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from lifeline_hub.core.models import Interview, InterviewKind, zone_info

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


class Notice(StrEnum):
    rotated = "rotated"
    expired = "expired"
    cancelled = "cancelled"
    not_found = "not_found"
    unavailable = "unavailable"


_ZH_NEXT = "如需更改面试时间，请直接回复邀请消息联系招聘方。"
_EN_NEXT = "To ask for another time, reply to the invitation message and the recruiter will help."
MESSAGES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "switch": "English", "switch_to": "en",
        "join.title": "参加面试", "join.when": "时间", "join.deadline": "请在此时间前完成",
        "join.button": "进入面试", "join.note": "点击按钮后将前往面试平台。",
        "join.pending": "面试入口尚未就绪。请稍后再打开此链接，或回复邀请消息联系招聘方。",
        "kind.ai_async": "AI 面试", "kind.video": "视频面试", "kind.phone": "电话面试", "kind.onsite": "现场面试",
        "rotated.title": "此链接已更新",
        "rotated.body": "该面试的链接已更换（例如面试时间有变，或链接已重新发送）。"
                        "请使用我们最近一次发给您的消息中的链接。",
        "rotated.next": _ZH_NEXT,
        "expired.title": "此链接已过期", "expired.body": "该面试的时间已经结束。", "expired.next": _ZH_NEXT,
        "cancelled.title": "此面试已取消", "cancelled.body": "该面试已被取消，无需进入。",
        "cancelled.next": "如有疑问，请回复邀请消息联系招聘方。",
        "not_found.title": "链接无效",
        "not_found.body": "未找到该链接。请检查链接是否完整，或使用我们最近一次发给您的消息中的链接。",
        "not_found.next": "",
        "unavailable.title": "面试入口暂未就绪",
        "unavailable.body": "暂时无法打开面试平台。我们已记录此问题，会尽快给您发送新的链接。",
        "unavailable.next": "您也可以回复邀请消息联系招聘方。",
    },
    "en": {
        "switch": "中文", "switch_to": "zh-CN",
        "join.title": "Join your interview", "join.when": "When", "join.deadline": "Complete by",
        "join.button": "Join now", "join.note": "The button takes you to the interview platform.",
        "join.pending": "The way in is not ready yet. Please open this link again a little later, or reply to "
                        "the invitation message.",
        "kind.ai_async": "AI interview", "kind.video": "Video interview", "kind.phone": "Phone interview",
        "kind.onsite": "On-site interview",
        "rotated.title": "This link has been replaced",
        "rotated.body": "The link for this interview has changed (for example the time moved, or the link was "
                        "sent again). Please use the link in the most recent message from us.",
        "rotated.next": _EN_NEXT,
        "expired.title": "This link has expired", "expired.body": "The time for this interview is over.",
        "expired.next": _EN_NEXT,
        "cancelled.title": "This interview was cancelled",
        "cancelled.body": "This interview has been cancelled; there is nothing to join.",
        "cancelled.next": "If you have questions, reply to the invitation message.",
        "not_found.title": "This link is not valid",
        "not_found.body": "We could not find this link. Please check that it is complete, or use the link in the "
                          "most recent message from us.",
        "not_found.next": "",
        "unavailable.title": "The interview is not ready to open",
        "unavailable.body": "We cannot open the interview platform right now. We have noted the problem and will "
                            "send you a new link shortly.",
        "unavailable.next": "You can also reply to the invitation message to reach the recruiter.",
    },
}
_ZH_WEEKDAYS = "一二三四五六日"
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")


def choose_locale(*preferences: str | None) -> str:
    """The first supported locale among `preferences` (`zh`, `zh-Hans-CN`, `en-GB`... match), else zh-CN."""
    for tag in preferences:
        lowered = (tag or "").strip().lower()
        if lowered.startswith("zh"):
            return "zh-CN"
        if lowered.startswith("en"):
            return "en"
    return "zh-CN"


def format_instant(value: datetime, zone: str, locale: str, with_date: bool = True) -> str:
    local = value.astimezone(zone_info(zone))
    if not with_date:
        return local.strftime("%H:%M")
    if locale == "zh-CN":
        return f"{local.year}年{local.month}月{local.day}日（周{_ZH_WEEKDAYS[local.weekday()]}）{local:%H:%M}"
    return f"{_EN_WEEKDAYS[local.weekday()]}, {local.day} {_EN_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def zone_label(zone: str, at: datetime, locale: str) -> str:
    offset = at.astimezone(zone_info(zone)).strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    if locale == "zh-CN" and zone in ("Asia/Shanghai", "Asia/Chongqing", "PRC"):
        return f"北京时间，{utc}"
    return f"{zone}, {utc}"


def describe_time(interview: Interview, zone: str, locale: str) -> tuple[str, str]:
    """(label, text) of when the interview is: the window of a live one, the deadline of an async one."""
    texts = MESSAGES[locale]
    if interview.kind is InterviewKind.ai_async:
        when = format_instant(interview.end_at, zone, locale)
        return texts["join.deadline"], _with_zone(when, zone_label(zone, interview.end_at, locale), locale)
    local = zone_info(zone)
    same_day = interview.start_at.astimezone(local).date() == interview.end_at.astimezone(local).date()
    span = (f"{format_instant(interview.start_at, zone, locale)} – "
            f"{format_instant(interview.end_at, zone, locale, with_date=not same_day)}")
    return texts["join.when"], _with_zone(span, zone_label(zone, interview.start_at, locale), locale)


def _with_zone(text: str, label: str, locale: str) -> str:
    return f"{text}（{label}）" if locale == "zh-CN" else f"{text} ({label})"


def render_join(interview: Interview, locale: str, zone: str) -> str:
    """The interstitial: what and when, and one button (a form POST) that records the join attempt;
    without a platform link yet, a note instead of the button."""
    texts = MESSAGES[locale]
    label, when = describe_time(interview, zone, locale)
    return _env.get_template("join.html").render(
        t=texts, lang=locale, title=texts["join.title"], kind=texts[f"kind.{interview.kind.value}"],
        when_label=label, when=when, can_join=bool(interview.join_url),
    )


def render_notice(notice: Notice, locale: str) -> str:
    texts = MESSAGES[locale]
    return _env.get_template("notice.html").render(
        t=texts, lang=locale, title=texts[f"{notice.value}.title"], body=texts[f"{notice.value}.body"],
        next=texts[f"{notice.value}.next"],
    )
