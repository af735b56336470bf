"""Polled streams: Hire interviews, calendar RSVPs, VC attendance, task and approval state.

Every stream ends with one `Checkpoint` whose watermark is the instant its snapshot was taken
(or, for attendance, the start of the earliest meeting whose report is not final yet), so the
completeness gate never trusts data a stream has not actually read; a run that quarantined a
record claims no watermark at all (`plugin.honest`). Receipts live in `receipts`.

The interviews stream also yields each interview's candidate: the Hire application names the talent
(`GET /open-apis/hire/v1/applications/:id`, once per interview), the talent's `basic_info` gives
name, mobile (with its country calling code) and e-mail (`GET /open-apis/hire/v2/talents/:id`, once
per talent and day, or when its interview is rescheduled). Contact values are never logged; what
quarantine keeps of a garbled talent has them masked.

Calendar events Lifeline creates carry a marker line `[lifeline interview=<id> seq=<n>]` in their
description; RSVPs and meeting attendance are read only for such events and linked through it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import phonenumbers

from lifeline_hub.connectors.feishu import feedback
from lifeline_hub.connectors.feishu.common import millis, staff_id, vc_time
from lifeline_hub.core import Checkpoint, Malformed, StreamItem
from lifeline_hub.core.connector import describe_error
from lifeline_hub.core.http import InvalidRequest, NotFound, PermissionDenied, Quota
from lifeline_hub.core.http.redact import mask_email, mask_phone
from lifeline_hub.core.models import (
    AppointmentThread,
    Attendance,
    Candidate,
    Channel,
    Confirmation,
    ConfirmationAction,
    ContactPoint,
    DeliveryEvent,
    DeliveryType,
    Interview,
    InterviewKind,
    InterviewStatus,
    Record,
    RequestStatus,
    RescheduleRequest,
    Role,
    canonical_id,
    zone_info,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.feishu.plugin import FeishuConnector

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Record)
DAY_MS = 86_400_000
HIRE = "/open-apis/hire/v1/interviews"
APPLICATION = "/open-apis/hire/v1/applications/{}"
TALENT = "/open-apis/hire/v2/talents/{}"
APPLICATION_QUOTA = (Quota(1000, 60.0), Quota(50, 1.0))
TALENT_QUOTA = (Quota(20, 1.0),)
HIRE_NOT_FOUND = frozenset({1002102, 1002201, 1002208})
"""Hire's "Talent not exist" (1002102, 1002208) and "Application not exist" (1002201)."""
TALENT_REFRESH_MS = DAY_MS
"""A talent's contacts are read again after this long (and whenever its interview is rescheduled)."""
TALENT_MEMORY = 5000
"""At most this many fetched talents are remembered in the cursor (only those of followed interviews)."""
APPROVALS = "/open-apis/approval/v4/instances"
MARKER = re.compile(r"\[lifeline interview=(\S+) seq=(\d+)\]")
MEETING_NO = re.compile(r"/j/(\d{9})(?:\D|$)")
HIRE_ID = re.compile(r"^\d{1,32}$")
KINDS = {1: InterviewKind.onsite, 2: InterviewKind.phone, 3: InterviewKind.video}
PLATFORMS = {1: "zoom", 2: "nowcoder", 3: "nowcoder", 4: "saima", 5: "feishu", 8: "hackerrank", 9: "feishu"}
RSVP = {"accept": ConfirmationAction.confirm, "decline": ConfirmationAction.decline}
RSVP_STATUSES = frozenset({"needs_action", "accept", "tentative", "decline", "removed"})
EVENT_ID = re.compile(r"^[0-9A-Za-z_-]{6,128}$")
APPROVAL_STATUS = {
    "PENDING": RequestStatus.submitted,
    "APPROVED": RequestStatus.approved,
    "REJECTED": RequestStatus.refused,
    "CANCELED": RequestStatus.superseded,
    "DELETED": RequestStatus.superseded,
    "REVERTED": RequestStatus.superseded,
    "OVERTIME_CLOSE": RequestStatus.expired,
    "OVERTIME_RECOVER": RequestStatus.submitted,
}
INSTANCE_CODE = re.compile(r"^[0-9A-Za-z-]{8,64}$")
APPROVAL_FINAL = frozenset({"APPROVED", "REJECTED", "CANCELED", "DELETED", "REVERTED", "OVERTIME_CLOSE"})
MEETING_SETTLE_MS = 2 * 3600 * 1000
"""A meeting's report is final this long after the event's scheduled end."""
LISTING_LAG_MS = 5 * 60 * 1000
"""Approval listings are re-read this far back (instances may show up late)."""


