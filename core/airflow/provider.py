"""Lifeline as an Airflow provider: its connection types appear in Airflow's Connections UI.

Registered by the `apache_airflow_provider` entry point `provider_info =
"lifeline_hub.core.airflow.provider:get_provider_info"`. The forms are declarative (`conn-fields`,
`ui-field-behaviour`, Airflow 3.2+): base URLs and connector settings live in `plugins.toml`, so a
connection holds only credentials; the extras holding secrets are password fields, and
`lifeline_hub.core.airflow.masking` masks those Airflow's own list would show.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from lifeline_hub import DISTRIBUTION
from lifeline_hub.core.airflow.hooks import HOOKS, LifelineHook


def _connection_type(hook: type[LifelineHook]) -> dict[str, Any]:
    return {
        "connection-type": hook.conn_type,
        "hook-class-name": f"{hook.__module__}.{hook.__qualname__}",
        "hook-name": hook.hook_name,
        "ui-field-behaviour": {
            "hidden-fields": ["host", "schema", "port"],
            "relabeling": dict(zip(("login", "password"), hook.labels, strict=True)),
        },
        "conn-fields": {
            key: {"label": label, "schema": {"type": ["string", "null"], "format": "password"}}
            for key, label in hook.secret_extras.items()
        },
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": DISTRIBUTION,
        "name": "Lifeline",
        "description": "Connection types of Lifeline's connectors: DingTalk, Feishu and the AI interview platform.",
        "versions": [version(DISTRIBUTION)],
        "connection-types": [_connection_type(hook) for hook in HOOKS],
    }
