"""`lifeline demo --events stream`: the sample sandbox tenant's Feishu events (interviewers' card clicks) reach
Lifeline over the long connection (`lifeline listen` inside the demo) instead of HTTP callbacks, and a fixed
world gives the same report both ways."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from lifeline_hub.core.config import ConfigError, load
from lifeline_hub.core.demo import sandbox_tenant, with_events
from lifeline_hub.core.plugins import get_host
from tests.conftest import BIN, ROOT

WORLD = ("--interviews", "12", "--days", "2", "--seed", "4", "--start", "2026-03-02T00:00:00Z")
"""Interviewers answer the attendance card (attended and no-show) and a duplicate callback fault hits."""


def _events(store: Path) -> tuple[int, list[str]]:
    """Feishu events stored, and the states of its listener rows."""
    engine = sa.create_engine(f"sqlite:///{store}")
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.text("select count(*) from inbound_events where source = 'sandbox.feishu'"))
            rows = conn.execute(sa.text("select cursor from sync_state where source = 'sandbox.feishu' "
                                        "and stream = 'events'")).scalars().all()
            return int(stored.scalar_one()), [json.loads(r)["state"] if isinstance(r, str) else r["state"]
                                              for r in rows]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Path]]:
    """The fixed world over HTTP and over the long connection, side by side."""
    folders = {mode: tmp_path_factory.mktemp(mode) for mode in ("http", "stream")}
    procs = {mode: subprocess.Popen(
        [str(BIN / "lifeline"), "--config", str(ROOT / "plugins.toml"), "demo", *WORLD, "--free-ports",
         "--events", mode, "--store", str(folder / "demo.db"), "--json", str(folder / "demo.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for mode, folder in folders.items()}
    try:
        for proc in procs.values():
            out, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, out[-3000:] + err[-3000:]
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()
    return {mode: (json.loads((folder / "demo.json").read_text(encoding="utf-8")), folder / "demo.db")
            for mode, folder in folders.items()}


def test_stream_mode_gives_the_same_report_as_http(reports: dict[str, tuple[dict[str, Any], Path]]) -> None:
    (http, _), (stream, _) = reports["http"], reports["stream"]
    assert stream == http
    assert (stream["duplicates"], stream["false_missed"]) == (0, 0)
    assert sum(n for row in stream["confusion"].values() for n in row.values()) == 12
    assert stream["people"]["interviewer_answers_attended"] and stream["people"]["interviewer_answers_no_show"]
    assert stream["faults_injected"].get("duplicate")


def test_stream_mode_takes_feishu_events_over_the_long_connection(
        reports: dict[str, tuple[dict[str, Any], Path]]) -> None:
    over_http, over_stream = _events(reports["http"][1]), _events(reports["stream"][1])
    assert over_http[1] == []  # no listener over HTTP
    assert over_stream[1] == ["stopped"]  # the demo's listener, stopped at the end
    assert over_stream[0] == over_http[0] > 0  # the same events, each stored once


def test_an_instance_whose_sandbox_delivers_no_events_cannot_stream_in_the_demo() -> None:
    config = sandbox_tenant(load(ROOT / "plugins.toml", get_host()), "sandbox")
    setups = dict(config.setups)
    dt = setups["sandbox.dingtalk"]
    setups["sandbox.dingtalk"] = dataclasses.replace(dt, config=dt.config.model_copy(update={"events": "stream"}))
    with pytest.raises(ConfigError, match=r"sandbox\.dingtalk"):
        with_events(dataclasses.replace(config, setups=setups), "stream")
    streamed = with_events(config, "stream")
    assert [n for n, s in streamed.setups.items() if s.config.events == "stream"] == ["sandbox.feishu"]
