"""Only what went to the candidate is reach: staff's messages (interviewers' reminders, HR tasks and
messages) and their receipts never make a candidate "reached", on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lifeline_hub.connectors.dingtalk.testing import emulated, handoff
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    NotificationPurpose,
    Record,
    utcnow,
)
from lifeline_hub.core.reconcile import evidence_trail
from lifeline_hub.core.remediation.case import load_interview
from lifeline_hub.core.reminders.compose import staff_payload
from lifeline_hub.core.reminders.reach import reminder_key
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence, outcomes
from tests.reconcile.scenario import MIN, T0, TENANT, World, config

NOW = T0 + timedelta(hours=2)


def note(remote_id: str, iv: str, at: datetime, audience: Audience | None, *, source: str = "acme.dt",
         purpose: NotificationPurpose = NotificationPurpose.reminder_t1h, channel: Channel = Channel.dingtalk,
         recipient: str = "interviewer-7", status: DeliveryStatus = DeliveryStatus.sent) -> Notification:
    return Notification(source=source, remote_id=remote_id, interview_id=iv, occurred_at=at, purpose=purpose,
                        channel=channel, recipient=recipient, status=status, audience=audience)


def receipt(of: Notification, at: datetime, kind: DeliveryType, *, iv: str | None = None,
            code: str | None = None) -> DeliveryEvent:
    """A receipt as DingTalk gives it (with the interview id) or, with `iv=None`, as Feishu does."""
    return DeliveryEvent(source=of.source, remote_id=f"{of.remote_id}:{kind.value}", interview_id=iv,
                         occurred_at=at, notification_id=of.id, type=kind, channel=of.channel, code=code)


def behind(store: Store, iv: str) -> set[str]:
    """Remote ids of the evidence the interview's current outcome rests on."""
    with store.engine.connect() as conn:
        ids = conn.execute(sa.select(outcomes.c.evidence_ids).where(
            outcomes.c.interview_id == iv, outcomes.c.superseded_at.is_(None))).scalar_one()
        return set(conn.execute(sa.select(evidence.c.remote_id).where(evidence.c.id.in_(ids))).scalars())


