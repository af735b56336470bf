"""Hostile SmsReport pushes at a real receiver's aliyun_sms endpoint (both stores): refused with a 4xx and a
reason, never a 500, nothing stored; pushes with the right token but odd reports never fail the receiver."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifeline_hub.connectors.aliyun_sms.callback_kit import PUSH_TOKEN
from lifeline_hub.connectors.aliyun_sms.records import BEIJING
from lifeline_hub.core.models import zone_info
from lifeline_hub.core.store import Store
from tests.receiver.hostile import DEEP, dumps, fuzz, json_objects, json_values, texts
from tests.receiver.receiver_helpers import NOW, Client, callback_client, stored_rows

PATH = "/callbacks/acme.aliyun_sms"
STAMP = (NOW - timedelta(minutes=1)).astimezone(zone_info(BEIJING)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def client(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with callback_client(store, tmp_path, monkeypatch, ["aliyun_sms"]) as (client, _):
        yield client


def push(client: Client, body: bytes, token: str = PUSH_TOKEN) -> Any:
    return client.post(PATH, params={"token": token}, data=body, headers={"Content-Type": "application/json"})


def report(**fields: object) -> dict[str, object]:
    return {"phone_number": "13800000000", "send_time": STAMP, "report_time": STAMP, "success": True,
            "err_code": "DELIVERED", "biz_id": "1^0", "out_id": "ll-1", **fields}


def test_a_wrong_token_is_refused_before_the_body_is_read(client: Client, store: Store) -> None:
    for token in ("nope", "é" * 20, "推送令牌", ""):
        answer = push(client, DEEP, token)
        assert answer.status_code == 401 and answer.json()["reason"] == "push token missing or wrong"
    assert stored_rows(store)["inbound_events"] == 0


@pytest.mark.parametrize("body", [DEEP, b'[{"out_id": "\\ud800"}]', b"\xff\xfe", b'{"out_id": "ll-1"}', b"[1, 2]"],
                         ids=["deep", "lone surrogate", "not UTF-8", "an object", "not objects"])
def test_with_the_token_an_unreadable_push_is_malformed(client: Client, store: Store, body: bytes) -> None:
    answer = push(client, body)
    assert answer.status_code == 400 and answer.json()["error"] == "malformed callback"
    assert stored_rows(store)["inbound_events"] == 0


@pytest.mark.parametrize("fields", [
    {"report_time": "0001-01-01 00:00:00"},  # Beijing wall time before year 1 in UTC
    {"report_time": "9999-12-31 23:59:59", "send_time": None},
    {"out_id": {"nested": ["ll-1"]}}, {"err_code": ["DELIVERED"]}, {"report_time": 20260305},
    {"out_id": "ll-\x00"},
], ids=["year 1", "year 9999", "nested out_id", "list err_code", "numeric time", "NUL out_id"])
def test_odd_reports_are_skipped_or_refused_never_a_500(client: Client, store: Store, fields: dict[str, Any]) -> None:
    answer = push(client, dumps([report(**fields)]))
    assert answer.status_code in (200, 400, 401), answer.text
    assert stored_rows(store)["evidence"] == 0


def test_pushes_of_any_shape_never_fail_the_receiver(client: Client, store: Store) -> None:
    reports = json_objects({"out_id": st.from_regex(r"ll-[a-z0-9]{1,6}", fullmatch=True), "success": st.booleans(),
                            "report_time": st.just(STAMP) | texts(), "send_time": texts(), "err_code": texts(),
                            "phone_number": texts(), "biz_id": json_values()})

    @fuzz(40)
    @given(batch=st.lists(reports, max_size=4) | json_values())
    def delivered(batch: Any) -> None:
        before = stored_rows(store)
        answer = push(client, json.dumps(batch).encode())
        assert answer.status_code in (200, 400, 401), answer.text
        if answer.status_code != 200:
            assert stored_rows(store) == before

    delivered()
