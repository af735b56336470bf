"""The candidate's and HR's pages over real HTTP on a fixed clock: links that are no longer live answer
410, times the reschedule form cannot hold answer 422, and every page carries the protective headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from lifeline_hub.core.links import LinkPurpose, issue_token, join_link
from lifeline_hub.core.models import InterviewStatus, canonical_id
from lifeline_hub.core.remediation.links import HrLink, hr_link, reschedule_link
from lifeline_hub.core.store import Store
from tests.receiver.receiver_helpers import (
    NOW,
    SOURCE,
    TENANT,
    candidate,
    interview,
    load_config,
    running_receiver,
    seed,
)

IV = canonical_id(SOURCE, "iv1")
MISSED = NOW - timedelta(hours=3)
"""The start of an interview that is over (its join and confirm links have expired)."""


@pytest.fixture
def receiver(store: Store, tmp_path: Path) -> Iterator[str]:
    with running_receiver(load_config(tmp_path), store, clock=lambda: NOW) as url:
        yield url


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def written(store: Store) -> dict[str, int]:
    return {t: store.count(t) for t in ("evidence", "reschedule_requests", "actions")}


@pytest.mark.parametrize("page", ["c", "r"])
def test_a_replaced_link_is_gone(store: Store, receiver: str, page: str) -> None:
    seed(store, candidate(), interview(start=NOW + timedelta(days=2)))
    purpose = LinkPurpose.confirm if page == "c" else LinkPurpose.reschedule
    old = issue_token(store, IV, purpose=purpose, now=NOW).token
    issue_token(store, IV, purpose=purpose, reissue=True, now=NOW)
    before = written(store)
    shown = requests.get(f"{receiver}/{page}/{old}", params={"lang": "en"}, timeout=10)
    assert shown.status_code == 410 and "This link has been replaced" in shown.text
    posted = requests.post(f"{receiver}/{page}/{old}", data={"action": "confirm", "slot": "x"}, timeout=10)
    assert posted.status_code == 410 and "<form" not in posted.text
    assert written(store) == before


def test_an_expired_confirm_link_is_gone(store: Store, receiver: str) -> None:
    seed(store, candidate(), interview(start=MISSED))
    token = issue_token(store, IV, purpose=LinkPurpose.confirm, now=MISSED - timedelta(days=1)).token
    answer = requests.post(f"{receiver}/c/{token}", data={"action": "confirm", "lang": "en"}, timeout=10)
    assert answer.status_code == 410 and "This link has expired" in answer.text
    assert store.count("evidence", kind="confirmation") == 0


def test_a_cancelled_interviews_reschedule_link_is_gone(store: Store, receiver: str) -> None:
    seed(store, candidate(), interview(start=MISSED))
    url = reschedule_link(store, IV, NOW, base_url=receiver)
    store.write(TENANT, [interview(start=MISSED, status=InterviewStatus.cancelled)])
    assert requests.get(url, timeout=10).status_code == 410


@pytest.mark.parametrize("field", [
    {"propose": "0001-01-01T00:00"},  # Shanghai wall time before year 1 in UTC
    {"propose": "9999-12-31T23:59"},
    {"slot": "9999-12-31T23:30:00+00:00"},  # its end is past year 9999
    {"slot": "0001-01-01T00:00:00+14:00"},
    {"propose": "2026-13-45T25:61"},
])
def test_times_out_of_range_are_refused(store: Store, receiver: str, field: dict[str, str]) -> None:
    seed(store, candidate(), interview(start=MISSED))
    url = reschedule_link(store, IV, NOW, base_url=receiver)
    before = written(store)
    answer = requests.post(url, data={"reason": "personal", **field, "lang": "en"}, timeout=10)
    assert answer.status_code == 422 and "error" in answer.text
    assert written(store) == before


def test_every_page_carries_the_protective_headers(store: Store, receiver: str) -> None:
    seed(store, candidate(), interview(start=NOW + timedelta(days=2)))
    pages = [
        path_of(join_link(store, IV, base_url=receiver, now=NOW)),
        f"/c/{issue_token(store, IV, purpose=LinkPurpose.confirm, now=NOW).token}",
        path_of(reschedule_link(store, IV, NOW, base_url=receiver)),
        path_of(hr_link(HrLink("attended", TENANT, IV, 0), base_url=receiver, due_at=NOW)),
        "/healthz", "/j/unknown", "/nowhere",
    ]
    for page in pages:
        answer = requests.get(receiver + page, timeout=10, allow_redirects=False)
        assert answer.status_code in (200, 404), page
        headers = answer.headers
        assert headers["X-Frame-Options"] == "DENY", page
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], page
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Cache-Control"] == "no-store", page
        assert headers["Referrer-Policy"] == "no-referrer", page
