"""A plugin's connector that adds three channels (the way an out-of-tree WeCom plugin would), for the tests.

Importing this module is loading the plugin: the class declares the channels, defining it registers them.
"""

from __future__ import annotations

from lifeline_hub.core.connector import Connector
from lifeline_hub.core.models import ChannelInfo

SILENT = ChannelInfo("wecom_test", "WeCom (test)", "account", delivery_known=True, read_known=False,
                     click_known=True, labels=(("zh-CN", "企业微信（测试）"),))
"""Reports deliveries, not reads: a "read" it sends is no read."""
READING = ChannelInfo("wecom_test_app", "WeCom app (test)", "account", delivery_known=True, read_known=True,
                      click_known=True)
"""Reports reads."""
UNTRACKED = ChannelInfo("wecom_test_bot", "WeCom bot (test)", "account", delivery_known=False, read_known=False,
                        click_known=True)
"""Reports nothing after accepting a message (like SMTP)."""


class WeComTestConnector(Connector):
    name = "wecom_test"
    channels = (SILENT, READING, UNTRACKED)
    actions = ("send_message",)


WECOM, WECOM_APP, WECOM_BOT = SILENT.channel, READING.channel, UNTRACKED.channel
