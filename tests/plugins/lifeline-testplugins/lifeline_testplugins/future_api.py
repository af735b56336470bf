"""Built for a plugin API this Lifeline does not provide: another major version."""

from lifeline_hub.core.api import Connector, hookimpl

LIFELINE_PLUGIN_API = (2, 0)


class Future(Connector):
    name = "future"


@hookimpl
def lifeline_register_connectors(register):
    register(Future)
