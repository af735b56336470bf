"""The evidence trail shows the changes of the interview's candidate's contact points, masked and not
counted, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeline_hub.core.models import AppointmentThread, Candidate, Channel, ContactChange, ContactPoint, Interview
from lifeline_hub.core.models import InterviewKind as Kind
from lifeline_hub.core.reconcile import evidence_trail
from lifeline_hub.core.store import Store

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def change(remote_id: str, channel: str, address: str, **fields: object) -> ContactChange:
    return ContactChange.model_validate({"source": "acme.wecom", "remote_id": remote_id,
                                         "occurred_at": T0 - timedelta(hours=5), "channel": channel,
                                         "address": address, "reachable": False, **fields})


def test_the_trail_shows_the_candidates_contact_changes_masked_and_not_counted(store: Store) -> None:
    mine = Candidate(source="acme.hire", remote_id="c1", name="Li Lei",
                     contacts=(ContactPoint.im(Channel.wechat, "oWx-42"), ContactPoint.phone("13812341234")))
    theirs = Candidate(source="acme.hire", remote_id="c2", name="Han Meimei",
                       contacts=(ContactPoint.im(Channel.wechat, "oWx-77"),))
    iv = Interview(source="acme.hire", remote_id="iv1", kind=Kind.video, start_at=T0, end_at=T0 + timedelta(hours=1),
                   candidate_id=mine.id, thread=AppointmentThread(thread_id="iv1", ical_uid="iv1@hire"))
    store.write("acme", [mine, theirs, iv,
                         change("del-1", "wechat", "oWx-42", reason="del_follow_user"),
                         change("dead-1", "sms", "13812341234", source="acme.sms", reason="MOBILE_NOT_ON_SERVICE"),
                         change("del-2", "wechat", "oWx-77", reason="del_follow_user"),
                         change("named", "wechat", "oWx-99", candidate_id=mine.id, reachable=True)])
    store.write("other", [change("del-3", "wechat", "oWx-42")])  # another tenant's contact of the same id

    trail = evidence_trail(store, iv.id)
    assert trail is not None
    shown = sorted((e.event, e.channel, e.detail, e.counted) for e in trail.entries)
    assert shown == [
        ("contact reachable again", "wechat", "oWx-99; not counted", False),
        ("contact unreachable", "sms", "138****1234; MOBILE_NOT_ON_SERVICE; no more sends there, not counted", False),
        ("contact unreachable", "wechat", "oWx-42; del_follow_user; no more sends there, not counted", False),
    ]
