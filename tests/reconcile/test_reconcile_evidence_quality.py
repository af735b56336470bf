"""Evidence as it really arrives: scanner clicks, untrusted opens, duplicates, out-of-order and late updates."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from lifeline_hub.core.models import (
    Channel,
    ConfirmationAction,
    DeliveryStatus,
    DeliveryType,
    LinkEventType,
    Notification,
    NotificationPurpose,
)
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence
from tests.reconcile.scenario import MIN, T0, World, config

NOW = T0 + 2 * timedelta(hours=1)
NO_OVERLAP = timedelta(0)


def _delivered(w: World, iv: str, channel: Channel = Channel.sms) -> str:
    sent = w.notify(iv, T0 - 60 * MIN, channel)
    w.receipt(sent, T0 - 59 * MIN, DeliveryType.delivered, channel, iv=iv)
    return sent


def test_scanner_clicks_never_count_as_a_human(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    scanned, person = w.interview("scanned"), w.interview("person")
    for iv in (scanned, person):
        _delivered(w, iv)
        for n in range(3):  # a mail scanner opens and "joins" every link it sees
            w.link(iv, T0 - 59 * MIN + n * timedelta(seconds=2), LinkEventType.open, machine=True)
            w.link(iv, T0 + n * MIN, LinkEventType.join_attempt, machine=True)
    w.link(person, T0 - 30 * MIN, LinkEventType.open)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current() == {
        "scanned": ("missed_not_reached", "delivered_read_unknown", "medium"),
        "person": ("missed_read_no_show", "link_opened", "high"),
    }


def test_email_opens_are_not_read_receipts(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    mailed, messaged = w.interview("mailed"), w.interview("messaged")
    w.receipt(_delivered(w, mailed, Channel.email), T0 - 50 * MIN, DeliveryType.read, Channel.email, iv=mailed)
    w.receipt(_delivered(w, messaged, Channel.dingtalk), T0 - 50 * MIN, DeliveryType.read, Channel.dingtalk,
              iv=messaged)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["mailed"][:2] == ("missed_not_reached", "delivered_read_unknown")
    assert w.current()["messaged"][:2] == ("missed_read_no_show", "read")


def test_duplicates_change_nothing(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    joined = w.join(iv, T0 + 2 * MIN, T0 + 40 * MIN)
    w.watermark(NOW)
    w.run(NOW)
    rows = store.count("evidence")
    for _ in range(2):  # the same callback twice, then the overlapping poll
        store.write("acme", [joined])
    assert store.count("evidence") == rows
    again = w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert again.examined == 1 and sum(again.decided.values()) == 0
    assert w.history(iv) == [(1, "attended", False)]


def test_out_of_order_arrival_gives_the_same_decision(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    a, b = w.interview("forward"), w.interview("backward")
    w.answer(a, T0 - 120 * MIN, ConfirmationAction.decline)
    w.answer(a, T0 - 60 * MIN, ConfirmationAction.confirm)  # changed their mind
    w.link(a, T0 + MIN, LinkEventType.join_attempt)
    w.link(b, T0 + MIN, LinkEventType.join_attempt)
    w.answer(b, T0 - 60 * MIN, ConfirmationAction.confirm)
    w.answer(b, T0 - 120 * MIN, ConfirmationAction.decline)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current() == {"forward": ("missed_read_no_show", "confirmed_no_show", "high"),
                           "backward": ("missed_read_no_show", "confirmed_no_show", "high")}


def test_a_leave_reported_later_re_decides_through_the_updated_row(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.join(iv, T0 + MIN, None, remote_id="seg-1")  # the join event; the leave comes with a later poll
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"][:2] == ("attended", "on_time")  # without a leave: counted to the window end
    w.join(iv, T0 + MIN, T0 + 3 * MIN, remote_id="seg-1")  # the same segment, now with its leave
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(evidence)).scalar_one() == 1
    later = w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert later.examined == 1 and later.superseded == 1
    assert w.history(iv) == [(1, "attended", True), (2, "attended_partial", False)]


def test_receipts_are_attributed_through_their_notification(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"][:2] == ("missed_not_reached", "nothing_sent")
    sent = w.notify(iv, T0 - 60 * MIN, Channel.feishu)
    w.receipt(sent, T0 - 30 * MIN, DeliveryType.read, Channel.feishu)  # the receipt knows only its message
    summary = w.run(NOW + MIN, overlap=NO_OVERLAP)
    assert summary.attributed == 1 and summary.examined == 1
    assert w.current()["iv"][:2] == ("missed_read_no_show", "read")
    with store.engine.connect() as conn:
        assert set(conn.execute(sa.select(evidence.c.interview_id)).scalars()) == {iv}


def test_queued_messages_and_hr_tasks_are_not_sends(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    iv = w.interview("iv")
    store.write("acme", [Notification(source="acme.msg", remote_id="q", interview_id=iv, occurred_at=T0 - 60 * MIN,
                                      purpose=NotificationPurpose.reminder_t1h, channel=Channel.sms,
                                      recipient="138****1234", status=DeliveryStatus.queued)])
    w.notify(iv, T0 - 60 * MIN, Channel.feishu, NotificationPurpose.hr_task)
    w.watermark(NOW)
    w.run(NOW)
    assert w.current()["iv"][:2] == ("missed_not_reached", "nothing_sent")
