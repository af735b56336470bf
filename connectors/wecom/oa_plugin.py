"""The `wechat` connector: WeChat Official Account template messages to candidates who follow the account."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.connector import Connector
from lifeline_hub.core.hookspecs import hookimpl

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""


class WeChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field(min_length=1, description="the Official Account's AppID")


class WeChatConnector(Connector):
    name = "wechat"
    description = "WeChat Official Account (微信公众号): template messages to followers"
    settings_model = WeChatSettings


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(WeChatConnector)
