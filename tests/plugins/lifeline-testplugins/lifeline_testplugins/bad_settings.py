"""Declares a settings model that is not a pydantic model."""

from lifeline_hub.core import Connector, hookimpl


class NotAModel:
    pass


class BadSettings(Connector):
    name = "bad_settings"
    settings_model = NotAModel  # type: ignore[assignment]


@hookimpl
def lifeline_register_connectors(register):
    register(BadSettings)
