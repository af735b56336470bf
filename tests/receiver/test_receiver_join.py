"""Join links over real HTTP: open -> interstitial -> POST -> redirect, scanners, rotated and expired links."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from lifeline_hub.core.links import LinkPurpose, issue_token, join_link, links_source
from lifeline_hub.core.models import (
    Channel,
    InterviewStatus,
    LinkEvent,
    Notification,
    NotificationPurpose,
    canonical_id,
    utcnow,
)
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import evidence
from tests.receiver.receiver_helpers import (
    JOIN_URL,
    SOURCE,
    TENANT,
    candidate,
    interview,
    load_config,
    running_receiver,
    seed,
)

IV = canonical_id(SOURCE, "iv1")
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
WECHAT = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
SAFE_LINKS = "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 BingPreview/1.0b"


@pytest.fixture
def receiver(store: Store, tmp_path: Path) -> Iterator[str]:
    seed(store)
    with running_receiver(load_config(tmp_path), store) as url:
        yield url


def link_events(store: Store) -> list[LinkEvent]:
    with store.begin() as conn:
        rows = conn.execute(sa.select(evidence.c.data).where(evidence.c.kind == "link_event")
                            .order_by(evidence.c.occurred_at, evidence.c.id))
        return [LinkEvent.model_validate(data) for (data,) in rows]


def get(url: str, agent: str = CHROME, **headers: str) -> requests.Response:
    return requests.get(url, headers={"User-Agent": agent, **headers}, allow_redirects=False, timeout=10)


def post(url: str, agent: str = CHROME) -> requests.Response:
    return requests.post(url, headers={"User-Agent": agent}, allow_redirects=False, timeout=10)


def test_open_interstitial_join_redirect(store: Store, receiver: str) -> None:
    url = join_link(store, IV, base_url=receiver)
    first = get(url)
    assert first.status_code == 200 and "进入面试" in first.text and '<form method="post">' in first.text
    assert first.headers["Cache-Control"] == "no-store" and first.headers["Referrer-Policy"] == "no-referrer"
    assert JOIN_URL not in first.text
    assert get(url).status_code == 200  # a GET never consumes the link

    joined = post(url)
    assert joined.status_code == 303 and joined.headers["Location"] == JOIN_URL
    assert joined.headers["Referrer-Policy"] == "no-referrer"
    assert post(url).status_code == 303  # nor does a join: the candidate may need to re-join

    events = link_events(store)
    assert [e.type.value for e in events] == ["open", "open", "join_attempt", "join_attempt"]
    assert all(not e.machine_made and e.ua_family == "chrome" and e.interview_id == IV for e in events)
    assert all(e.source == links_source(TENANT) and e.ip_hash and "127.0.0" not in e.ip_hash for e in events)
    assert len({e.remote_id for e in events}) == 4


def test_scanners_are_recorded_as_machines_and_see_the_same_page(store: Store, receiver: str) -> None:
    url = join_link(store, IV, base_url=receiver)
    scanned = get(url, SAFE_LINKS)
    assert scanned.status_code == 200 and '<form method="post">' in scanned.text
    head = requests.head(url, headers={"User-Agent": CHROME}, timeout=10)
    assert head.status_code == 200 and head.content == b""
    prefetch = get(url, CHROME, **{"Sec-Purpose": "prefetch"})
    assert prefetch.status_code == 200
    assert [(e.machine_made, e.machine_reason) for e in link_events(store)] == [
        (True, "scanner_ua"), (True, "head_request"), (True, "prefetch"),
    ]
    assert link_events(store)[0].ua_family == "microsoft-scanner"


def test_an_open_right_after_delivery_is_a_scanner_until_the_same_client_joins(store: Store, receiver: str) -> None:
    sent = Notification(source=SOURCE, remote_id="n1", interview_id=IV, occurred_at=utcnow() - timedelta(seconds=2),
                        purpose=NotificationPurpose.reminder_t1h, channel=Channel.email, recipient="z***@example.com")
    store.write(TENANT, [sent])
    url = join_link(store, IV, base_url=receiver)
    assert get(url, SAFE_LINKS.replace("BingPreview/1.0b", "Safari/537.36 Edg/131.0")).status_code == 200
    assert get(url, CHROME).status_code == 200
    assert [(e.ua_family, e.machine_reason) for e in link_events(store)] == [
        ("edge", "scanner_burst"), ("chrome", "scanner_burst"),
    ]
    assert post(url, CHROME).status_code == 303  # the follow-up a scanner never makes
    events = link_events(store)
    assert [(e.type.value, e.ua_family, e.machine_made) for e in events] == [
        ("open", "edge", True), ("open", "chrome", False), ("join_attempt", "chrome", False),
    ]


def test_a_rotated_link_says_a_new_one_was_sent_and_is_recorded(store: Store, receiver: str) -> None:
    old = join_link(store, IV, base_url=receiver)
    new = join_link(store, IV, base_url=receiver, reissue=True)
    opened = get(old)
    assert opened.status_code == 410 and "此链接已更新" in opened.text and "<form" not in opened.text
    tried = post(old)
    assert tried.status_code == 410 and "Location" not in tried.headers
    assert get(new).status_code == 200
    assert [(e.type.value, e.code) for e in link_events(store)] == [
        ("open", "link_rotated"), ("join_attempt", "link_rotated"), ("open", None),
    ]


def test_an_expired_link_says_how_to_reschedule(store: Store, receiver: str) -> None:
    store.write(TENANT, [interview(start=utcnow() - timedelta(hours=3))])
    url = join_link(store, IV, base_url=receiver)
    page = get(url + "?lang=en")
    assert page.status_code == 410 and "This link has expired" in page.text and "reply to the invitation" in page.text
    assert [(e.type.value, e.code) for e in link_events(store)] == [("open", "link_expired")]


def test_a_cancelled_interview(store: Store, receiver: str) -> None:
    url = join_link(store, IV, base_url=receiver)
    store.write(TENANT, [interview(status=InterviewStatus.cancelled)])
    assert "此面试已取消" in get(url).text
    assert [e.code for e in link_events(store)] == ["link_cancelled"]


def test_a_missing_platform_link_is_a_join_error(store: Store, receiver: str) -> None:
    store.write(TENANT, [interview(join_url=None)])
    url = join_link(store, IV, base_url=receiver)
    assert "<form" not in get(url).text
    failed = post(url)  # a page opened before the link vanished
    assert failed.status_code == 503 and "面试入口暂未就绪" in failed.text
    assert [(e.type.value, e.code) for e in link_events(store)] == [("open", None), ("join_error", "no_join_url")]


def test_unknown_tokens_record_nothing(store: Store, receiver: str) -> None:
    assert get(f"{receiver}/j/not-a-token").status_code == 404
    assert post(f"{receiver}/j/not-a-token").status_code == 404
    confirm = issue_token(store, IV, purpose=LinkPurpose.confirm)
    assert get(f"{receiver}/j/{confirm.token}").status_code == 404
    join_token = join_link(store, IV, base_url=receiver).rsplit("/", 1)[1]
    assert get(f"{receiver}/r/{join_token}").status_code == 404  # remediation's pages are mounted too
    assert link_events(store) == []


def test_language_candidate_preference_then_tenant_default(store: Store, tmp_path: Path) -> None:
    seed(store, candidate("cand1", locale="en-US", timezone="Europe/London"), candidate("cand2", locale="fr"),
         interview("iv1", candidate="cand1"), interview("iv2", candidate="cand2", thread="thread-2"))
    with running_receiver(load_config(tmp_path, locale="en"), store) as url:
        english = get(join_link(store, IV, base_url=url))
        assert english.text.count("Join now") == 1 and "Europe/London" in english.text
        assert "English" not in english.text and 'href="?lang=zh-CN"' in english.text
        assert "Join now" in get(join_link(store, canonical_id(SOURCE, "iv2"), base_url=url)).text  # tenant default
        chinese = get(join_link(store, IV, base_url=url) + "?lang=zh-CN")
        assert "进入面试" in chinese.text and "Europe/London" in chinese.text


def test_tokens_never_reach_the_logs(store: Store, receiver: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lifeline")
    url = join_link(store, IV, base_url=receiver)
    token = url.rsplit("/", 1)[1]
    get(url)
    post(url)
    get(f"{receiver}/j/{token}x")
    assert "GET /j/{token} -> 200" in caplog.text and "POST /j/{token} -> 303" in caplog.text
    assert token not in caplog.text and JOIN_URL not in caplog.text


def test_the_receiver_serves_the_confirm_page_every_reminder_links_to(tmp_path: Path, store: Store) -> None:
    seed(store)
    config = load_config(tmp_path)
    token = issue_token(store, IV, purpose=LinkPurpose.confirm).token
    with running_receiver(config, store) as url:
        page = requests.get(f"{url}/c/{token}", timeout=10)
        assert page.status_code == 200 and page.text.count("<button") == 3
        assert requests.get(f"{url}/c/not-a-token", timeout=10).status_code == 404
        done = requests.post(f"{url}/c/{token}", data={"action": "decline", "lang": "en"}, timeout=10)
    assert done.status_code == 200
    with store.engine.connect() as conn:
        answer = conn.execute(sa.select(evidence.c.data).where(evidence.c.kind == "confirmation")).scalar_one()
    assert answer["action"] == "decline" and answer["interview_id"] == IV
