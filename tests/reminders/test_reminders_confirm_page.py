"""The confirm link: a GET changes nothing, a POST becomes a Confirmation the planner acts on."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lifeline_hub.core.models import Confirmation, ConfirmationAction
from lifeline_hub.core.reminders import confirm_router, plan_reminders
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence
from tests.reminders.reminder_helpers import NOW, TENANT, candidate, interview, make_config, outbox, purposes


def test_the_candidates_choice_becomes_a_confirmation(tmp_path: Path, store: Store) -> None:
    config = make_config(tmp_path, store.url)
    candidate(store)
    iv = interview(store, "iv1", NOW + timedelta(days=5))
    plan_reminders(store, TENANT, NOW, config)
    link = outbox(store, iv.id)[0].payload["params"]["confirm"]
    app = FastAPI()
    app.include_router(confirm_router(store, config, clock=lambda: NOW))
    web = TestClient(app)

    page = web.get(f"/c/{link}")
    assert page.status_code == 200 and "2026年3月7日" in page.text and page.text.count("<button") == 3
    assert store.count("evidence", kind="confirmation") == 0
    assert web.get("/c/not-a-token").status_code == 404

    done = web.post(f"/c/{link}", data={"action": "confirm", "lang": "en"})
    assert done.status_code == 200 and "confirmed" in done.text
    record = Confirmation.model_validate(store_confirmation(store))
    assert record.action is ConfirmationAction.confirm and record.sequence_seen == 0

    plan_reminders(store, TENANT, NOW + timedelta(minutes=10), config)
    assert ("reminder_t1d", "send_sms") in purposes(outbox(store, iv.id, "planned"))

    moved = web.post(f"/c/{link}", data={"action": "reschedule"}, follow_redirects=False)
    assert moved.status_code == 303 and "/r/" in moved.headers["location"]


def store_confirmation(store: Store) -> object:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(evidence.c.data).where(evidence.c.kind == "confirmation")).scalar_one()
