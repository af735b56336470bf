"""HR's signed links: only the deployment's key makes one, and each stops working a week after its task is due.

A missed interview in a real store (SQLite and PostgreSQL), remediation and dispatch against the
DingTalk emulator, and Lifeline's receiver on loopback: the links HR got, and links someone forged.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.models import OutcomeClass, utcnow
from lifeline_hub.core.models.contact import DEV_HASH_KEY
from lifeline_hub.core.outbox import dispatch
from lifeline_hub.core.receiver.app import create_app
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.links import HR_LINK_GRACE, HrLink, hr_link, read_hr_link
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant
from lifeline_hub.core.store.schema import evidence, outcomes

NOW = utcnow().replace(microsecond=0)
KEY = "hr-links-test-key-0123456789abcdefghij"


@pytest.fixture
def t(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedTenant]:
    monkeypatch.setenv("LIFELINE_HASH_KEY", KEY)
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


@pytest.fixture
def receiver(t: EmulatedTenant) -> Iterator[str]:
    with LoopbackServer(create_app(t.config, t.store, t.host)) as server:
        yield server.url


def missed(t: EmulatedTenant) -> str:
    """A read-no-show whose HR task went out to DingTalk; returns the interview id."""
    t.candidate("c1", "张三")
    interview = t.interview("iv1", NOW - timedelta(hours=3), candidate="c1")
    t.decide(interview.id, OutcomeClass.missed_read_no_show, NOW)
    assert not remediate(t.store, TENANT, NOW, t.config, t.host).as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    return interview.id


def confirmed_by_hr(t: EmulatedTenant) -> int:
    with t.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(evidence).where(
            evidence.c.source == f"{TENANT}.hr")).scalar_one())


def current_outcome(t: EmulatedTenant, interview_id: str) -> str:
    with t.store.engine.connect() as conn:
        return str(conn.execute(sa.select(outcomes.c.outcome).where(
            outcomes.c.interview_id == interview_id, outcomes.c.superseded_at.is_(None))).scalar_one())


def test_a_link_signed_with_the_development_key_does_nothing(t: EmulatedTenant, receiver: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    interview_id = missed(t)
    monkeypatch.setenv("LIFELINE_HASH_KEY", DEV_HASH_KEY)  # the forger signs with the key in the source
    forged = hr_link(HrLink("attended", TENANT, interview_id, 0), base_url=receiver)
    monkeypatch.setenv("LIFELINE_HASH_KEY", KEY)  # ...the deployment has its own
    for method in ("GET", "POST"):
        page = requests.request(method, forged, timeout=10)
        assert page.status_code == 404 and "链接无效" in page.text
    assert confirmed_by_hr(t) == 0 and current_outcome(t, interview_id) == OutcomeClass.missed_read_no_show
    genuine = hr_link(HrLink("attended", TENANT, interview_id, 0), base_url=receiver)
    assert "已记录：候选人已参加" in requests.post(genuine, timeout=10).text  # the same link, signed here, works
    assert confirmed_by_hr(t) == 1


def test_the_links_in_hr_s_task_expire_a_week_after_it_is_due(t: EmulatedTenant) -> None:
    interview_id = missed(t)
    (todo,) = t.dingtalk.todo_list()
    signed = todo["detailUrl"]["pcUrl"].rsplit("/hr/", 1)[1]
    due = NOW + timedelta(hours=t.config.tenant(TENANT).policy.task_due_hours)
    expires = due + HR_LINK_GRACE
    assert read_hr_link(signed, expires - timedelta(seconds=1)) == HrLink("offer", TENANT, interview_id, 0)
    assert read_hr_link(signed, expires) is None


def test_an_expired_link_is_refused_and_performs_nothing(t: EmulatedTenant, receiver: str) -> None:
    interview_id = missed(t)
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)  # its task was due then: the link died a week later
    expired = hr_link(HrLink("attended", TENANT, interview_id, 0), base_url=receiver, due_at=long_ago)
    assert read_hr_link(expired.rsplit("/hr/", 1)[1], long_ago) is not None  # a real link, only too old
    page = requests.post(expired, timeout=10)
    assert page.status_code == 404 and "链接无效" in page.text
    assert confirmed_by_hr(t) == 0 and current_outcome(t, interview_id) == OutcomeClass.missed_read_no_show
