"""Candidates on WeChat through WeCom customer contact (客户联系, wecom-wechat.md §6): staged sends, their results,
and the contact events (a candidate adds or deletes the recruiter).

A send (`send_message` with audience candidate; recipients are external_userids) is `add_msg_template` with the
instance's `contact_sender`: WeCom sends nothing yet, the recruiter gets a task in the WeCom client and must tap
send. So every recipient's `Notification` starts `queued` ("staged"), and customers in `fail_list` (not the
sender's contacts) get a failed one, a failed `DeliveryEvent` and a `ContactChange` (unreachable). The msgid is
handed to the `contact_results` stream (cursor key `staged`), which polls `get_groupmsg_task` and, once the
recruiter confirmed, `get_groupmsg_send_result`: status 1 is delivery (dated by `send_time`, never a read), 2 not a
contact (also unreachable), 3 the customer's monthly quota. A message still unconfirmed `contact_confirm_hours`
after staging is withdrawn (`cancel_groupmsg_send`: the recruiter can no longer tap send, so the candidate never
gets it after the reminder went out on another channel) and fails ("not confirmed by the recruiter"), so the
reminder falls back; one that the recruiter sent meanwhile is the delivery it is. Halfway through that time the
recruiter is nudged once (`remind_groupmsg_send`).

Exactly once: `add_msg_template` takes no idempotency key, and a repeat would give the recruiter a second task
(the candidate a second message, once both are confirmed). Before creating a message an earlier worker may have
created (`action.maybe_sent`), and after an answer that was lost (timeout, -1), the corp's API-made messages since
the row was first handed over are searched (`get_groupmsg_list_v2`) for one with the same text and link URLs
(they hold the candidate's own link tokens) whose results through the sender name only these recipients; it is
adopted instead of making another. No marker is added: the text is what the candidate reads.

Cursor of `contact_results`: `{"pending": {msgid: {sender, at, purpose, iv, key, audience, users: {external_userid:
queued|unconfirmed|delivered|failed}}}, "settled": {msgid: at}}` (`at`: epoch seconds staged). A message handed
in is tracked once (its queued notifications yielded again) and polled until settled. Watermark: the pass's start
once every pending message was polled (a failed poll keeps it pending and is raised after the checkpoint).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lifeline_hub.core.actions import SendMessage
from lifeline_hub.core.connector import ActionResult, Checkpoint, Malformed, StreamItem, describe_error
from lifeline_hub.core.http import InvalidRequest, TransientError, VendorError
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    ContactChange,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    NotificationPurpose,
    Record,
    canonical_id,
    from_epoch_seconds,
    utcnow,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.wecom.plugin import WeComConnector

log = logging.getLogger("lifeline.wecom")
STREAM = "contact_results"
ADD = "externalcontact/add_msg_template"
LIST = "externalcontact/get_groupmsg_list_v2"
TASK = "externalcontact/get_groupmsg_task"
RESULT = "externalcontact/get_groupmsg_send_result"
WELCOME = "externalcontact/send_welcome_msg"
CANCEL = "externalcontact/cancel_groupmsg_send"
REMIND = "externalcontact/remind_groupmsg_send"
STAGED = "staged: awaits the recruiter's confirmation in the WeCom client"
NOT_CONFIRMED = "not confirmed by the recruiter; withdrawn"
NOT_A_CONTACT = "not a contact of the sender"
RESULTS = {1: "sent", 2: "not a contact", 3: "monthly quota"}
"""`get_groupmsg_send_result` statuses once the member confirmed (0: not sent)."""
SETTLED = frozenset({"delivered", "failed"})
MAX_TEXT_BYTES = 4000
MAX_ATTACHMENTS = 9
LOOKUP_SKEW = timedelta(minutes=5)
"""Allowance between Lifeline's clock and WeCom's when a message is looked up by its creation time."""
MAX_LOOKBACK = timedelta(days=30)
"""`get_groupmsg_list_v2` spans at most a month."""
CHECKPOINT_EVERY = 500
WELCOME_USED = 41051
"""The welcome code was used already (a retried callback), or another app or the admin's own welcome used it."""
STILL_DISPATCHING = 41063


