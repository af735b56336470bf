"""The `wecom` connector: WeCom app messages to staff, customer-contact messages to candidates, callbacks."""

from __future__ import annotations

from collections.abc import Callable

from lifeline_hub.connectors.wecom.settings import WeComSettings
from lifeline_hub.core.connector import Connector
from lifeline_hub.core.hookspecs import hookimpl
from lifeline_hub.core.models import ChannelInfo

LIFELINE_PLUGIN_API = (1, 0)
"""The plugin API (`lifeline_hub.core.api.PLUGIN_API`) this plugin was built for."""
WECOM = ChannelInfo("wecom", "WeCom", "account", delivery_known=True, read_known=False, click_known=True,
                    labels=(("zh-CN", "企业微信"),))
"""A candidate who added a recruiter's WeCom as a WeChat contact (address: the external_userid). A customer-contact
send result says sent or not (delivery), never read."""


class WeComConnector(Connector):
    name = "wecom"
    description = "WeCom (企业微信): app messages and cards to staff, customer-contact messages to candidates"
    settings_model = WeComSettings
    channels = (WECOM,)


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(WeComConnector)
