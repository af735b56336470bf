"""Fuzzing the whole receiver over a real store (SQLite and PostgreSQL) with hypothesis.

Every callback route (one instance per callback-accepting connector, driven from its conformance kit's
deliveries, valid, unsigned and forged, then mangled: any body, headers, signatures, timestamps, query)
and every page route (`/j/`, `/c/`, `/r/`, `/hr/`, `/healthz`, with live, expired, rotated and made-up
tokens, any form, dates from year 1 to 9999, any headers) must answer below 500, and a request that is
not valid must store nothing (evidence, inbound events, reschedule requests, outbox actions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from lifeline_hub.core.links import LinkPurpose, issue_token
from lifeline_hub.core.models import ConfirmationAction, canonical_id
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.receiver.conformance import CallbackKit, SignedRequest
from lifeline_hub.core.remediation.links import HrLink, hr_link
from lifeline_hub.core.store import Store
from tests.receiver.hostile import DEEP, dumps, fuzz, header_values, instants, json_values, texts
from tests.receiver.receiver_helpers import (
    NOW,
    SOURCE,
    TENANT,
    callback_instances,
    candidate,
    interview,
    load_config,
    plugin_host,
    seed,
)

TABLES = ("evidence", "inbound_events", "reschedule_requests", "actions")
UPCOMING, OVER = canonical_id(SOURCE, "iv1"), canonical_id(SOURCE, "iv2")
GONE_PAGES = {"c": "confirm", "r": "reschedule", "j": "join"}
"""The pages that answer 410 for a link of theirs that is no longer live."""
KEEP = st.integers(0, 4).map(bool)
"""Mostly True: most parts of a delivery are left as the vendor sent them."""
EVENT_IDS = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)


@dataclass
class Receiver:
    client: TestClient
    store: Store
    kits: dict[str, CallbackKit]
    tokens: dict[str, str]
    """Path segments by kind: live, expired and rotated links of each page, and a valid HR link."""

    def rows(self) -> dict[str, int]:
        return {table: self.store.count(table) for table in TABLES}


@pytest.fixture
def receiver(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    host = plugin_host()
    tables, kits = callback_instances(host, monkeypatch)
    seed(store, candidate(), interview("iv1", start=NOW + timedelta(days=2)),
         interview("iv2", start=NOW - timedelta(hours=3), thread="thread-2"))

    def token(iv: str, purpose: LinkPurpose, reissue: bool = False) -> str:
        return issue_token(store, iv, purpose=purpose, reissue=reissue, now=NOW - timedelta(days=1)).token

    tokens = {
        "expired join": token(OVER, LinkPurpose.join), "expired confirm": token(OVER, LinkPurpose.confirm),
        "expired reschedule": token(OVER, LinkPurpose.reschedule),
        "rotated join": token(UPCOMING, LinkPurpose.join), "rotated confirm": token(UPCOMING, LinkPurpose.confirm),
        "rotated reschedule": token(UPCOMING, LinkPurpose.reschedule),
    }
    tokens |= {"live join": token(UPCOMING, LinkPurpose.join, reissue=True),
               "live confirm": token(UPCOMING, LinkPurpose.confirm, reissue=True),
               "live reschedule": token(UPCOMING, LinkPurpose.reschedule, reissue=True),
               "hr": hr_link(HrLink("attended", TENANT, UPCOMING, 0), base_url="", due_at=NOW).rsplit("/", 1)[1]}
    app = create_app(load_config(tmp_path, tables, host), store, host, clock=lambda: NOW)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Receiver(client, store, kits, tokens)


# ---------------------------------------------------------------- callbacks


@st.composite
def deliveries(draw: st.DrawFn, kits: dict[str, CallbackKit]) -> tuple[str, str, SignedRequest]:
    """A kit's delivery (valid, unsigned or forged), then mangled in any of its parts (or not at all)."""
    name = draw(st.sampled_from(sorted(kits)))
    signature = draw(st.sampled_from(["valid", "valid", "missing", "forged"]))
    at = NOW + draw(st.sampled_from([timedelta(0), timedelta(0), timedelta(hours=-1), timedelta(days=3650)]))
    sent = kits[name].event(draw(EVENT_IDS), at, signature)
    body = sent.body if draw(KEEP) else draw(st.one_of(
        st.binary(max_size=200), json_values().map(dumps), st.just(DEEP), st.just(sent.body[:-3]),
        st.just(sent.body + b" ")))
    headers = {k: v if draw(KEEP) else draw(header_values()) for k, v in sent.headers.items()}
    headers |= draw(st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,20}", fullmatch=True), header_values(),
                                    max_size=2))
    query = {k: v if draw(KEEP) else draw(texts()) for k, v in sent.query.items()}
    query |= draw(st.dictionaries(st.sampled_from(["token", "timestamp", "nonce", "msg_signature", "x"]), texts(),
                                  max_size=2))
    return name, signature, replace(sent, headers=headers, body=body, query=query)


def _utf8(fields: dict[str, list[str]]) -> str:
    """`fields` percent-encoded as UTF-8 (lone surrogates too: the bytes a client could send)."""
    return urlencode({k: [v.encode("utf-8", "surrogatepass") for v in vs] for k, vs in fields.items()}, doseq=True)