def audiences(store: Store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return {rid: audience for rid, audience in conn.execute(sa.select(evidence.c.remote_id, evidence.c.audience))}


def test_an_interviewer_reading_his_reminder_does_not_reach_the_candidate(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    staff = note("work:1:interviewer-7", iv, T0 - 60 * MIN, Audience.staff)
    todo = note("todo:9", iv, T0 - 3 * 60 * MIN, None, purpose=NotificationPurpose.hr_task, recipient="hr1",
                status=DeliveryStatus.read)  # HR's todo: staff by its purpose
    store.write(TENANT, [staff, receipt(staff, T0 - 59 * MIN, DeliveryType.delivered, iv=iv),
                         receipt(staff, T0 - 50 * MIN, DeliveryType.read, iv=iv),
                         todo, receipt(todo, T0 - 30 * MIN, DeliveryType.read, code="done")])
    w.watermark(NOW)
    summary = w.run(NOW)
    assert summary.attributed == 1  # HR's "done" belongs to the interview through its todo, and stays staff's
    assert w.current()["iv"] == ("missed_not_reached", "nothing_sent", "high")
    assert behind(store, iv) == set()
    assert set(audiences(store).values()) == {"staff"}

    trail = evidence_trail(store, iv)
    assert trail is not None
    shown = [(e.event, e.counted) for e in trail.entries if e.evidence_id is not None]
    assert shown == [("sent hr_task", False), ("sent reminder_t1h", False), ("delivered", False), ("read", False),
                     ("read", False)]
    assert all("to staff, not counted" in e.detail for e in trail.entries if e.evidence_id is not None)

    # the candidate's own message, read before the end (its receipt carries no interview id, as Feishu's)
    mine = note("om_1", iv, T0 - 60 * MIN, Audience.candidate, source="acme.fs", channel=Channel.feishu,
                recipient="ou_candidate")
    store.write(TENANT, [mine, receipt(mine, T0 - 40 * MIN, DeliveryType.read)])
    w.run(NOW + MIN)
    assert w.current()["iv"] == ("missed_read_no_show", "read", "medium")
    assert behind(store, iv) == {"om_1:read"}  # the candidate's read, not the interviewer's


def test_a_receipt_stored_before_its_notification_takes_its_audience_later(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    early, staffed = w.interview("early"), w.interview("staffed")
    mine = note("om_2", early, T0 - 60 * MIN, Audience.candidate, source="acme.fs", channel=Channel.feishu)
    theirs = note("om_3", staffed, T0 - 60 * MIN, Audience.staff, source="acme.fs", channel=Channel.feishu)
    store.write(TENANT, [receipt(mine, T0 - 30 * MIN, DeliveryType.read, iv=early),
                         receipt(theirs, T0 - 30 * MIN, DeliveryType.read, iv=staffed)])
    assert audiences(store) == {"om_2:read": None, "om_3:read": None}  # whose? not known yet: not counted
    w.watermark(NOW)
    w.run(NOW)
    assert {k: v[:2] for k, v in w.current().items()} == {
        "early": ("missed_not_reached", "nothing_sent"), "staffed": ("missed_not_reached", "nothing_sent")}

    store.write(TENANT, [mine, theirs])
    assert audiences(store) == {"om_2:read": "candidate", "om_3:read": "staff", "om_2": "candidate", "om_3": "staff"}
    summary = w.run(NOW + MIN)  # an incremental run: the notifications bring their interviews back
    assert summary.examined == 2
    assert {k: v[:2] for k, v in w.current().items()} == {
        "early": ("missed_read_no_show", "read"), "staffed": ("missed_not_reached", "nothing_sent")}


def _stored(store: Store, items: list[Any]) -> list[Record]:
    records = [i for i in items if isinstance(i, Record)]
    store.write(TENANT, records)
    return records


def test_the_interviewers_dingtalk_reminder_and_its_read_stay_staff_evidence(store: Store, tmp_path: Path) -> None:
    """The real path: the planner's payload, DingTalk's send and receipts stream, the store, the rules."""
    w = World(store, config(tmp_path))
    start = utcnow().replace(microsecond=0) + timedelta(minutes=30)
    iv = w.interview("live", start=start)
    with store.engine.connect() as conn:
        interview = load_interview(conn, iv)
    assert interview is not None
    interview = interview.model_copy(update={"interviewer_ids": ("u1",)})
    payload = staff_payload(NotificationPurpose.reminder_t1h, interview, "张三", "Asia/Shanghai", "zh-CN")
    assert payload["audience"] == "staff"
    action = Action(idempotency_key=reminder_key(interview, NotificationPurpose.reminder_t1h, None), tenant=TENANT,
                    connector="acme.dt", kind="send_message", interview_id=iv, due_at=utcnow(), payload=payload)
    with emulated(users=2) as dt:
        connector = dt.connector()
        sent = connector.perform(action)
        assert [n.audience for n in _stored(store, list(sent.records))] == [Audience.staff]  # type: ignore[attr-defined]
        dt.world.mark_read(int(sent.remote_id.split(":")[1]), "u1")
        # handed in as a send from before `audience` existed: the purpose still says "staff"
        legacy = handoff({}, "receipts", sent)
        legacy["sent"] = [{k: v for k, v in n.items() if k != "audience"} for n in legacy["sent"]]
        records = _stored(store, list(connector.read("receipts", legacy)))
    assert {type(r).__name__ for r in records} == {"Notification", "DeliveryEvent"}
    assert {r.audience for r in records if isinstance(r, Notification)} == {Audience.staff}
    assert {r.type for r in records if isinstance(r, DeliveryEvent)} == {DeliveryType.delivered, DeliveryType.read}
    assert set(audiences(store).values()) == {"staff"}
    later = start + timedelta(hours=3)
    w.watermark(later)
    w.run(later)
    assert w.current()["live"][:2] == ("missed_not_reached", "nothing_sent")
