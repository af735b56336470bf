"""Registers the aiplatform connector (entry point `aiplatform = "connectors.aiplatform.plugin"`)."""

from __future__ import annotations

from collections.abc import Callable

from connectors.aiplatform.connector import AIPlatformConnector
from core import Connector, hookimpl


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(AIPlatformConnector)
