"""Two test-local plugins the way a third-party IM plugin would be written: `imtest` reaches candidates on its own
channel (an account id, like WeCom's external_userid) by `send_message`, and reaches no staff; `staffchat` is a
staff platform by declaration (`reaches_staff`) with no task action. Importing this module registers the channel."""

from __future__ import annotations

from collections.abc import Callable

from lifeline_hub.core.api import ChannelInfo, Connector, hookimpl

LIFELINE_PLUGIN_API = (1, 0)
IM = ChannelInfo("imtest", "IM (test)", "account", delivery_known=True, read_known=False, click_known=True)


class ImTestConnector(Connector):
    name = "imtest"
    channels = (IM,)
    actions = ("send_message",)


class StaffChatConnector(Connector):
    name = "staffchat"
    actions = ("send_message",)
    reaches_staff = True


@hookimpl
def lifeline_register_connectors(register: Callable[[type[Connector]], None]) -> None:
    register(ImTestConnector)
    register(StaffChatConnector)
