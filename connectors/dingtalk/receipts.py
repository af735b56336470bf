"""The `receipts` stream: delivery and read state of what Lifeline sent (work notices, robot 1:1, DING).

DingTalk cannot list what an app sent, so the stream polls what it is handed: the `Notification`
records `send_message` returns (one per recipient, remote id `<kind>:<send id>:<userId>`, kind
`work`/`robot`/`ding`), which dispatch hands to this stream's cursor key `sent` (the result's
`handoff`). Each send is polled until every recipient is settled (read or failed) or its
result window (`receipts_window_hours`, at most DingTalk's 24 h) is over; settled sends are never
polled again. Sends are at most 100 recipients (work notices), so results exist for every one.

Cursor: `{"pending": {send: {at, purpose, iv, key, audience, users: {userId: sent|delivered|read|failed}}},
"settled": {send: sent at ms}}`. Watermark: the instant the pass started, once every pending send
was polled (what happened before it is in the store). Work-notice reads carry no time: a read is
dated when first observed (an upper bound); robot reads carry `readTimestamp`. The notification
re-stored as `read` keeps its send time as `occurred_at` and says when the read was seen in `read_at`
(the read receipt's time): a message read after the interview is no read before it. The notifications
yielded again as their state changes keep the send's audience (candidate or staff; an entry from
before `audience` was kept gets what `message_audience` infers from its purpose).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from lifeline_hub.connectors.dingtalk.records import Bad, epoch_ms, ident, records, text
from lifeline_hub.core.actions import message_audience
from lifeline_hub.core.connector import Checkpoint, Malformed, StreamItem, describe_error
from lifeline_hub.core.http import InvalidRequest, NotFound
from lifeline_hub.core.models import (
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    canonical_id,
    from_epoch_millis,
    to_epoch_millis,
    utcnow,
)

if TYPE_CHECKING:
    from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector

Kind = Literal["work", "robot", "ding"]
State = Literal["sent", "delivered", "read", "failed"]
KINDS: tuple[Kind, ...] = ("work", "robot", "ding")
SETTLED: frozenset[str] = frozenset({"read", "failed"})
CHECKPOINT_EVERY = 500
GETSENDRESULT = "/topapi/message/corpconversation/getsendresult"
ROBOT_READ = "/v1.0/robot/oToMessages/readStatus"
DING_READ = "/v1.0/robot/ding/readStatuses/query"
# Work-notice result lists, weakest first: a later list wins if a user shows up twice.
WORK_LISTS: tuple[tuple[str, State], ...] = (
    ("invalid_user_id_list", "failed"), ("failed_user_id_list", "failed"), ("forbidden_user_id_list", "failed"),
    ("unread_user_id_list", "delivered"), ("read_user_id_list", "read"),
)
_RANK = {"sent": 0, "delivered": 1, "read": 2, "failed": 2}


@dataclass(frozen=True)
class Seen:
    """One recipient's state in one poll."""

    state: State
    raw: str
    code: str | None = None
    read_at: datetime | None = None


@dataclass
class Poll:
    seen: dict[str, Seen] = field(default_factory=dict)
    bad: list[Malformed] = field(default_factory=list)
    gone: bool = False  # the vendor no longer has a result (window over, recalled, unknown)


class Ledger:
    """The sends being polled and the recently settled ones (the cursor, as objects)."""

    def __init__(self, cursor: Mapping[str, Any]) -> None:
        self.pending: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (cursor.get("pending") or {}).items()}
        self.settled: dict[str, int] = dict(cursor.get("settled") or {})

    def cursor(self) -> dict[str, Any]:
        return copy.deepcopy({"pending": self.pending, "settled": self.settled})

    def settle(self, key: str) -> None:
        entry = self.pending.pop(key, None)
        if entry is not None:
            self.settled[key] = int(entry["at"])

    def settle_if_done(self, key: str) -> None:
        if all(state in SETTLED for state in self.pending[key]["users"].values()):
            self.settle(key)

    def expire(self, now: datetime, window: timedelta) -> None:
        """Stop tracking sends whose results are gone; forget settled ones that can no longer reappear."""
        horizon = to_epoch_millis(now - window)
        for key in [k for k, e in self.pending.items() if int(e["at"]) < horizon]:
            self.settle(key)
        self.settled = {k: at for k, at in self.settled.items() if at >= horizon - 3_600_000}


