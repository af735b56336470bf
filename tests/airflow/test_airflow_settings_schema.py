"""Parse time checks a connector block against the settings JSON Schema in the plugin manifest exactly where
the run-time load (`lifeline check`) checks it against the plugin's model: the same keys, never stricter."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeline_hub.core import config
from lifeline_hub.core.airflow import layout
from lifeline_hub.core.airflow.manifest import Manifest
from lifeline_hub.core.plugins import PluginHost


def keys(problems: list[str]) -> list[str]:
    """`file: key` of each `file: key: problem` line (the wording differs: pydantic's and jsonschema's)."""
    return sorted(":".join(line.split(":")[:2]) for line in problems if line.startswith("plugins.toml: "))


DT = '[tenants.acme.connectors.dt]\nplugin = "dingtalk"\n'
WHERE = "plugins.toml: tenants.acme.connectors"


@pytest.mark.parametrize(("block", "refused"), [
    (f'{DT}corp_id = "c"\nagent_id = "12"\ntodo_due_hours = "2.5"\n', []),  # pydantic's lax mode reads these
    (f'{DT}corp_id = "c"\nagent_id = 1\nrobot_code = "r"\ncalendar_owners = ["u1"]\n', []),
    ('[tenants.acme.connectors.mail]\nplugin = "email"\nfrom_address = "hr@example.org"\nstarttls = "no"\n', []),
    (f'{DT}corp_id = "c"\nagent_idd = 1\n', [f"{WHERE}.dt.agent_id", f"{WHERE}.dt.agent_idd"]),
    (f'{DT}corp_id = ""\nagent_id = "x"\nding_remind_type = "2"\n',
     [f"{WHERE}.dt.agent_id", f"{WHERE}.dt.corp_id", f"{WHERE}.dt.ding_remind_type"]),
    ('[tenants.acme.connectors.fs]\nplugin = "feishu"\nhost = "larc"\n[tenants.acme.connectors.sms]\n'
     'plugin = "aliyun_sms"\nenabled = false\n', [f"{WHERE}.fs.host", f"{WHERE}.sms.sign_name"]),
])
def test_parse_time_refuses_the_keys_the_run_time_load_refuses(
        tmp_path: Path, plugin_manifest: Path, block: str, refused: list[str]) -> None:
    path = tmp_path / "plugins.toml"
    path.write_text(block, encoding="utf-8")
    try:
        config.load(path, PluginHost().load_entry_points())
        loaded: list[str] = []
    except config.ConfigError as exc:
        loaded = exc.problems
    try:
        layout.read(path, Manifest.read(plugin_manifest))
        parsed: list[str] = []
    except config.ConfigError as exc:
        parsed = exc.problems
    assert keys(parsed) == keys(loaded) == refused
