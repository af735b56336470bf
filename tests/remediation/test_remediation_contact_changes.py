"""A contact the vendor says is gone (a ContactChange) is no route for remediation's messages to the candidate:
the next of their channels takes the message (DingTalk, Feishu and Aliyun SMS emulators over real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.core.models import Channel, ContactChange, OutcomeClass, utcnow
from lifeline_hub.core.outbox import dispatch
from lifeline_hub.core.remediation import remediate
from lifeline_hub.core.remediation.testing import TENANT, EmulatedTenant, emulated_tenant

NOW = utcnow().replace(microsecond=0)


@pytest.fixture
def t(tmp_path: Path, db_url: str) -> Iterator[EmulatedTenant]:
    with emulated_tenant(tmp_path, db_url) as tenant:
        yield tenant


def test_a_removed_im_contact_is_passed_over_for_the_next_channel(t: EmulatedTenant) -> None:
    for name in ("kept", "gone"):
        open_id = t.candidate(f"c-{name}", name, feishu_first=True)
        interview = t.interview(f"iv-{name}", NOW - timedelta(hours=3), candidate=f"c-{name}")
        t.decide(interview.id, OutcomeClass.missed_technical, NOW)
        if name == "gone":
            t.evidence(ContactChange(source=f"{TENANT}.fs", remote_id=f"left-{open_id}", channel=Channel.feishu,
                                     occurred_at=NOW - timedelta(hours=1), address=open_id, reachable=False,
                                     reason="user left the tenant"))
    summary = remediate(t.store, TENANT, NOW, t.config, t.host)
    assert not summary.as_dict()["problems"], summary.as_dict()["problems"]
    assert dispatch(t.store, t.config, TENANT, now=NOW).dead == 0
    assert [m.recipients for m in t.feishu.messages.values()] == [[t.candidates["c-kept"]]]  # its contact holds
    (message,) = t.sms.message_list()  # the other one's Feishu contact is gone: SMS, nothing lost
    assert message["template_code"] == "SMS_910000002"
