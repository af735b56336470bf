"""The interviewer's question on WeCom: a `button_interaction` card through the real connector and the emulator on
loopback, a member's click back as a signed `template_card_event` into the receiver's callback path and the store
(SQLite and PostgreSQL): one answer per member, a changed mind replaces it, a click on a card whose key is not a
live answer of this instance stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request, Response

from lifeline_hub.connectors.wecom import staff
from lifeline_hub.connectors.wecom.emulator_state import EmulatorSettings
from lifeline_hub.connectors.wecom.testing import Emulated, emulated
from lifeline_hub.core.actions import Link
from lifeline_hub.core.config import load
from lifeline_hub.core.connector import CallbackRequest
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import Action, AttendanceReport, AttendanceVerdict, utcnow
from lifeline_hub.core.outbox import dispatch, enqueue
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.receiver.callbacks import store_callback
from lifeline_hub.core.remediation.answers import VERDICTS
from lifeline_hub.core.remediation.links import AnswerLink, answer_token, answer_url
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence

INSTANCE = "acme.wecom"
LABELS = {"attended": "已参加", "attended_late": "迟到参加", "no_show": "未到场", "technical": "技术问题"}


@pytest.fixture
def wc() -> Iterator[Emulated]:
    with emulated(EmulatorSettings(users=["hr01", "Li.Si", "zhao"])) as running:
        yield running


def question(who: str, via: str = INSTANCE) -> dict[str, object]:
    due = datetime.now(UTC) + timedelta(hours=24)
    links = [Link(label=LABELS[v.value], url=answer_url(token := answer_token(
        AnswerLink(v, "acme", "acme.ats/iv1", 0, who, via), due), "https://lifeline.test"), callback=token)
        for v in VERDICTS]
    return {"recipients": [who], "title": "请确认：张三 是否参加了面试？", "text": "面试：…", "audience": "staff",
            "purpose": "hr_task", "interview_id": "acme.ats/iv1", "links": [link.model_dump() for link in links]}


def answers(store: Store) -> list[AttendanceReport]:
    with store.engine.connect() as conn:
        return [AttendanceReport.model_validate(d) for d in conn.execute(
            sa.select(evidence.c.data).where(evidence.c.kind == "attendance_report")).scalars()]


def test_an_interviewer_answers_on_a_wecom_button_card(wc: Emulated, tmp_path: Path, db_url: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "wecom", "password": wc.credentials().password, "extra": dict(wc.credentials().extra)}
    monkeypatch.setenv("AIRFLOW_CONN_LL_TEST_WECOM", json.dumps(conn))
    monkeypatch.setenv("LIFELINE_HASH_KEY", "wecom-question-test-key-0123456789abc")
    path = tmp_path / "plugins.toml"
    path.write_text("\n".join([
        "[lifeline]", f"store = {json.dumps(db_url)}", "", "[tenants.acme]", 'timezone = "Asia/Shanghai"', "",
        "[tenants.acme.connectors.wecom]", 'plugin = "wecom"', 'connection_id = "ll_test_wecom"',
        f"base_urls = {{ api = {json.dumps(wc.url)} }}", 'corp_id = "wwemulatorcorp0001"', "agent_id = 1000002", ""]),
        encoding="utf-8")
    config = load(path, PluginHost().load_entry_points())
    store = Store(db_url)
    store.upgrade()
    connector = wc.connector()
    app = FastAPI()

    @app.post(f"/callbacks/{INSTANCE}")
    async def callback(request: Request) -> Response:
        now = datetime.now(UTC)
        result = connector.handle_callback(CallbackRequest(headers=dict(request.headers),
                                                           query=dict(request.query_params),
                                                           body=await request.body(), received_at=now))
        store_callback(store, "acme", connector.instance.name, result, now)
        return Response(result.reply or "")

    try:
        now = utcnow()
        rows = [Action(idempotency_key=f"ask-{who}", tenant="acme", connector=INSTANCE, kind="send_message",
                       payload=question(who, via), due_at=now)
                for who, via in (("Li.Si", INSTANCE), ("zhao", "acme.other"))]
        with store.begin() as db:
            enqueue(db, rows, now)
        assert dispatch(store, config, "acme", now=now).dead == 0
        card = next(m for m in wc.world.inspect_messages() if "li.si" in m["reached"])["content"]
        assert card["card_type"] == "button_interaction"
        assert [b["text"] for b in card["button_list"]] == list(LABELS.values())
        keys = {b["text"]: b["key"] for b in card["button_list"]}
        with LoopbackServer(app) as receiver:
            wc.world.set_callback_url(f"{receiver.url}/callbacks/{INSTANCE}")
            wc.world.settings.deliver_in_background = False
            wc.world.click("li.si", staff.task_id("ask-Li.Si"), keys["未到场"])
            wc.world.click("li.si", staff.task_id("ask-Li.Si"), keys["未到场"])  # twice: one answer
            assert wc.world.deliver_pending_events() == 2
            (answer,) = answers(store)
            assert (answer.source, answer.reporter_id, answer.verdict) == (INSTANCE, "Li.Si", AttendanceVerdict.no_show)
            wc.world.click("li.si", staff.task_id("ask-Li.Si"), keys["迟到参加"])  # a changed mind replaces it
            other = next(m for m in wc.world.inspect_messages() if "zhao" in m["reached"])["content"]
            wc.world.click("zhao", staff.task_id("ask-zhao"), other["button_list"][0]["key"])  # signed elsewhere
            assert wc.world.deliver_pending_events() == 2
        (answer,) = answers(store)
        assert answer.verdict is AttendanceVerdict.attended_late
        closed = [c.update for c in wc.world.codes.values() if c.update is not None]
        assert {"userids": ["li.si"], "button": {"replace_name": "已回答"}, "template_card": None} in closed
    finally:
        store.engine.dispose()