def marker(interview_id: str, sequence: int) -> str:
    """The line linking a calendar event to its interview (and the version written)."""
    return f"[lifeline interview={interview_id} seq={sequence}]"


def build(c: FeishuConnector, model: type[R], raw: Any, fields: Callable[[Any], dict[str, Any]]) -> R | Malformed:
    """`c.parse(model, raw, **fields(raw))`; a vendor record that breaks `fields` is `Malformed` too."""
    try:
        values = fields(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        remote = raw.get("id") if isinstance(raw, dict) else None
        return Malformed(describe_error(exc), raw, str(remote) if isinstance(remote, str | int) else None)
    return c.parse(model, raw, **values)


def hire_id(value: Any) -> str:
    if not isinstance(value, str | int) or not HIRE_ID.match(str(value)):
        raise ValueError(f"not a Hire id: {value!r}")
    return str(value)


def at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC)


# -- interviews (Hire) ------------------------------------------------------------------------------------


def read_interviews(c: FeishuConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Interviews starting in [now - lookback, now + horizon], each after its candidate (when new to
    this cursor, stale or rescheduled); one that left the window since the last run is re-read by its
    application (moved, or gone = cancelled). Cursor `seen`: interview id -> [application_id,
    begin_ms, end_ms, sequence, kind, talent_id]; `sequence` counts the reschedules observed, talent_id
    is None until the application was read ("" when it named none). Cursor `talents`: talent id ->
    when it was last read (ms), for the talents of followed interviews only."""
    started = c.now_ms()
    low = started - c.config.interview_lookback_days * DAY_MS
    high = started + c.config.interview_horizon_days * DAY_MS
    before: dict[str, list[Any]] = {k: list(v) for k, v in (cursor.get("seen") or {}).items()}
    seen: dict[str, list[Any]] = {}
    people = _People(c, cursor, started)
    params = {"start_time": str(low), "end_time": str(high), "page_size": 100, "user_id_type": c.config.id_type}
    for page in c.client.pages(HIRE, "hire.interview.list", params):
        for raw in page:
            yield from _interview(c, raw, before, seen, people)
    for interview_id, entry in before.items():
        if interview_id in seen or entry[1] < low:
            continue  # still listed, or aged out of the window normally
        query = {"application_id": entry[0], "page_size": 100, "user_id_type": c.config.id_type}
        listed = [raw for page in c.client.pages(HIRE, "hire.interview.list", query) for raw in page]
        mine = [raw for raw in listed if isinstance(raw, dict) and str(raw.get("id")) == interview_id]
        if mine:
            moved: dict[str, list[Any]] = {}
            yield from _interview(c, mine[0], before, moved, people)
            now = moved.get(interview_id, entry)
            if now is entry or now[1] > high:
                seen[interview_id] = now  # garbled, or moved past the horizon: follow it until it is back
        elif all(isinstance(raw, dict) and HIRE_ID.match(str(raw.get("id"))) for raw in listed):
            yield _gone(c, interview_id, entry)
        else:
            seen[interview_id] = entry  # a garbled listing proves nothing: look again next run
    yield Checkpoint({"seen": seen, "talents": people.remembered(seen)}, at(started))


def _interview(
    c: FeishuConnector, raw: Any, before: Mapping[str, list[Any]], seen: dict[str, list[Any]], people: _People
) -> Iterator[StreamItem]:
    previous = before.get(str(raw.get("id"))) if isinstance(raw, dict) else None
    talent = yield from people.talent_of(raw, previous)
    record = build(c, Interview, raw, lambda r: _interview_fields(c, r, before, talent))
    if isinstance(record, Interview):
        seen[record.remote_id] = [
            record.application_id, int(raw["begin_time"]), int(raw["end_time"]), record.thread.sequence,
            record.kind.value, talent,
        ]  # fmt: skip
        if talent:
            rescheduled = previous is not None and record.thread.sequence != int(previous[3])
            yield from people.candidate(talent, record.timezone, rescheduled)
    elif record.remote_id is not None and record.remote_id in before:
        seen[record.remote_id] = before[record.remote_id]  # a garbled copy: keep following the old one
    yield record
    if isinstance(record, Interview):
        yield from feedback.reports(c, raw, record)  # after the interview: the store has it when they arrive


def _interview_fields(
    c: FeishuConnector, raw: dict[str, Any], before: Mapping[str, list[Any]], talent: str | None
) -> dict[str, Any]:
    interview_id = hire_id(raw["id"])
    begin, end = millis(raw["begin_time"]), millis(raw["end_time"])
    kind = KINDS[raw["interview_type"]]
    summary = raw.get("interview_round_summary")
    status = InterviewStatus.completed if summary in (4, 5) or (isinstance(summary, int) and summary >= 7) else None
    previous = before.get(interview_id)
    sequence = 0
    if previous is not None:
        moved = (previous[1], previous[2]) != (int(raw["begin_time"]), int(raw["end_time"]))
        sequence = int(previous[3]) + int(moved)
    zone = (raw.get("talent_time_zone") or {}).get("code") or c.instance.timezone
    try:
        zone_info(zone)
    except ValueError:
        zone = c.instance.timezone
    interviewers = [
        staff_id(c.config.id_type, str((r.get("interviewer") or {}).get("id") or r["user_id"]))
        for r in raw.get("interview_record_list") or []
    ]
    modified = raw.get("biz_modify_time")
    return {
        "remote_id": interview_id,
        "kind": kind,
        "start_at": begin,
        "end_at": end,
        "timezone": zone,
        "status": status or InterviewStatus.scheduled,
        "status_raw": f"interview_round_summary={summary}" if summary is not None else None,
        "thread": _thread(c, interview_id, sequence),
        "application_id": hire_id(raw["application_id"]),
        "candidate_id": canonical_id(c.instance.name, talent) if talent else None,
        "platform": PLATFORMS.get(raw.get("video_type", 0)) if kind is InterviewKind.video else None,
        "interviewer_ids": tuple(dict.fromkeys(interviewers)),
        "source_updated_at": millis(modified) if modified else None,
    }


def _thread(c: FeishuConnector, interview_id: str, sequence: int) -> AppointmentThread:
    domain = "larksuite.com" if "larksuite" in c.host_url else "feishu.cn"
    return AppointmentThread(
        thread_id=canonical_id(c.instance.name, interview_id), ical_uid=f"{interview_id}@hire.{domain}",
        sequence=sequence,
    )  # fmt: skip


def _gone(c: FeishuConnector, interview_id: str, entry: list[Any]) -> Interview | Malformed:
    """An interview its application no longer lists: cancelled, with its last known window."""
    return c.parse(
        Interview,
        entry,
        remote_id=interview_id,
        kind=entry[4],
        start_at=at(int(entry[1])),
        end_at=at(int(entry[2])),
        timezone=c.instance.timezone,
        status=InterviewStatus.cancelled,
        status_raw="deleted",
        thread=_thread(c, interview_id, int(entry[3]) + 1),
        application_id=str(entry[0]),
        candidate_id=canonical_id(c.instance.name, entry[5]) if len(entry) > 5 and entry[5] else None,
    )


# -- interviews: candidates (Hire applications and talents) -------------------------------------------------


class _People:
    """Who each interview is with: its application's talent, and that talent as a `Candidate`.

    A missing scope (hire:application:readonly, hire:talent:readonly) is logged once per run and
    interviews are then read without candidates, as before those reads existed."""

    def __init__(self, c: FeishuConnector, cursor: Mapping[str, Any], now_ms: int) -> None:
        self.c, self.now_ms = c, now_ms
        self.read_at: dict[str, int] = {str(k): int(v) for k, v in (cursor.get("talents") or {}).items()}
        self.done: set[str] = set()
        self.blocked = False

    def talent_of(self, raw: Any, previous: list[Any] | None) -> Generator[Malformed, None, str | None]:
        """(generator) The talent id of an interview's application: the cursor's when known, else read;
        "" when the application is gone, None when unknown (a garbled answer is yielded, then None)."""
        application_id = raw.get("application_id") if isinstance(raw, dict) else None
        if not isinstance(application_id, str | int) or not HIRE_ID.match(str(application_id)):
            return None  # the interview itself is malformed
        application_id = str(application_id)
        if previous is not None and len(previous) > 5 and previous[5] is not None and previous[0] == application_id:
            return str(previous[5])
        if self.blocked:
            return None
        path = APPLICATION.format(application_id)
        try:
            data = self.c.client.request("GET", path, api="hire.application.get", quota=APPLICATION_QUOTA,
                                         params={"user_id_type": self.c.config.id_type})  # fmt: skip
        except (NotFound, InvalidRequest) as exc:
            if isinstance(exc, InvalidRequest) and exc.code not in HIRE_NOT_FOUND:
                raise
            return ""
        except PermissionDenied as exc:
            self._block(exc)
            return None
        application = data.get("application") if isinstance(data, dict) else None
        talent = application.get("talent_id") if isinstance(application, dict) else None
        if not isinstance(talent, str | int) or not HIRE_ID.match(str(talent)):
            yield Malformed("application: talent_id missing or garbled", data, f"application/{application_id}")
            return None
        return str(talent)

    def candidate(self, talent: str, timezone: str, rescheduled: bool) -> Iterator[Candidate | Malformed]:
        """The talent as a Candidate, read when not read yet (this run or within a day) or rescheduled;
        a talent that is gone yields nothing (and is not asked for again until refreshed)."""
        last = self.read_at.get(talent)
        fresh = last is not None and self.now_ms - last < TALENT_REFRESH_MS and not rescheduled
        if self.blocked or talent in self.done or fresh:
            return
        self.done.add(talent)
        try:
            data = self.c.client.request("GET", TALENT.format(talent), api="hire.talent.get", quota=TALENT_QUOTA,
                                         params={"user_id_type": self.c.config.id_type})  # fmt: skip
        except (NotFound, InvalidRequest) as exc:
            if isinstance(exc, InvalidRequest) and exc.code not in HIRE_NOT_FOUND:
                raise
            self.read_at[talent] = self.now_ms  # deleted (the API does not show deleted talents) or unknown
            return
        except PermissionDenied as exc:
            self._block(exc)
            return
        record = _candidate(self.c, talent, data, timezone)
        if isinstance(record, Candidate):
            self.read_at[talent] = self.now_ms
        yield record  # a garbled talent is quarantined and read again next run

    def remembered(self, seen: Mapping[str, list[Any]]) -> dict[str, int]:
        """The read times of the followed interviews' talents, the newest TALENT_MEMORY of them."""
        wanted = {entry[5] for entry in seen.values() if len(entry) > 5 and entry[5]}
        kept = sorted(((t, at_ms) for t, at_ms in self.read_at.items() if t in wanted), key=lambda p: -p[1])
        return dict(kept[:TALENT_MEMORY])

    def _block(self, exc: PermissionDenied) -> None:
        if not self.blocked:
            log.warning("%s: interviews are read without candidates: %s", self.c.instance.name, exc)
        self.blocked = True


def _candidate(c: FeishuConnector, talent: str, data: Any, timezone: str) -> Candidate | Malformed:
    """A talent's `data` {talent_id, basic_info {name, mobile_number, mobile_code, email}} as a Candidate
    (zone: the interview's talent_time_zone; the talent get documents no zone or locale)."""
    evidence = _talent_evidence(data)
    try:
        if not isinstance(data, dict):
            raise TypeError("talent data is not an object")
        if str(data["talent_id"]) != talent:
            raise ValueError("talent_id differs from the one asked for")
        info = data["basic_info"]
        if not isinstance(info, dict):
            raise TypeError("basic_info is not an object")
        name = info["name"]
        if not isinstance(name, str) or not name.strip() or "\ufffd" in name:
            raise ValueError("basic_info.name is empty or garbled")
        contacts = []
        mobile, email = info.get("mobile_number"), info.get("email")
        if mobile not in (None, ""):
            if not isinstance(mobile, str):
                raise TypeError("basic_info.mobile_number is not a string")
            contacts.append(ContactPoint.phone(mobile, _region(info.get("mobile_code"))))
        if email not in (None, ""):
            if not isinstance(email, str):
                raise TypeError("basic_info.email is not a string")
            contacts.append(ContactPoint.email(email))
    except (KeyError, TypeError, ValueError) as exc:
        return Malformed(f"talent: {describe_error(exc)}", evidence, talent)
    return c.parse(Candidate, evidence, remote_id=talent, name=name, timezone=timezone, contacts=tuple(contacts))


def _region(code: Any) -> str:
    """The region libphonenumber reads a national number in, from Hire's `mobile_code` (a calling code
    such as "86" or "+1"; none given: mainland China, Hire's default)."""
    if code in (None, ""):
        return "CN"
    digits = str(code).strip().removeprefix("+")
    region = phonenumbers.region_code_for_country_code(int(digits)) if digits.isdigit() else "ZZ"
    if region in ("ZZ", "001"):
        raise ValueError("basic_info.mobile_code is not a country calling code")
    return str(region)


def _talent_evidence(data: Any) -> Any:
    """What quarantine keeps of a talent answer: its id and the fields read, contacts masked."""
    if not isinstance(data, dict):
        return {"data_type": type(data).__name__}
    info = data.get("basic_info")
    if not isinstance(info, dict):
        return {"talent_id": data.get("talent_id"), "basic_info_type": type(info).__name__}
    mobile, email = info.get("mobile_number"), info.get("email")
    return {
        "talent_id": data.get("talent_id"),
        "basic_info": {
            "name": info.get("name"),
            "mobile_code": info.get("mobile_code"),
            "mobile_number": mask_phone(mobile) if isinstance(mobile, str) else type(mobile).__name__,
            "email": mask_email(email) if isinstance(email, str) else type(email).__name__,
        },
    }


# -- calendar: RSVPs ---------------------------------------------------------------------------------------


def _calendar(c: FeishuConnector) -> str:
    if not c.config.calendar_id:
        raise ValueError(f"{c.instance.name}: set calendar_id to read calendar streams")
    return c.config.calendar_id


def _events_path(c: FeishuConnector) -> str:
    return f"/open-apis/calendar/v4/calendars/{_calendar(c)}/events"


def changed_events(c: FeishuConnector, sync_token: str | None) -> tuple[list[Any], str | None]:
    """Events changed since `sync_token` (all events ending after the history horizon without one)
    and the new sync token; an expired token (190008) restarts with a full listing."""
    if sync_token:
        try:
            return _list_events(c, {"sync_token": sync_token})
        except InvalidRequest as exc:
            if exc.code != 190008:
                raise
    anchor = (c.now_ms() - c.config.history_days * DAY_MS) // 1000
    return _list_events(c, {"anchor_time": str(anchor)})


def _list_events(c: FeishuConnector, params: dict[str, Any]) -> tuple[list[Any], str | None]:
    events: list[Any] = []
    token: str | None = None
    query = {**params, "page_size": 500, "user_id_type": c.config.id_type}
    while True:
        data = c.client.call("GET", _events_path(c), "calendar.event.list", params=query)
        events.extend(data.get("items") or [])
        if not data.get("has_more") or not data.get("page_token"):
            return events, data.get("sync_token") or None
        if data["page_token"] == token:
            raise InvalidRequest("calendar listing repeated its page_token", vendor="feishu")
        token = data["page_token"]
        query = {"page_token": token, "page_size": 500, "user_id_type": c.config.id_type}


def read_rsvps(c: FeishuConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """RSVPs of external attendees (candidates) on changed Lifeline events. Cursor: `sync_token` and
    per attendee the answer and when it was first seen (`occurred_at`: the API gives no RSVP time).
    A run that met a garbled event or attendee keeps the old sync token, so those are read again."""
    started = c.now_ms()
    answers: dict[str, list[Any]] = {k: list(v) for k, v in (cursor.get("answers") or {}).items()}
    events, sync_token = changed_events(c, cursor.get("sync_token"))
    clean = True
    for event in events:
        if not isinstance(event, dict):
            clean = False
            yield Malformed("calendar event is not an object", event)
            continue
        link = MARKER.search(str(event.get("description") or ""))
        if not link or event.get("status") == "cancelled":
            continue
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
            clean = False
            yield Malformed("event_id missing or garbled", event)
            continue
        path = f"{_events_path(c)}/{event_id}/attendees"
        for page in c.client.pages(path, "calendar.event.attendee.list", {"page_size": 100}):
            for attendee in page:
                item = _rsvp(c, event_id, link, attendee, answers, started)
                clean = clean and not isinstance(item, Malformed)
                if item is not None:
                    yield item
    horizon = started - c.config.history_days * DAY_MS
    kept = {k: v for k, v in answers.items() if v[1] >= horizon}
    token = sync_token if clean else cursor.get("sync_token")
    yield Checkpoint({"sync_token": token, "answers": kept}, at(started))


def _rsvp(
    c: FeishuConnector, event_id: str, link: re.Match[str], attendee: Any, answers: dict[str, list[Any]], now: int
) -> Confirmation | Malformed | None:
    if not isinstance(attendee, dict) or not attendee.get("is_external"):
        return None
    attendee_id, status = attendee.get("attendee_id"), attendee.get("rsvp_status")
    if not isinstance(attendee_id, str) or not EVENT_ID.match(attendee_id) or status not in RSVP_STATUSES:
        return Malformed("attendee_id or rsvp_status missing or garbled", attendee, event_id)
    action = RSVP.get(status)
    if action is None:
        return None
    key = f"{event_id}/{attendee_id}"
    if answers.get(key, [None])[0] != action.value:
        answers[key] = [action.value, now]
    return c.parse(
        Confirmation,
        attendee,
        remote_id=key,
        interview_id=link.group(1),
        occurred_at=at(int(answers[key][1])),
        action=action,
        channel=Channel.feishu,
        sequence_seen=int(link.group(2)),
    )


# -- VC attendance -----------------------------------------------------------------------------------------


def read_attendance(c: FeishuConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Participants of the meetings of Lifeline's calendar events that have ended, re-read until the
    report is final (2 h after the scheduled end). Cursor `done`: event id -> scheduled end (s).

    An event's Feishu meeting (`vchat.vc_type` "vc") is not named by the event: the calendar API shows no
    `meeting_url` for it (only a third-party link has one). It is the reported meeting whose topic is the
    event's summary (a calendar meeting takes its event's title) and that started between an hour before
    the event and its scheduled end; a third-party link on vc.feishu.cn names its meeting number."""
    if not c.config.meeting_attendance:
        raise ValueError(
            f"{c.instance.name}: the attendance stream needs meeting_attendance = true (an app holding the "
            "VC report scope vc:room:readonly); otherwise leave it out of `streams`"
        )
    started = c.now_ms()
    done: dict[str, int] = dict(cursor.get("done") or {})
    watermark = started
    for event in _recent_events(c, started):
        try:
            link = MARKER.search(str(event.get("description") or ""))
            vchat = event.get("vchat") or {}
            number = MEETING_NO.search(str(vchat.get("meeting_url") or ""))
            event_id = str(event["event_id"])
            feishu_meeting = number is not None or vchat.get("vc_type") == "vc"
            if not link or not feishu_meeting or event_id in done or event.get("status") == "cancelled":
                continue
            begin_s, end_s = int(event["start_time"]["timestamp"]), int(event["end_time"]["timestamp"])
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            yield Malformed(describe_error(exc), event)
            continue
        if begin_s * 1000 > started:
            continue
        meeting = _Meeting(number.group(1) if number else None, str(event.get("summary") or ""), begin_s, end_s)
        items = list(_meeting_attendance(c, meeting, started, link.group(1)))
        yield from items
        clean = not any(isinstance(item, Malformed) for item in items)
        if clean and end_s * 1000 + MEETING_SETTLE_MS <= started:
            done[event_id] = end_s
        else:
            watermark = min(watermark, begin_s * 1000)
    horizon = (started - c.config.history_days * DAY_MS) // 1000
    yield Checkpoint({"done": {k: v for k, v in done.items() if v >= horizon}}, at(watermark))


@dataclass(frozen=True)
class _Meeting:
    """How an event's meeting is found in the VC report: its number when known, else topic and window."""

    number: str | None
    topic: str
    begin_s: int
    end_s: int

    def params(self, now_ms: int) -> dict[str, Any]:
        window = {"start_time": str(self.begin_s - 3600), "end_time": str(min(now_ms // 1000, self.end_s))}
        return {**window, "meeting_no": self.number} if self.number else window

    def matches(self, meeting: Mapping[str, Any]) -> bool:
        return self.number is not None or meeting.get("meeting_topic") == self.topic


def _recent_events(c: FeishuConnector, now_ms: int) -> Iterator[Any]:
    """Events overlapping the last `history_days`, one day per call (time-window listings are not
    paged and truncate at page_size); each once, from the window holding its start (an event whose
    start is unreadable is passed on for the caller to quarantine)."""
    end_s = now_ms // 1000
    for days_ago in range(c.config.history_days, 0, -1):
        low = end_s - days_ago * 86400
        params = {"start_time": str(low), "end_time": str(low + 86400), "page_size": 1000}
        data = c.client.call("GET", _events_path(c), "calendar.event.list", params=params)
        for event in data.get("items") or []:
            try:
                begin = int(event["start_time"]["timestamp"])
            except (KeyError, TypeError, ValueError):
                yield event
                continue
            if low <= begin < low + 86400:
                yield event


def _meeting_attendance(c: FeishuConnector, wanted: _Meeting, now_ms: int, interview_id: str) -> Iterator[StreamItem]:
    params = {**wanted.params(now_ms), "page_size": 100, "user_id_type": c.config.id_type}
    for page in c.client.pages("/open-apis/vc/v1/meeting_list", "vc.meeting_list.get", params, "meeting_list"):
        for meeting in page:
            if not isinstance(meeting, dict):
                yield Malformed("meeting is not an object", meeting, wanted.number)
                continue
            if not wanted.matches(meeting):
                continue
            try:
                number = str(meeting["meeting_id"]) if wanted.number is None else wanted.number
                start, end = vc_time(meeting["meeting_start_time"]), vc_time(meeting["meeting_end_time"])
            except (KeyError, TypeError, ValueError) as exc:
                yield Malformed(describe_error(exc), meeting, wanted.number)
                continue
            query = {
                "meeting_start_time": str(int(start.timestamp())),
                "meeting_end_time": str(int(end.timestamp())),
                "meeting_no": number,
                "page_size": 100,
                "user_id_type": c.config.id_type,
            }
            try:
                for part in c.client.pages(
                    "/open-apis/vc/v1/participant_list", "vc.participant_list.get", query, "participants"
                ):
                    fields = functools.partial(_attendance, c, number=number, start=start, interview_id=interview_id)
                    for raw in part:
                        yield build(c, Attendance, raw, fields)
            except NotFound:
                continue  # 126009: the report does not know this instance (yet)


def _attendance(
    c: FeishuConnector, raw: dict[str, Any], number: str, start: datetime, interview_id: str
) -> dict[str, Any]:
    joined, left = vc_time(raw["join_time"]), vc_time(raw["leave_time"])
    user = raw.get("user_id")
    name = str(raw["participant_name"])
    who = staff_id(c.config.id_type, user) if user else "guest:" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return {
        "remote_id": f"{number}/{int(start.timestamp())}/{who}/{int(joined.timestamp())}",
        "interview_id": interview_id,
        "occurred_at": joined,
        "left_at": left,
        "role": Role.interviewer if user else Role.candidate,
        "participant_id": who,
        "leave_reason": raw.get("leave_reason") or None,
    }


# -- task state --------------------------------------------------------------------------------------------


def task_state(
    c: FeishuConnector, payload: Any, guid: str, completed_ms: int, observed: datetime, raw_state: str | None = None
) -> DeliveryEvent | Malformed:
    """The state record of a Lifeline task (`done` -> read at completion, else open or deleted)."""
    state = raw_state or ("done" if completed_ms else "todo")
    kind = {"done": DeliveryType.read, "deleted": DeliveryType.failed}.get(state, DeliveryType.delivered)
    return c.parse(
        DeliveryEvent,
        payload,
        remote_id=f"task/{guid}/state",
        notification_id=canonical_id(c.instance.name, f"task/{guid}"),
        occurred_at=at(completed_ms) if completed_ms else observed,
        type=kind,
        channel=Channel.feishu,
        status_raw=state,
    )


def read_tasks(c: FeishuConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """Completion of tasks in the configured tasklist created in the last `history_days`; a task
    reopened since the last run is reported open again. Cursor `done`: guid -> completed_at (ms)."""
    if not c.config.tasklist_guid:
        raise ValueError(f"{c.instance.name}: set tasklist_guid to read the tasks stream")
    started = c.now_ms()
    before: dict[str, int] = dict(cursor.get("done") or {})
    done: dict[str, int] = {}
    path = f"/open-apis/task/v2/tasklists/{c.config.tasklist_guid}/tasks"
    params = {"page_size": 100, "created_from": str(started - c.config.history_days * DAY_MS)}
    try:
        pages = list(c.client.pages(path, "task.tasklist.tasks", {**params, "user_id_type": c.config.id_type}))
    except NotFound:
        pages = []  # 1470404: the tasklist holds no task of this app yet
    for page in pages:
        for raw in page:
            guid, completed = _task_fields(raw)
            if guid is None or completed is None:
                if guid in before:
                    done[guid] = before[guid]  # judge it again when it reads cleanly
                yield Malformed("task: guid or completed_at missing or not a ms string", raw, guid)
            elif completed:
                done[guid] = completed
                yield task_state(c, raw, guid, completed, at(started))
            elif guid in before:
                yield task_state(c, raw, guid, 0, at(started))
    yield Checkpoint({"done": done}, at(started))


def _task_fields(raw: Any) -> tuple[str | None, int | None]:
    if not isinstance(raw, dict):
        return None, None
    guid, completed = raw.get("guid"), raw.get("completed_at")
    guid = guid if isinstance(guid, str) and re.fullmatch(r"[0-9a-f-]{8,64}", guid) else None
    return guid, int(completed) if isinstance(completed, str) and completed.isdigit() else None


# -- approval state ----------------------------------------------------------------------------------------


def approval_record(
    c: FeishuConnector, payload: Any, code: str, status: str, changed: datetime
) -> RescheduleRequest | Malformed:
    """An approval instance Lifeline started, as the reschedule request it stands for."""
    return c.parse(
        RescheduleRequest,
        payload,
        remote_id=f"approval/{code}",
        occurred_at=changed,
        requested_by=Role.hr,
        status=APPROVAL_STATUS.get(status, f"unknown status {status!r}"),
    )


def read_approvals(c: FeishuConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """New instances of the configured definitions (10-hour listing windows), then each open one
    until it is final. Only Lifeline's instances (uuid `ll-…`) are kept. Cursor: `listed_until`
    (ms) and `open`: instance code -> approval code."""
    if not c.config.approval_codes:
        raise ValueError(f"{c.instance.name}: set approval_codes to read the approvals stream")
    started = c.now_ms()
    until = int(cursor.get("listed_until") or started - c.config.history_days * DAY_MS)
    pending: dict[str, str] = dict(cursor.get("open") or {})
    listed_until = max(until, started - LISTING_LAG_MS)
    for approval_code in c.config.approval_codes:
        low = until - LISTING_LAG_MS
        while low < started:
            high = min(low + 10 * 3600 * 1000, started)
            params = {"approval_code": approval_code, "start_time": str(low), "end_time": str(high), "page_size": 100}
            for page in c.client.pages(APPROVALS, "approval.instance.list", params, "instance_code_list"):
                for code in page:
                    if isinstance(code, str) and INSTANCE_CODE.match(code):
                        pending[code] = approval_code
                    else:  # list again from here next run
                        listed_until = min(listed_until, low + LISTING_LAG_MS)
                        yield Malformed("instance code garbled", code)
            low = high
    for code in sorted(pending):
        try:
            data = c.client.call("GET", f"{APPROVALS}/{code}", "approval.instance.get")
        except NotFound:
            pending.pop(code)
            continue
        if not str(data.get("uuid") or "").startswith("ll-"):
            pending.pop(code)  # not started by Lifeline
            continue
        status = str(data.get("status"))
        try:
            end = int(data.get("end_time") or 0)
            changed = at(end) if status in APPROVAL_FINAL and end else millis(data.get("start_time"))
        except (TypeError, ValueError) as exc:
            yield Malformed(describe_error(exc), data, f"approval/{code}")
            continue
        yield approval_record(c, data, code, status, changed)
        if status in APPROVAL_FINAL:
            pending.pop(code)
    yield Checkpoint({"listed_until": listed_until, "open": pending}, at(listed_until))
