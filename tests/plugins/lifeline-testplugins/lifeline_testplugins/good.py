"""A well-behaved third-party plugin: one connector with a stream, an action, a channel and a connection type."""

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from lifeline_hub.core.api import (
    ChannelInfo,
    Checkpoint,
    Confirmation,
    ConfirmationAction,
    ConnectionForm,
    Connector,
    StreamInfo,
    hookimpl,
)

LIFELINE_PLUGIN_API = (1, 0)


class GreeterSettings(BaseModel):
    greeting: str


class Greeter(Connector):
    name = "greeter"
    description = "says hello"
    settings_model = GreeterSettings
    streams = (StreamInfo("confirmations", (Confirmation,), "one confirmation per call"),)
    actions = ("send_message",)
    channels = (ChannelInfo("greetchat", "Greet chat", "account", delivery_known=True, read_known=True,
                            click_known=True),)
    connection_form = ConnectionForm("greeter", "Greeter (test plugin)", ("Account", "Key"),
                                     {"signing_key": "Signing key"})

    def read(self, stream: str, cursor: Mapping[str, Any]) -> Iterator[Any]:
        n = int(cursor.get("n", 0)) + 1
        yield self.parse(Confirmation, {}, remote_id=f"c{n}", interview_id="iv", occurred_at="2026-01-01T00:00:00Z",
                         action=ConfirmationAction.confirm)
        yield Checkpoint({"n": n})


@hookimpl
def lifeline_register_connectors(register):
    register(Greeter)