def wecom() -> Channel:
    """The `wecom` channel (registered by the connector class, which imports this module first)."""
    return Channel("wecom")


# ---------------------------------------------------------------- the staged send


def _clip(text: str, most: int) -> str:
    """`text` cut to at most `most` UTF-8 bytes (on a character boundary)."""
    return text.encode()[:most].decode(errors="ignore")


def template(message: SendMessage, recipients: Sequence[str], sender: str) -> dict[str, Any]:
    """The `add_msg_template` body: one text (title and text, ≤ 4000 bytes) and a link card per link (≤ 9)."""
    attachments = [{"msgtype": "link", "link": {"title": _clip(link.label, 128), "url": link.url}}
                   for link in message.links[:MAX_ATTACHMENTS]]
    content = _clip(f"{message.title}\n\n{message.text}" if message.title else message.text, MAX_TEXT_BYTES)
    return {"chat_type": "single", "external_userid": list(recipients), "sender": sender,
            "allow_select": False, "text": {"content": content}, "attachments": attachments}


def send_message(conn: WeComConnector, action: Action) -> ActionResult:
    """Stage one customer-contact message to the candidate's external_userids (see the module docstring)."""
    try:
        message = SendMessage.model_validate(action.payload)
    except ValidationError as exc:
        raise InvalidRequest(f"send_message payload: {describe_error(exc)}", vendor="wecom") from None
    if message.purpose not in NotificationPurpose.__members__:
        raise InvalidRequest(f"send_message payload: unknown purpose {message.purpose!r}", vendor="wecom")
    sender = conn.options.contact_sender
    if not sender:
        raise InvalidRequest(f"{conn.instance.name}: contact_sender is not set: no recruiter to send to candidates "
                             "as", vendor="wecom")
    recipients = list(dict.fromkeys(message.recipients))
    body = template(message, recipients, sender)
    now = utcnow()
    found = _find_staged(conn, body, action.handed_at, now) if action.maybe_sent else None
    if found is None:
        try:
            answer = conn.contact_client.call(ADD, json=body, idempotent=False)
        except TransientError as exc:
            if not exc.sent:
                raise
            found = _find_staged(conn, body, action.handed_at, now)
            if found is None:
                raise
            log.info("%s: customer-contact message %s was staged despite %s", conn.instance.name, found[0],
                     exc.code or "a lost answer")
        else:
            msgid = str(answer.get("msgid") or "")
            failed = [str(u) for u in answer.get("fail_list") or [] if str(u) in recipients]
            found = (msgid, failed)
    else:
        log.info("%s: customer-contact message %s was staged before; adopting it", conn.instance.name, found[0])
    msgid, failed = found
    return _staged(conn, action, message, sender, recipients, msgid, failed, now)


def _staged(conn: WeComConnector, action: Action, message: SendMessage, sender: str, recipients: list[str],
            msgid: str, failed: list[str], now: datetime) -> ActionResult:
    source, iv = conn.instance.name, message.interview_id or action.interview_id
    audience = message.recipient_audience
    records: list[Record] = []
    for user in recipients:
        note = f"{msgid or action.idempotency_key}:{user}"
        refused = user in failed or not msgid
        records.append(Notification(
            source=source, remote_id=note, interview_id=iv, occurred_at=now, purpose=message.purpose,
            channel=wecom(), recipient=user, audience=audience,
            status=DeliveryStatus.failed if refused else DeliveryStatus.queued,
            status_raw=NOT_A_CONTACT if refused else STAGED, idempotency_key=action.idempotency_key))
        if refused:
            records.append(DeliveryEvent(
                source=source, remote_id=f"{note}:failed", interview_id=iv, occurred_at=now,
                notification_id=canonical_id(source, note), type=DeliveryType.failed, channel=wecom(),
                code="fail_list", status_raw=NOT_A_CONTACT))
            records.append(_unreachable(conn, user, now, "fail_list: not a contact of the sender", note))
    pending = [u for u in recipients if u not in failed] if msgid else []
    staged = [{"msgid": msgid, "sender": sender, "at": int(now.timestamp()), "purpose": message.purpose, "iv": iv,
               "key": action.idempotency_key, "audience": audience.value, "users": pending}] if pending else []
    return ActionResult(remote_id=msgid or action.idempotency_key, detail={"msgid": msgid, "failed": len(failed)},
                        records=tuple(records), handoff={STREAM: {"staged": staged}} if staged else {})


