"""A channel a plugin declares: its records are stored and its declared observability drives the decision.

`wecom_test` reports deliveries but not reads, so a "read" it reports is a delivery and the miss is
`delivered_read_unknown`, never `read`/`delivered_unread`; `wecom_test_app` reports reads, so the same
receipts make `missed_read_no_show` (`read`), and a delivery without a read is `delivered_unread`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from lifeline_hub.core.models import DeliveryType
from lifeline_hub.core.reconcile.trail import evidence_trail
from lifeline_hub.core.store import Store
from tests.reconcile.plugin_channel import WECOM, WECOM_APP
from tests.reconcile.scenario import MIN, T0, World, config

NOW = T0 + 2 * timedelta(hours=1)


def test_a_plugin_channel_is_reach_only_as_far_as_it_declares(store: Store, tmp_path: Path) -> None:
    w = World(store, config(tmp_path))
    cases = {name: w.interview(name) for name in ("silent-read", "silent-delivered", "app-read", "app-delivered")}
    sent = {}
    for name, iv in cases.items():
        channel = WECOM if name.startswith("silent") else WECOM_APP
        sent[name] = w.notify(iv, T0 - 60 * MIN, channel)
        w.receipt(sent[name], T0 - 59 * MIN, DeliveryType.delivered, channel, iv=iv)
        if name.endswith("read"):
            w.receipt(sent[name], T0 - 50 * MIN, DeliveryType.read, channel, iv=iv)
    w.watermark(NOW)
    w.run(NOW)
    assert {name: outcome[:2] for name, outcome in w.current().items()} == {
        "silent-read": ("missed_not_reached", "delivered_read_unknown"),
        "silent-delivered": ("missed_not_reached", "delivered_read_unknown"),
        "app-read": ("missed_read_no_show", "read"),
        "app-delivered": ("missed_not_reached", "delivered_unread"),
    }
    for name, note in (("silent-read", "; WeCom (test) reports no reads: counted as delivered"), ("app-read", "")):
        trail = evidence_trail(store, cases[name])  # the evidence export says so too
        assert trail is not None
        assert [e.detail for e in trail.entries if e.event == "read"] == [f"for {sent[name]}{note}"]
