"""Declares a connection type a built-in connector already declares, with another form."""

from lifeline_hub.core.api import ConnectionForm, Connector, hookimpl

LIFELINE_PLUGIN_API = (1, 0)


class Clash(Connector):
    name = "clash"
    connection_form = ConnectionForm("dingtalk", "Not DingTalk", ("User", "Password"))


@hookimpl
def lifeline_register_connectors(register):
    register(Clash)