def _find_staged(conn: WeComConnector, body: Mapping[str, Any], since: datetime | None,
                 now: datetime) -> tuple[str, list[str]] | None:
    """(msgid, fail_list) of a message an earlier attempt staged with this body, or None."""
    start = max(min(since or now - timedelta(days=1), now) - LOOKUP_SKEW, now - MAX_LOOKBACK)
    query: dict[str, Any] = {"chat_type": "single", "filter_type": 0, "limit": 100,
                             "start_time": int(start.timestamp()), "end_time": int((now + LOOKUP_SKEW).timestamp())}
    wanted, sender = set(body["external_userid"]), body["sender"]
    cursor = ""
    while True:
        page = conn.contact_client.call(LIST, json={**query, "cursor": cursor}, idempotent=True)
        for item in page.get("group_msg_list") or []:
            if not isinstance(item, Mapping) or not item.get("msgid"):
                continue
            text = item.get("text") if isinstance(item.get("text"), Mapping) else {}
            if (text or {}).get("content", "") != body["text"]["content"] or _urls(item) != _urls(body):
                continue
            reached = {str(row.get("external_userid")) for row in _send_list(conn, str(item["msgid"]), sender)}
            if reached and reached <= wanted:
                return str(item["msgid"]), sorted(wanted - reached)
        cursor = str(page.get("next_cursor") or "")
        if not cursor:
            return None


def _urls(message: Mapping[str, Any]) -> list[Any]:
    """The link attachments' URLs (WeCom may echo a link with fields of its own: picurl, desc)."""
    links = [a.get("link") for a in message.get("attachments") or [] if isinstance(a, Mapping)]
    return [link.get("url") for link in links if isinstance(link, Mapping)]


def _send_list(conn: WeComConnector, msgid: str, sender: str) -> list[Any]:
    """Every `send_list` row of `msgid` through `sender` (all pages)."""
    rows: list[Any] = []
    cursor = ""
    while True:
        page = conn.contact_client.call(RESULT, json={"msgid": msgid, "userid": sender, "limit": 1000,
                                                      "cursor": cursor}, idempotent=True)
        rows.extend(row for row in page.get("send_list") or [] if isinstance(row, Mapping))
        cursor = str(page.get("next_cursor") or "")
        if not cursor:
            return rows


def _unreachable(conn: WeComConnector, user: str, at: datetime, reason: str, ref: str) -> ContactChange:
    return ContactChange(source=conn.instance.name, remote_id=f"{ref}:unreachable", occurred_at=at,
                         channel=wecom(), address=user, reachable=False, reason=reason)


# ---------------------------------------------------------------- the results stream


@dataclass
class Poll:
    """One message's state at WeCom in one pass."""

    confirmed_at: datetime | None = None  # when the member tapped send (None: not yet)
    rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # external_userid -> (status, send_time)
    bad: list[Malformed] = field(default_factory=list)


