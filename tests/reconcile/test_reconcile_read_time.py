"""A read counts as reach only when it was seen by the window end: DingTalk work notices (issue 20, item 3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated, handoff
from lifeline_hub.core.connector import ActionResult, Checkpoint
from lifeline_hub.core.models import Action, Notification, Record, utcnow
from lifeline_hub.core.store import Store
from tests.reconcile.scenario import TENANT, World, config


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=2) as running:
        yield running


def _invite(dt: Emulated, iv: str) -> ActionResult:
    payload: dict[str, Any] = {"recipients": ["u1"], "title": "Interview", "text": "Your interview",
                               "purpose": "invite", "interview_id": iv, "audience": "candidate"}
    action = Action(idempotency_key="ll-inv-1", tenant=TENANT, connector="acme.dt", kind="send_message",
                    due_at=utcnow(), payload=payload)
    return dt.connector().perform(action)


def test_a_work_notice_read_after_the_interview_is_no_read_before_it(dt: Emulated, store: Store,
                                                                    tmp_path: Path) -> None:
    """Sent 20 h ago for an interview that ended 18 h ago, first seen read now: delivered, unread by the end."""
    now = utcnow()
    w = World(store, config(tmp_path))
    iv = w.interview("iv", start=now - timedelta(hours=19))
    sent = _invite(dt, iv)
    earlier = [n.model_copy(update={"occurred_at": now - timedelta(hours=20)}) for n in sent.records]
    sent = ActionResult(remote_id=sent.remote_id, records=earlier,
                        handoff={"receipts": {"sent": [n.model_dump(mode="json") for n in earlier]}})
    dt.world.mark_read(int(sent.remote_id.split(":")[1]), "u1")
    items = list(dt.connector().read("receipts", handoff({}, "receipts", sent)))
    records = [i for i in items if isinstance(i, Record)]
    assert isinstance(items[-1], Checkpoint) and records
    store.write(TENANT, records)
    [read] = [r for r in records if isinstance(r, Notification) and r.status.value == "read"]
    assert read.occurred_at < now - timedelta(hours=19) and read.read_at is not None and read.read_at >= now
    w.watermark(now + timedelta(minutes=1))
    w.run(now + timedelta(minutes=1))
    assert w.current()["iv"] == ("missed_not_reached", "delivered_unread", "medium")
