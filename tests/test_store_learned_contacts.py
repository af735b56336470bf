"""The store learns a candidate's WeChat account from the vendor's event that names them: a candidate who adds the
recruiter's WeCom (or follows the Official Account) through a code naming them is reachable there from then on,
whichever arrives first (the event or the ATS's candidate), and an ATS resync keeps what was learned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lifeline_hub.core.models import Candidate, Channel, ContactChange, ContactPoint
from lifeline_hub.core.store import Store, schema

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
CANDIDATE = "acme.hire/c1"


def _ats() -> Candidate:
    return Candidate(source="acme.hire", remote_id="c1", name="Li Lei", contacts=(ContactPoint.phone("13812341234"),))


def _change(remote_id: str, at: datetime, reachable: bool = True, channel: str = "wechat", address: str = "oWx-42",
            candidate: str | None = CANDIDATE) -> ContactChange:
    return ContactChange(source="acme.wechat", remote_id=remote_id, occurred_at=at, channel=channel,
                         address=address, reachable=reachable, reason="subscribe" if reachable else "unsubscribe",
                         candidate_id=candidate)


def _points(store: Store) -> list[tuple[str, str, bool]]:
    cp = schema.contact_points
    with store.engine.connect() as conn:
        return [(r.channel, r.masked, r.reachable) for r in conn.execute(
            sa.select(cp).where(cp.c.candidate_id == CANDIDATE).order_by(cp.c.rank))]


def test_a_follow_naming_the_candidate_adds_their_account_and_a_resync_keeps_it(store: Store) -> None:
    store.write("acme", [_ats()])
    store.write("acme", [_change("f1", T0)])
    found = store.contact(CANDIDATE, Channel.wechat)
    assert found is not None and found.value.get_secret_value() == "oWx-42"
    assert _points(store) == [("sms", "138****1234", True), ("wechat", "oWx-42", True)]
    store.write("acme", [_ats()])  # the ATS rewrites the candidate's contact points: the learned one stays
    assert _points(store) == [("sms", "138****1234", True), ("wechat", "oWx-42", True)]
    store.write("acme", [_change("f1", T0), _change("f1", T0)])  # the same event again: one point
    assert len(_points(store)) == 2
    store.write("acme", [_change("u1", T0 + timedelta(hours=1), reachable=False, candidate=None)])  # unfollows
    assert store.contact(CANDIDATE, Channel.wechat) is None
    assert _points(store)[1] == ("wechat", "oWx-42", False)


def test_the_event_may_come_before_the_candidate(store: Store) -> None:
    store.write("acme", [_change("f1", T0)])
    assert _points(store) == []
    store.write("acme", [_ats()])
    assert [p[0] for p in _points(store)] == ["sms", "wechat"]


def test_only_account_channels_of_the_named_candidate_of_the_tenant_are_learned(store: Store) -> None:
    store.write("acme", [_ats()])
    store.write("beta", [_change("f1", T0)])  # another tenant's event naming this id
    store.write("acme", [_change("p1", T0, channel="sms", address="13900001111"),  # a phone: never from an event
                         _change("f2", T0, candidate=None),  # names nobody
                         _change("f3", T0, reachable=False)])  # unreachable: nothing to learn
    assert [p[0] for p in _points(store)] == ["sms"]
    assert store.contact(CANDIDATE, Channel.wechat) is None