def _with_query(path: str, query: dict[str, str]) -> str:
    return f"{path}?{_utf8({k: [v] for k, v in query.items()})}" if query else path


def _header_bytes(headers: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode("latin-1") for k, v in headers.items()
            if k.lower() not in ("content-length", "host", "transfer-encoding")}


def test_callback_routes_take_anything(receiver: Receiver) -> None:
    @fuzz(300)
    @given(delivery=deliveries(receiver.kits), method=st.sampled_from(["POST", "POST", "POST", "GET"]))
    def deliver(delivery: tuple[str, str, SignedRequest], method: str) -> None:
        name, signature, sent = delivery
        before = receiver.rows()
        answer = receiver.client.request(method, _with_query(f"/callbacks/{TENANT}.{name}", dict(sent.query)),
                                         content=sent.body, headers=_header_bytes(dict(sent.headers)))
        assert answer.status_code < 500, (answer.status_code, answer.text)
        if answer.status_code >= 400:
            assert receiver.rows() == before
            assert answer.json()["error"]  # a reason, not a stack trace
        else:
            assert signature == "valid", "an unsigned or forged delivery was accepted"

    deliver()


# ---------------------------------------------------------------- pages


OUTSIDE_THE_WINDOW = instants().filter(
    lambda t: t.tzinfo is None or not NOW <= t <= NOW + timedelta(days=61))
"""Times a reschedule request can never take (the page accepts 2 hours to 60 days ahead)."""


def forms() -> st.SearchStrategy[dict[str, Any]]:
    local = OUTSIDE_THE_WINDOW.map(lambda t: t.strftime("%Y-%m-%dT%H:%M"))
    aware = OUTSIDE_THE_WINDOW.map(datetime.isoformat)
    return st.fixed_dictionaries({}, optional={
        "lang": st.sampled_from(["en", "zh-CN"]) | texts(), "action": texts(), "reason": texts(), "note": texts(),
        "slot": st.lists(aware | texts(), max_size=3), "propose": st.lists(local | texts(), max_size=3),
    })


@st.composite
def page_requests(draw: st.DrawFn, tokens: dict[str, str]) -> tuple[str, str, str, dict[str, Any]]:
    """(method, path, token kind, request keyword arguments)."""
    page = draw(st.sampled_from(["j", "c", "r", "r", "hr", "healthz"]))
    own = [k for k in tokens if k.endswith(GONE_PAGES.get(page, page))]
    kind = draw(st.sampled_from(own * 3 + ["made up", "made up"]) | st.sampled_from(sorted(tokens)))
    token = tokens[kind] if kind != "made up" else draw(texts())
    method = draw(st.sampled_from(["GET", "POST", "HEAD"] if page in ("j", "healthz") else ["GET", "POST"]))
    path = "/healthz" if page == "healthz" else f"/{page}/{quote(token.encode('utf-8', 'surrogatepass'), safe='')}"
    path = _with_query(path, draw(st.dictionaries(st.sampled_from(["lang", "token"]), texts(), max_size=2)))
    headers = draw(st.dictionaries(st.sampled_from(["User-Agent", "Accept-Language", "Sec-Purpose", "X-Forwarded-For",
                                                    "Content-Type", "Referer"]), header_values(), max_size=3))
    kwargs: dict[str, Any] = {"headers": _header_bytes(headers)}
    if method == "POST" and draw(st.booleans()):
        form = kwargs["form"] = draw(forms())
        kwargs["content"] = _utf8({k: v if isinstance(v, list) else [v] for k, v in form.items()})
        kwargs["headers"]["Content-Type"] = b"application/x-www-form-urlencoded"
    elif method == "POST":
        kwargs["content"] = draw(st.binary(max_size=300))
    return method, path, kind, kwargs


def test_page_routes_take_anything(receiver: Receiver) -> None:
    def answers(path: str, kind: str, form: dict[str, Any]) -> bool:
        return kind == "live confirm" and path.startswith("/c/") and form.get("action") in set(ConfirmationAction)

    @fuzz(300)
    @given(request=page_requests(receiver.tokens))
    def visit(request: tuple[str, str, str, dict[str, Any]]) -> None:
        method, path, kind, kwargs = request
        form = kwargs.pop("form", {})
        before = receiver.rows()
        answer = receiver.client.request(method, path, follow_redirects=False, **kwargs)
        assert answer.status_code < 500, (method, path, kind, answer.status_code)
        after = receiver.rows()
        if path.startswith("/j/") and kind != "made up":
            assert after["evidence"] - before["evidence"] <= 1  # the visit itself is evidence
            assert {t: after[t] for t in TABLES[1:]} == {t: before[t] for t in TABLES[1:]}
        elif not (method == "POST" and (answers(path, kind, form) or path.startswith(f"/hr/{receiver.tokens['hr']}"))):
            assert after == before, (method, path, kind)  # only a candidate's answer or HR's step writes
        if kind in (f"expired {GONE_PAGES.get(path[1])}", f"rotated {GONE_PAGES.get(path[1])}"):
            assert answer.status_code == 410

    visit()
