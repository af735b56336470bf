"""Hostile deliveries at a real receiver's DingTalk endpoint (both stores): every one is a 4xx with a reason,
never a 500, and stores nothing; authentic events of any shape are stored or refused, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifeline_hub.connectors.dingtalk.callback_kit import AES_KEY, APPKEY, CORP_ID, PROCESS_CODE, TOKEN
from lifeline_hub.connectors.dingtalk.crypto import CallbackRejected, DingTalkCrypto, signature, timestamp_seconds
from lifeline_hub.core.store import Store
from tests.receiver.hostile import DEEP, fuzz, json_objects, json_values, texts
from tests.receiver.receiver_helpers import NOW, Client, callback_client, stored_rows

PATH = "/callbacks/acme.dingtalk"
MILLIS = str(int(NOW.timestamp() * 1000))
BOX = DingTalkCrypto(TOKEN, AES_KEY, APPKEY)


@pytest.fixture
def client(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with callback_client(store, tmp_path, monkeypatch, ["dingtalk"]) as (client, _):
        yield client


def deliver(client: Client, plaintext: str, **query: str) -> Any:
    """`plaintext` encrypted and signed as DingTalk would, with `query` overriding its query fields."""
    sealed = BOX.encrypt(plaintext, timestamp=MILLIS)
    params = {k: sealed[k] for k in ("msg_signature", "timestamp", "nonce")} | query
    return client.post(PATH, params=params, data=json.dumps({"encrypt": sealed["encrypt"]}))


def test_deeply_nested_json_is_refused_outside_and_inside(client: Client, store: Store) -> None:
    outside = client.post(PATH, params={"msg_signature": "0" * 40, "timestamp": MILLIS, "nonce": "n"}, data=DEEP)
    assert outside.status_code == 401 and outside.json()["reason"] == "body is not JSON"
    inside = deliver(client, DEEP.decode())
    assert inside.status_code == 400 and inside.json()["reason"] == "event is not JSON"
    assert stored_rows(store)["inbound_events"] == 0


@pytest.mark.parametrize("offered", ["é" * 40, "\u00ff", "ⅰ" * 40])
def test_a_signature_of_any_characters_is_just_wrong(client: Client, store: Store, offered: str) -> None:
    answer = deliver(client, json.dumps({"EventType": "check_url"}), msg_signature=offered)
    assert answer.status_code == 401 and "signature" in answer.json()["reason"]
    assert stored_rows(store)["inbound_events"] == 0


@pytest.mark.parametrize("timestamp", ["²", "١٧٧٢٦٧٦٠٠٠٠٠٠", " 1772676000000", "1_772_676_000_000", "9" * 400])
def test_a_timestamp_that_is_not_plain_digits_is_refused(client: Client, store: Store, timestamp: str) -> None:
    sealed = BOX.encrypt(json.dumps({"EventType": "check_url"}), timestamp=timestamp)  # signed over that timestamp
    params = {k: sealed[k] for k in ("msg_signature", "timestamp", "nonce")}
    answer = client.post(PATH, params=params, data=json.dumps({"encrypt": sealed["encrypt"]}))
    assert answer.status_code == 401 and "timestamp" in answer.json()["reason"]
    with pytest.raises(CallbackRejected):
        timestamp_seconds(timestamp)


def test_a_signed_ciphertext_of_any_characters_is_refused(client: Client) -> None:
    encrypt = "密文" * 10
    params = {"msg_signature": signature(TOKEN, MILLIS, "n", encrypt), "timestamp": MILLIS, "nonce": "n"}
    answer = client.post(PATH, params=params, data=json.dumps({"encrypt": encrypt}))
    assert answer.status_code == 401 and "decrypt" in answer.json()["reason"]


@pytest.mark.parametrize("created", [10**20, -(10**20), 10**400, "9" * 400, 1e300, "²"],
                         ids=["1e20", "-1e20", "1e400", "400 nines", "1e300 float", "superscript"])
def test_an_approval_event_at_an_impossible_time_is_stored_as_nothing(client: Client, store: Store,
                                                                       created: object) -> None:
    event = {"EventType": "bpms_instance_change", "processCode": PROCESS_CODE, "corpId": CORP_ID, "type": "start",
             "processInstanceId": "proc-1", "createTime": created}
    answer = deliver(client, json.dumps(event))
    assert answer.status_code == 200
    assert stored_rows(store)["evidence"] == 0


def test_authentic_events_of_any_shape_never_fail_the_receiver(client: Client, store: Store) -> None:
    kinds = st.sampled_from(["bpms_instance_change", "todo_task_change", "check_url", "user_add_org"])
    times = st.one_of(st.integers(), st.integers(min_value=-(10**20), max_value=10**20), texts())
    events = json_objects({
        "EventType": kinds, "processCode": st.just(PROCESS_CODE), "corpId": st.just(CORP_ID),
        "processInstanceId": texts(), "type": st.sampled_from(["start", "finish", "terminate"]),
        "result": st.sampled_from(["agree", "refuse"]), "createTime": times, "finishTime": times,
        "sourceId": texts(), "done": st.booleans(), "taskId": texts(), "modifiedTime": times, "staffId": json_values(),
    })

    @fuzz(40)
    @given(event=events)
    def authentic(event: dict[str, Any]) -> None:
        before = stored_rows(store)
        answer = deliver(client, json.dumps(event))
        assert answer.status_code in (200, 400, 401), answer.text
        if answer.status_code != 200:
            assert stored_rows(store) == before

    authentic()