class Ledger:
    """The staged messages being polled and the recently settled ones (the cursor, as objects)."""

    def __init__(self, cursor: Mapping[str, Any]) -> None:
        self.pending: dict[str, dict[str, Any]] = copy.deepcopy(dict(cursor.get("pending") or {}))
        self.settled: dict[str, int] = dict(cursor.get("settled") or {})
        self.new: list[str] = []  # tracked from this pass's handoff

    def cursor(self) -> dict[str, Any]:
        return copy.deepcopy({"pending": self.pending, "settled": self.settled})

    def settle(self, msgid: str) -> None:
        entry = self.pending.pop(msgid, None)
        if entry is not None:
            self.settled[msgid] = int(entry["at"])

    def track(self, staged: Sequence[Any]) -> Iterator[Malformed]:
        for raw in staged:
            try:
                msgid, users = str(raw["msgid"]), [str(u) for u in raw["users"]]
                entry = {"sender": str(raw["sender"]), "at": int(raw["at"]), "purpose": str(raw["purpose"]),
                         "iv": raw.get("iv"), "key": raw.get("key"), "audience": str(raw.get("audience") or
                                                                                      Audience.candidate.value)}
                if not msgid or not users or not entry["sender"]:
                    raise ValueError("msgid, sender and users are required")
            except (KeyError, TypeError, ValueError) as exc:
                yield Malformed(f"staged: {describe_error(exc)}", raw, raw.get("msgid") if isinstance(raw, Mapping)
                                else None)
                continue
            if msgid in self.settled or msgid in self.pending:
                continue
            self.pending[msgid] = {**entry, "users": dict.fromkeys(users, "queued")}
            self.new.append(msgid)

    def forget(self, now: datetime, window: timedelta) -> None:
        """Settled messages older than the poll window can no longer be handed in again."""
        horizon = int((now - window).timestamp()) - 3600
        self.settled = {k: at for k, at in self.settled.items() if at >= horizon}


