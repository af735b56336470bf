"""Lifeline as an Airflow provider: its connection types appear in Airflow's Connections UI.

Registered by the `apache_airflow_provider` entry point `provider_info =
"lifeline_hub.core.airflow.provider:get_provider_info"`. Each connection type is a connector's
`connection_form` (`lifeline_hub.core.connection_form`), built-in or from a third-party plugin alike.
The forms are declarative (`conn-fields`, `ui-field-behaviour`, Airflow 3.2+): base URLs and
connector settings live in `plugins.toml`, so a connection holds only credentials; the extras
holding secrets are password fields, and the hooks mask them in task logs.

Airflow asks for this in many processes, so it imports neither Airflow nor a plugin: it reads the
connection types from the plugin manifest (`lifeline plugins --manifest`, the file the DAG file
reads too). Only when there is no manifest (or one written before it held connection types) does
it load the plugins itself. A plugin that failed to load contributes nothing; the others are listed.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from lifeline_hub import DISTRIBUTION
from lifeline_hub.core.connection_form import ConnectionForm

HOOKS_MODULE = "lifeline_hub.core.airflow.hooks"


def hook_class_name(conn_type: str) -> str:
    """The name of a connection type's hook in `lifeline_hub.core.airflow.hooks` (`aliyun_sms` -> `AliyunSmsHook`)."""
    return "".join(part.capitalize() for part in conn_type.split("_")) + "Hook"


def connection_forms() -> list[ConnectionForm]:
    """The connection types of the plugins that load, from the manifest if there is one; never raises."""
    forms = _manifest_forms()
    if forms is None:
        try:
            from lifeline_hub.core.plugins import get_host

            forms = get_host().connection_forms()
        except Exception:  # Airflow's provider discovery must survive anything a plugin does
            forms = []
    unique: dict[str, ConnectionForm] = {}
    for form in forms:
        unique.setdefault(form.conn_type, form)
    return list(unique.values())


def _manifest_forms() -> list[ConnectionForm] | None:
    """The forms the manifest records for its loaded plugins; None when there is no usable manifest."""
    from lifeline_hub.core.airflow import manifest

    try:
        plugins = json.loads(manifest.path().read_text(encoding="utf-8"))["plugins"]
        if not any("connection_types" in plugin for plugin in plugins):
            return None
        recorded = [form for plugin in plugins if plugin["status"] == "loaded"
                    for form in plugin.get("connection_types", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    forms = []
    for data in recorded:
        try:
            forms.append(ConnectionForm.from_json(data))
        except (ValueError, TypeError, KeyError):
            continue
    return forms


def _connection_type(form: ConnectionForm) -> dict[str, Any]:
    return {
        "connection-type": form.conn_type,
        "hook-class-name": f"{HOOKS_MODULE}.{hook_class_name(form.conn_type)}",
        "hook-name": form.hook_name,
        "ui-field-behaviour": {
            "hidden-fields": ["host", "schema", "port"],
            "relabeling": dict(zip(("login", "password"), form.labels, strict=True)),
        },
        "conn-fields": {
            key: {"label": label, "schema": {"type": ["string", "null"], "format": "password"}}
            for key, label in form.secret_extras.items()
        },
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": DISTRIBUTION,
        "name": "Lifeline",
        "description": "Connection types of Lifeline's connectors, each with a Test connection: the built-in ones "
                       "(DingTalk, Feishu, Aliyun SMS, e-mail, the AI interview platform) and those of installed "
                       "connector plugins.",
        "versions": [version(DISTRIBUTION)],
        "connection-types": [_connection_type(form) for form in connection_forms()],
    }
