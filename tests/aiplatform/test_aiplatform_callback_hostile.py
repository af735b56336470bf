"""Hostile webhooks at a real receiver's aiplatform endpoint (both stores): every one is a 4xx with a reason,
never a 500, and stores nothing; signed but odd events are stored or refused, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifeline_hub.connectors.aiplatform.callback_kit import SECRET
from lifeline_hub.connectors.aiplatform.signing import signed_headers, verify
from lifeline_hub.core.connector import CallbackRejected
from lifeline_hub.core.store import Store
from tests.receiver.hostile import DEEP, dumps, fuzz, instants, json_objects, json_values, nested, texts, wire
from tests.receiver.receiver_helpers import NOW, Client, callback_client, stored_rows

PATH = "/callbacks/acme.aiplatform"
STAMP = int(NOW.timestamp())
EVENT_TYPES = ["invitation.created", "invitation.reset", "invitation.opened", "interview.started",
               "interview.submitted", "technical.join_error", "technical.media_error", "invitation.expired"]


@pytest.fixture
def client(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with callback_client(store, tmp_path, monkeypatch, ["aiplatform"]) as (client, _):
        yield client


def send(client: Client, body: bytes, headers: dict[str, str]) -> Any:
    return client.post(PATH, data=body, headers={k: wire(v) for k, v in headers.items()})


def test_deeply_nested_json_is_refused_signed_or_not(client: Client, store: Store) -> None:
    signed = send(client, DEEP, signed_headers([SECRET], "evt_deep", STAMP, DEEP))
    assert signed.status_code == 400 and signed.json()["reason"] == "body is not JSON"
    unsigned = send(client, DEEP, {**signed_headers(["guess"], "evt_deep", STAMP, DEEP)})
    assert unsigned.status_code == 401
    inner = dumps({"id": "evt_inner", "type": "invitation.created", "data": {"recipient": nested(900)}})
    assert send(client, inner, signed_headers([SECRET], "evt_inner", STAMP, inner)).status_code < 500
    assert stored_rows(store)["inbound_events"] <= 1


@pytest.mark.parametrize("signature", ["v1=é" + "0" * 63, "v1=\u00ff\u00fe", "v1=" + "a" * 5000])
def test_a_signature_of_any_characters_is_just_wrong(client: Client, store: Store, signature: str) -> None:
    body = dumps({"id": "evt_sig"})
    answer = send(client, body, {**signed_headers([SECRET], "evt_sig", STAMP, body), "AIP-Signature": signature})
    assert answer.status_code == 401 and answer.json()["reason"] == "signature does not match"
    assert stored_rows(store)["inbound_events"] == 0


@pytest.mark.parametrize("timestamp", ["²", "¹²³", "+1772676000", "1_772_676_000", "9" * 40, "-1", "1.5"])
def test_a_timestamp_that_is_not_plain_digits_is_refused(client: Client, store: Store, timestamp: str) -> None:
    body = dumps({"id": "evt_ts"})
    headers = {**signed_headers([SECRET], "evt_ts", STAMP, body), "AIP-Timestamp": timestamp}
    answer = send(client, body, headers)
    assert answer.status_code == 401 and "timestamp" in answer.json()["reason"]
    with pytest.raises(CallbackRejected):
        verify([SECRET], headers, body, NOW)


def test_an_event_with_nul_characters_is_refused_on_both_stores(client: Client, store: Store) -> None:
    body = dumps({"id": "evt_nul", "type": "invitation.opened", "invitation_id": "inv_1", "attempt": 0,
                  "occurred_at": "2026-03-05T01:00:00Z", "data": {"ua_family": "x\x00"}})
    answer = send(client, body, signed_headers([SECRET], "evt_nul", STAMP, body))
    assert answer.status_code == 400 and "NUL" in answer.json()["reason"]
    assert stored_rows(store)["inbound_events"] == 0


def test_signed_events_of_any_shape_never_fail_the_receiver(client: Client, store: Store) -> None:
    invitations = st.from_regex(r"inv_[A-Za-z0-9]{1,8}", fullmatch=True)
    events = json_objects({"type": st.sampled_from(EVENT_TYPES), "invitation_id": invitations, "attempt": st.integers(),
                           "occurred_at": instants().map(lambda t: t.isoformat()), "recorded_at": texts(),
                           "data": json_objects({"code": texts(), "recipient": texts(), "ua_family": texts(),
                                                 "started_at": texts(), "prefetch_suspected": json_values()})})

    @fuzz(40)
    @given(event=events, event_id=st.text("abcdef0123456789_", min_size=1, max_size=12))
    def deliver(event: dict[str, Any], event_id: str) -> None:
        body = dumps({**event, "id": event_id})
        before = stored_rows(store)
        answer = send(client, body, signed_headers([SECRET], event_id, STAMP, body))
        assert answer.status_code in (200, 400, 401), answer.text
        if answer.status_code != 200:
            assert stored_rows(store) == before

    deliver()

