"""A candidate who follows the Official Account through a parametric QR code naming them (`EventKey`
`qrscene_<candidate id>`) is reachable on WeChat from then on: the subscribe event, pushed encrypted to the real
receiver, tells Lifeline the openid (SQLite and PostgreSQL)."""

from __future__ import annotations

from lifeline_hub.core.models import Channel
from tests.wechat.oa_helpers import TENANT
from tests.wechat.test_wechat_callbacks import Hub, hub  # noqa: F401 (the fixture)

CANDIDATE = "acme.ats/cand4"
"""Seeded with a phone only."""


def _follow(hub: Hub, openid: str, scene: str) -> None:  # noqa: F811
    hub.world.set_status(openid, "success")
    hub.world.push_event({"FromUserName": openid, "Event": "subscribe", "EventKey": scene})
    hub.deliver()


def test_a_follow_through_a_code_naming_the_candidate_makes_them_reachable(hub: Hub) -> None:  # noqa: F811
    assert not hub.reachable("cand4")
    _follow(hub, "oFollowsThroughCode01", f"qrscene_{CANDIDATE}")
    found = hub.store.contact(CANDIDATE, Channel.wechat)
    assert found is not None and found.value.get_secret_value() == "oFollowsThroughCode01"
    assert hub.evidence(kind="contact_change", tenant=TENANT, ref=CANDIDATE) == 1


def test_a_follow_through_any_other_code_names_nobody(hub: Hub) -> None:  # noqa: F811
    _follow(hub, "oFollowsThroughAd0001", "qrscene_campaign42")
    _follow(hub, "oFollowsPlainly000001", "")
    assert not hub.reachable("cand4")
    assert hub.evidence(kind="contact_change", ref=CANDIDATE) == 0 and hub.evidence(kind="contact_change") == 2
