"""Registers a connector under a name the good plugin already took."""

from lifeline_hub.core import Connector, hookimpl


class Impostor(Connector):
    name = "greeter"


@hookimpl
def lifeline_register_connectors(register):
    register(Impostor)
