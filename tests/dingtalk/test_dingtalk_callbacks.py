"""Callbacks: the emulator's signed, encrypted events through `handle_callback` and back (the emulator
checks the encrypted "success"), approval and todo events as records, and every rejection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from lifeline_hub.connectors.dingtalk.crypto import DingTalkCrypto
from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
from lifeline_hub.connectors.dingtalk.testing import Emulated, emulated
from lifeline_hub.core.connector import CallbackRejected, CallbackRequest, CallbackResult
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.models import Action, DeliveryEvent, RescheduleRequest, utcnow


@dataclass
class Receiver:
    """What a callback endpoint does with the connector: verify, parse, answer."""

    connector: DingTalkConnector
    results: list[CallbackResult] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/callbacks/acme.dt")
        async def callback(request: Request) -> Response:
            incoming = CallbackRequest(headers=dict(request.headers), query=dict(request.query_params),
                                       body=await request.body(), received_at=utcnow())
            try:
                result = self.connector.handle_callback(incoming)
            except CallbackRejected as exc:
                self.rejected.append(exc.reason)
                return JSONResponse({"error": exc.reason}, 403)
            self.results.append(result)
            return JSONResponse(result.reply, result.status_code)

        return app


@pytest.fixture
def dt() -> Iterator[Emulated]:
    with emulated(users=4) as running:
        yield running


@pytest.fixture
def wired(dt: Emulated) -> Iterator[tuple[Emulated, DingTalkConnector, Receiver]]:
    connector = dt.connector(operator_union_id="union1", approval_process_codes=["P"])
    receiver = Receiver(connector)
    with LoopbackServer(receiver.app()) as server:
        dt.world.set_callback_url(f"{server.url}/callbacks/acme.dt")
        yield dt, connector, receiver


def deliver(dt: Emulated) -> None:
    dt.world.deliver_pending_callbacks()
    assert {c["state"] for c in dt.world.callbacks()} <= {"delivered"}, dt.world.callbacks()


def perform(connector: DingTalkConnector, kind: str, key: str, payload: dict[str, Any]) -> str:
    return connector.perform(Action(idempotency_key=key, tenant="acme", connector="acme.dt", kind=kind,
                                    interview_id="acme.ats/iv-3", due_at=utcnow(), payload=payload)).remote_id


def test_approval_and_todo_events_become_records(wired: tuple[Emulated, DingTalkConnector, Receiver]) -> None:
    dt, connector, receiver = wired
    dt.world.send_check_url()
    instance = perform(connector, "create_approval", "ll-a1", {"originator": "u1", "approvers": ["u2"],
                                                               "process_code": "P", "title": "Reschedule"})
    connector.http.api.call("POST", "/v1.0/workflow/processInstances", json={  # not Lifeline's process: no records
        "processCode": "LEAVE", "originatorUserId": "u3", "formComponentValues": [{"name": "x", "value": "y"}]})
    deliver(dt)
    check, started, foreign = receiver.results
    assert check.event_id is None and check.records == ()
    assert [(r.remote_id, r.status.value) for r in started.records if
            isinstance(r, RescheduleRequest)] == [(f"approval:{instance}", "submitted")]
    assert foreign.records == () and foreign.event_id
    polled = [r for r in connector.read("tasks", {}) if isinstance(r, RescheduleRequest)]
    assert polled == list(started.records)  # the same record whichever path saw it first

    dt.world.decide_approval(instance, "agree")
    todo = perform(connector, "create_task", "ll-t1", {"assignees": ["union2"], "title": "t", "description": "d",
                                                       "links": [{"label": "e", "url": "https://l.test"}]})
    dt.world.set_todo_done(todo, by="union2")
    deliver(dt)
    task_change, finished, done = receiver.results[3:]
    assert task_change.records == ()
    assert [r.status.value for r in finished.records if isinstance(r, RescheduleRequest)] == ["approved"]
    event, = done.records
    assert isinstance(event, DeliveryEvent) and event.code == "done" and event.remote_id == f"todo:{todo}:done"
    assert event.notification_id == f"acme.dt/todo:{todo}" and event.interview_id is None
    polled_done = [r for r in connector.read("tasks", {}) if isinstance(r, DeliveryEvent)]
    assert polled_done == [event]
    assert len({r.event_id for r in receiver.results[1:]}) == 5 and receiver.rejected == []


def test_redelivered_events_carry_the_same_event_id(dt: Emulated) -> None:
    dt.world.configure_faults(Faults(duplicate=1.0))
    connector = dt.connector(approval_process_codes=["P"])
    receiver = Receiver(connector)
    with LoopbackServer(receiver.app()) as server:
        dt.world.set_callback_url(f"{server.url}/callbacks/acme.dt")
        dt.world.configure_faults(Faults())
        instance = perform(connector, "create_approval", "ll-a2", {"originator": "u1", "process_code": "P",
                                                                   "title": "t"})
        dt.world.configure_faults(Faults(duplicate=1.0))
        dt.world.terminate_approval(instance)
        deliver(dt)
    ids = [r.event_id for r in receiver.results]
    assert len(ids) == 3 and ids[1] == ids[2] and ids[0] != ids[1]  # start once, terminate twice


def test_callbacks_make_no_vendor_calls(wired: tuple[Emulated, DingTalkConnector, Receiver]) -> None:
    dt, connector, receiver = wired
    perform(connector, "create_approval", "ll-a3", {"originator": "u1", "process_code": "P", "title": "t"})
    calls = sum(dt.world.call_counts().values())
    dt.world.configure_faults(Faults(server_error=1.0))  # the vendor is down: callbacks still work
    deliver(dt)
    assert len(receiver.results[0].records) == 1 and sum(dt.world.call_counts().values()) == calls


# ---------------------------------------------------------------- rejections (built by hand, signed for real)


def incoming(connector: DingTalkConnector, event: dict[str, Any], *, owner: str | None = None,
             age: float = 0.0, forge: bool = False, token: str | None = None) -> CallbackRequest:
    creds = connector.credentials
    assert creds is not None
    box = DingTalkCrypto(token or creds.extra["callback_token"], creds.extra["callback_aes_key"],
                         owner or connector.appkey)
    stamp = str(int((time.time() - age) * 1000))
    sealed = box.encrypt(json.dumps(event), nonce="n0nce123", timestamp=stamp)
    query = {"msg_signature": "0" * 40 if forge else sealed["msg_signature"], "timestamp": stamp, "nonce": "n0nce123"}
    return CallbackRequest(headers={"content-type": "application/json"}, query=query,
                           body=json.dumps({"encrypt": sealed["encrypt"]}).encode(), received_at=utcnow())


CHECK = {"EventType": "check_url"}


def bpms(corp: str) -> dict[str, Any]:
    return {"EventType": "bpms_task_change", "processInstanceId": "pi-1", "corpId": corp, "type": "finish",
            "result": "agree", "staffId": "u2", "createTime": 1_700_000_000_000}


def test_a_valid_callback_is_answered_with_an_encrypted_success(dt: Emulated) -> None:
    connector = dt.connector()
    result = connector.handle_callback(incoming(connector, bpms(dt.world.settings.corp_id), age=60))
    creds = connector.credentials
    assert creds is not None
    box = DingTalkCrypto(creds.extra["callback_token"], creds.extra["callback_aes_key"], connector.appkey)
    assert box.open_reply(result.reply) == "success" and set(result.reply) == {
        "msg_signature", "timeStamp", "nonce", "encrypt"}
    assert result.event_id and result.event_id.startswith("dingtalk:")


@pytest.mark.parametrize(("case", "reason"), [
    ("forged", "signature"), ("wrong token", "signature"), ("stale", "stale"), ("future", "stale"),
    ("wrong owner", "owner"), ("wrong corp", "corpId"),
])
def test_rejections(dt: Emulated, case: str, reason: str) -> None:
    connector = dt.connector()
    corp = dt.world.settings.corp_id
    request = {
        "forged": lambda: incoming(connector, bpms(corp), forge=True),
        "wrong token": lambda: incoming(connector, bpms(corp), token="guessed"),
        "stale": lambda: incoming(connector, bpms(corp), age=301),
        "future": lambda: incoming(connector, bpms(corp), age=-400),
        "wrong owner": lambda: incoming(connector, bpms(corp), owner="dingotherapp"),
        "wrong corp": lambda: incoming(connector, bpms("dingothercorp")),
    }[case]()
    with pytest.raises(CallbackRejected, match=reason):
        connector.handle_callback(request)


def test_replay_of_the_same_event_has_the_same_event_id(dt: Emulated) -> None:
    connector = dt.connector()
    event = bpms(dt.world.settings.corp_id)
    first = connector.handle_callback(incoming(connector, event))
    again = connector.handle_callback(incoming(connector, event, age=30))  # a retry: new timestamp and signature
    other = connector.handle_callback(incoming(connector, {**event, "result": "refuse"}))
    assert first.event_id == again.event_id != other.event_id


def test_malformed_requests_and_missing_keys_are_rejected(dt: Emulated) -> None:
    connector = dt.connector()
    good = incoming(connector, CHECK)
    for request in (
        CallbackRequest(headers={}, query=dict(good.query), body=b"not json", received_at=utcnow()),
        CallbackRequest(headers={}, query={}, body=good.body, received_at=utcnow()),
        CallbackRequest(headers={}, query=dict(good.query), body=good.body, received_at=utcnow() + timedelta(hours=1)),
    ):
        with pytest.raises(CallbackRejected):
            connector.handle_callback(request)
    legacy = {"signature": good.query["msg_signature"], "timeStamp": good.query["timestamp"],
              "nonce": good.query["nonce"]}  # older spellings of the query fields
    assert connector.handle_callback(CallbackRequest({}, legacy, good.body, utcnow())).event_id is None
    for credentials in (None, replace(dt.credentials(), extra={})):
        bare = DingTalkConnector(connector.instance, connector.options, credentials)
        with pytest.raises(CallbackRejected, match="not configured"):
            bare.handle_callback(good)
