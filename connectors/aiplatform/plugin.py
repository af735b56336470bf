"""Registers the aiplatform connector (entry point `aiplatform = "lifeline_hub.connectors.aiplatform.plugin"`)."""

from __future__ import annotations

from collections.abc import Callable

from lifeline_hub.connectors.aiplatform.connector import AIPlatformConnector
from lifeline_hub.core import Connector, hookimpl

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(AIPlatformConnector)