def read_results(conn: WeComConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """The `contact_results` stream (see the module docstring)."""
    started = utcnow()
    window = timedelta(hours=conn.options.contact_poll_hours)
    ledger = Ledger(cursor)
    yield from ledger.track(cursor.get("staged") or [])
    for msgid in ledger.new:  # the staged notifications once more: the stream holds all it tracks
        entry = ledger.pending[msgid]
        for user in entry["users"]:
            yield _notification(conn, msgid, entry, user, DeliveryStatus.queued, from_epoch_seconds(entry["at"]),
                                STAGED)
    ledger.forget(started, window)
    failure: VendorError | None = None
    for n, msgid in enumerate(list(ledger.pending), 1):
        try:
            entry = ledger.pending[msgid]
            outcome: Poll | Malformed = _poll(conn, msgid, entry["sender"])
            if isinstance(outcome, Poll) and outcome.confirmed_at is None and _nudge(conn, msgid, entry):
                outcome = _poll(conn, msgid, entry["sender"])  # the recruiter may have tapped send just before
        except InvalidRequest as exc:  # WeCom refuses this message alone (unknown msgid...): quarantine it
            outcome = Malformed(f"polling customer-contact message: {exc}", {"msgid": msgid}, msgid)
        except VendorError as exc:
            failure = failure or exc  # the others are still polled; this one stays pending
            continue
        yield from _apply(conn, ledger, msgid, outcome, utcnow())
        if n % CHECKPOINT_EVERY == 0:
            yield Checkpoint(ledger.cursor())
    yield Checkpoint(ledger.cursor(), watermark=None if failure else started)
    if failure is not None:
        raise failure


def _nudge(conn: WeComConnector, msgid: str, entry: dict[str, Any]) -> bool:
    """Remind the recruiter halfway through `contact_confirm_hours`, withdraw the message once it is over; True
    when it was withdrawn now (poll again: a tap just before it counts)."""
    age = utcnow() - from_epoch_seconds(entry["at"])
    confirm = timedelta(hours=conn.options.contact_confirm_hours)
    if age >= confirm and not entry.get("withdrawn"):
        conn.contact_client.call(CANCEL, json={"msgid": msgid}, idempotent=True)
        entry["withdrawn"] = True
        return True
    if age >= confirm / 2 and not entry.get("reminded"):
        entry["reminded"] = True  # once, whatever WeCom answers: a nudge is a courtesy, never worth a retry loop
        try:
            conn.contact_client.call(REMIND, json={"msgid": msgid}, idempotent=True)
        except VendorError as exc:
            log.warning("wecom: reminding the recruiter of %s failed: %s", msgid, exc)
    return False


def _poll(conn: WeComConnector, msgid: str, sender: str) -> Poll:
    poll = Poll()
    tasks = conn.contact_client.call(TASK, json={"msgid": msgid, "limit": 1000}, idempotent=True)
    for task in tasks.get("task_list") or []:
        if isinstance(task, Mapping) and task.get("userid") == sender and task.get("status") not in (0, None):
            try:
                poll.confirmed_at = from_epoch_seconds(task["send_time"]) if task.get("send_time") else utcnow()
            except (TypeError, ValueError):  # confirmed, at an instant WeCom garbled
                poll.confirmed_at = utcnow()
    if poll.confirmed_at is None:
        return poll  # the recruiter has not tapped send: every customer is still at 0
    try:
        rows = _send_list(conn, msgid, sender)
    except InvalidRequest as exc:
        if exc.code != STILL_DISPATCHING:
            raise
        return poll  # confirmed, results not out yet: asked again next pass
    for row in rows:
        user, status, sent = row.get("external_userid"), row.get("status"), row.get("send_time") or 0
        if not isinstance(user, str) or not user or status not in (0, 1, 2, 3) or not isinstance(sent, int):
            poll.bad.append(Malformed("send_list: entry without external_userid, status 0-3 and send_time", row,
                                      msgid))
            continue
        poll.rows[user] = (int(status), sent)
    return poll


def _apply(conn: WeComConnector, ledger: Ledger, msgid: str, outcome: Poll | Malformed,
           now: datetime) -> Iterator[StreamItem]:
    """Records for what changed since the last poll of `msgid`; settle it when nothing more can change."""
    if isinstance(outcome, Malformed):
        yield outcome
        ledger.settle(msgid)
        return
    yield from outcome.bad
    entry = ledger.pending[msgid]
    staged_at = from_epoch_seconds(entry["at"])
    unconfirmed = bool(entry.get("withdrawn"))
    for user, old in list(entry["users"].items()):
        if old in SETTLED:
            continue
        status, sent = outcome.rows.get(user, (0, 0))
        if status == 1:
            at = from_epoch_seconds(sent) if sent else (outcome.confirmed_at or now)
            yield from _change(conn, msgid, entry, user, "delivered", at, "1 sent", "1")
        elif status in (2, 3):
            at = outcome.confirmed_at or now
            yield from _change(conn, msgid, entry, user, "failed", at, f"{status} {RESULTS[status]}", str(status))
            if status == 2:
                yield _unreachable(conn, user, at, "send result 2: not a contact", f"{msgid}:{user}")
        elif old == "queued" and unconfirmed and outcome.confirmed_at is None:
            at = staged_at + timedelta(hours=conn.options.contact_confirm_hours)
            yield from _change(conn, msgid, entry, user, "unconfirmed", at, NOT_CONFIRMED, "unconfirmed")
    if all(state in SETTLED | {"unconfirmed"} for state in entry["users"].values()) or \
            now - staged_at >= timedelta(hours=conn.options.contact_poll_hours):
        ledger.settle(msgid)


def _change(conn: WeComConnector, msgid: str, entry: dict[str, Any], user: str, state: str, at: datetime,
            raw: str, code: str) -> Iterator[StreamItem]:
    """The recipient's new state: a `DeliveryEvent` and the `Notification` as it now stands."""
    entry["users"][user] = state
    note = f"{msgid}:{user}"
    kind = DeliveryType.delivered if state == "delivered" else DeliveryType.failed
    source = conn.instance.name
    yield conn.parse(DeliveryEvent, entry, remote_id=f"{note}:{kind.value}", interview_id=entry["iv"],
                     occurred_at=at, notification_id=canonical_id(source, note), type=kind, channel=wecom(),
                     code=None if state == "delivered" else code, status_raw=raw)
    delivered = state == "delivered"
    yield _notification(conn, msgid, entry, user, DeliveryStatus.delivered if delivered else DeliveryStatus.failed,
                        at if delivered else from_epoch_seconds(entry["at"]), raw)


def _notification(conn: WeComConnector, msgid: str, entry: Mapping[str, Any], user: str, status: DeliveryStatus,
                  at: datetime, raw: str) -> Notification | Malformed:
    """The recipient's `Notification` as it now stands (dated by the delivery once delivered, else by staging)."""
    return conn.parse(Notification, entry, remote_id=f"{msgid}:{user}", interview_id=entry["iv"], occurred_at=at,
                      purpose=entry["purpose"], channel=wecom(), recipient=user, audience=entry["audience"],
                      status=status, status_raw=raw, idempotency_key=entry["key"])


# ---------------------------------------------------------------- contact events


def _text(event: Mapping[str, Any], tag: str) -> str:
    value = event.get(tag)
    return value if isinstance(value, str) else ""


def contact_event(conn: WeComConnector, event: Mapping[str, Any]) -> tuple[Record, ...]:
    """Records for a decrypted `change_external_contact` event (its top-level tags): `del_follow_user` and
    `del_external_contact` make the candidate's `wecom` contact unreachable; `add_external_contact` makes it
    reachable (again; bound to the candidate its `State` names, a canonical candidate id) and is greeted with
    the welcome message when it carries a `WelcomeCode`. Events about another member than `contact_sender`
    change nothing: Lifeline sends only as the contact sender."""
    kind, member, user = _text(event, "ChangeType"), _text(event, "UserID"), _text(event, "ExternalUserID")
    if not user or not member:
        log.info("%s: %s event without UserID or ExternalUserID; nothing to record", conn.instance.name, kind)
        return ()
    sender = conn.options.contact_sender
    if sender and member != sender:
        log.info("%s: %s for member %s, not the contact sender; nothing to record", conn.instance.name, kind, member)
        return ()
    try:
        at = from_epoch_seconds(_text(event, "CreateTime"))
    except ValueError:
        at = utcnow()
    ref = f"{kind}:{member}:{user}:{int(at.timestamp())}"
    if kind in ("del_follow_user", "del_external_contact"):
        reason = kind if kind == "del_follow_user" else f"{kind}: the recruiter deleted the candidate"
        return (ContactChange(source=conn.instance.name, remote_id=ref, occurred_at=at, channel=wecom(),
                              address=user, reachable=False, reason=reason),)
    if kind != "add_external_contact":
        return ()
    code = _text(event, "WelcomeCode")
    if code:
        _welcome(conn, code)
    state = _text(event, "State")
    candidate = state if "/" in state else None  # a contact-me code's state naming a canonical candidate id
    return (ContactChange(source=conn.instance.name, remote_id=ref, occurred_at=at, channel=wecom(),
                          address=user, reachable=True, reason=kind, candidate_id=candidate),)


def _welcome(conn: WeComConnector, code: str) -> None:
    """Greet the candidate who just added the recruiter (the code lives 20 s and works once)."""
    text = conn.options.contact_welcome_text
    if not text:
        return
    try:
        conn.contact_client.call(WELCOME, json={"welcome_code": code, "text": {"content": text}}, idempotent=False)
    except InvalidRequest as exc:
        if exc.code != WELCOME_USED:
            log.warning("%s: welcome message refused: %s", conn.instance.name, exc)
    except VendorError as exc:  # the add is recorded all the same; the code will have expired by any retry
        log.warning("%s: welcome message failed: %s", conn.instance.name, exc)