def read_receipts(conn: DingTalkConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    started = utcnow()
    window = timedelta(hours=conn.options.receipts_window_hours)
    ledger = Ledger(cursor)
    yield from _track(conn, ledger, cursor.get("sent") or [], started, window)
    ledger.expire(started, window)
    keys = list(ledger.pending)
    with ThreadPoolExecutor(conn.options.poll_workers, thread_name_prefix="dingtalk-receipts") as pool:
        for offset in range(0, len(keys), CHECKPOINT_EVERY):
            chunk = keys[offset : offset + CHECKPOINT_EVERY]
            for key, outcome in zip(chunk, pool.map(lambda k: _poll(conn, k), chunk), strict=True):
                yield from _apply(conn, ledger, key, outcome, utcnow())
            if offset + CHECKPOINT_EVERY < len(keys):
                yield Checkpoint(ledger.cursor())
    yield Checkpoint(ledger.cursor(), watermark=started)


def _track(conn: DingTalkConnector, ledger: Ledger, sent: Sequence[Any], now: datetime,
           window: timedelta) -> Iterator[StreamItem]:
    """Start polling newly handed-in notifications; yield each once (and a failure known at send time)."""
    for raw in sent:
        try:
            note = Notification.model_validate(raw)
            if isinstance(raw, Mapping) and raw.get("audience") is None:  # handed in before `audience` was
                note = note.model_copy(update={"audience": message_audience(note.purpose, None)})
            kind, send_id, user = note.remote_id.split(":", 2)
            if note.source != conn.instance.name or kind not in KINDS or not send_id or not user:
                raise Bad("not a DingTalk send of this instance")
        except (ValidationError, ValueError) as exc:
            yield Malformed(f"sent: {describe_error(exc)}", raw, ident(raw, "remote_id"))
            continue
        key = f"{kind}:{send_id}"
        if key in ledger.settled or now - note.occurred_at > window:
            continue
        entry = ledger.pending.setdefault(key, {
            "at": to_epoch_millis(note.occurred_at), "purpose": note.purpose.value, "iv": note.interview_id,
            "key": note.idempotency_key, "audience": note.audience.value, "users": {},
        })
        if user in entry["users"]:
            continue
        state: State = "failed" if note.status is DeliveryStatus.failed else "sent"
        entry["users"][user] = state
        yield note
        if state == "failed":
            yield _event(conn, key, entry, user, DeliveryType.failed, note.occurred_at, note.status_raw,
                         note.status_raw)
        ledger.settle_if_done(key)


def _poll(conn: DingTalkConnector, key: str) -> Poll | Malformed:
    """One send's current result; a request the vendor refuses for this send alone is quarantined."""
    kind, send_id = key.split(":", 1)
    try:
        if kind == "work":
            return _work_result(conn, key, send_id)
        return _push_result(conn, key, send_id, kind == "ding")
    except (InvalidRequest, NotFound) as exc:
        return Malformed(f"polling {kind} send: {exc}", {"send": key}, key)


def _work_result(conn: DingTalkConnector, key: str, task_id: str) -> Poll:
    body = conn.http.oapi.call("POST", GETSENDRESULT, json={"agent_id": conn.options.agent_id,
                                                            "task_id": int(task_id)}, idempotent=True)
    poll = Poll()
    result = body.get("send_result")
    if not isinstance(result, Mapping):
        poll.bad.append(Malformed("send_result: expected an object", body, key))
        return poll
    if not result:
        poll.gone = True  # outside the 24 h window, or not this app's task
        return poll
    codes: dict[str, str] = {}
    for item in _entries(poll, result, "forbidden_list", key):
        try:
            codes[text(item, "userid")] = str(text(item, "code"))
        except Bad as exc:
            poll.bad.append(Malformed(f"send_result.forbidden_list: {exc}", item, key))
    for name, state in WORK_LISTS:
        for user in _entries(poll, result, name, key):
            if isinstance(user, str) and user:
                code = codes.get(user, "forbidden") if name.startswith("forbidden") else (
                    name.split("_")[0] if state == "failed" else None)
                poll.seen[user] = Seen(state, name, code)
            else:
                poll.bad.append(Malformed(f"send_result.{name}: entry is not a userId", user, key))
    return poll


def _entries(poll: Poll, result: Mapping[str, Any], name: str, key: str) -> list[Any]:
    try:
        return records(result, name)
    except Bad as exc:
        poll.bad.append(Malformed(f"send_result.{exc}", result.get(name), key))
        return []


def _push_result(conn: DingTalkConnector, key: str, send_id: str, ding: bool) -> Poll:
    robot = conn.robot_code
    poll = Poll()
    if ding:
        name = "robotDingReadInfoList"
        body = conn.http.api.call("POST", DING_READ, json={"robotCode": robot, "openDingId": send_id},
                                  idempotent=True)
        result = body.get("result") if isinstance(body, Mapping) else None
        infos = result.get(name) if isinstance(result, Mapping) else None
    else:
        name = "messageReadInfoList"
        body = conn.http.api.call("GET", ROBOT_READ, params={"robotCode": robot, "processQueryKey": send_id})
        infos = body.get(name) if isinstance(body, Mapping) else None
        poll.gone = isinstance(body, Mapping) and body.get("sendStatus") == "RECALLED"
    if not isinstance(infos, list):
        poll.bad.append(Malformed(f"{name}: expected a list", body, key))
        return poll
    poll.gone = poll.gone or not infos  # recalled, or past the 24 h window
    for info in infos:
        try:
            user, status = text(info, "userId"), text(info, "readStatus")
            if status not in ("READ", "UNREAD"):
                raise Bad("readStatus: expected READ or UNREAD")
            read_at = epoch_ms(info, "readTimestamp") if status == "READ" and info.get("readTimestamp") else None
        except Bad as exc:
            poll.bad.append(Malformed(f"{name}: {exc}", info, key))
            continue
        poll.seen[user] = Seen("read" if status == "READ" else "delivered", status, read_at=read_at)
    return poll


def _apply(conn: DingTalkConnector, ledger: Ledger, key: str, outcome: Poll | Malformed,
           now: datetime) -> Iterator[StreamItem]:
    """Records for what changed since the last poll of `key`; settle it when nothing more can change."""
    if isinstance(outcome, Malformed):
        yield outcome
        ledger.settle(key)
        return
    yield from outcome.bad
    entry = ledger.pending[key]
    sent_at = from_epoch_millis(entry["at"])
    for user, old in list(entry["users"].items()):
        seen = outcome.seen.get(user)
        if seen is None or old in SETTLED or _RANK[seen.state] <= _RANK[old]:
            continue
        if seen.state == "failed":
            yield _event(conn, key, entry, user, DeliveryType.failed, sent_at, seen.raw, seen.code)
        else:
            if old == "sent":
                yield _event(conn, key, entry, user, DeliveryType.delivered, sent_at, seen.raw, None)
            if seen.state == "read":
                yield _event(conn, key, entry, user, DeliveryType.read, seen.read_at or now, seen.raw, None)
        entry["users"][user] = seen.state
        yield _notification(conn, key, entry, user, seen, now)
    if outcome.gone:
        ledger.settle(key)
    else:
        ledger.settle_if_done(key)


def _notification(conn: DingTalkConnector, key: str, entry: Mapping[str, Any], user: str,
                  seen: Seen, now: datetime) -> Notification | Malformed:
    read_at = (seen.read_at or now) if seen.state == "read" else None
    return conn.parse(Notification, entry, remote_id=f"{key}:{user}", interview_id=entry["iv"],
                      occurred_at=from_epoch_millis(entry["at"]), read_at=read_at, purpose=entry["purpose"],
                      channel=Channel.dingtalk, recipient=user, status=seen.state, status_raw=seen.raw,
                      idempotency_key=entry["key"], audience=message_audience(entry["purpose"], entry.get("audience")))


def _event(conn: DingTalkConnector, key: str, entry: Mapping[str, Any], user: str, kind: DeliveryType,
           at: datetime, raw: str | None, code: str | None) -> DeliveryEvent | Malformed:
    note = f"{key}:{user}"
    return conn.parse(DeliveryEvent, entry, remote_id=f"{note}:{kind.value}", interview_id=entry["iv"],
                      notification_id=canonical_id(conn.instance.name, note), type=kind, channel=Channel.dingtalk,
                      occurred_at=at, code=code, status_raw=raw)
