"""Events without a public URL: `lifeline listen` keeps one outbound connection per connector instance
configured with `events = "stream"` (DingTalk Stream mode, Feishu long connection) and hands each event
to the connector's `handle_callback`, the same path as the HTTP receiver's callbacks."""

from lifeline_hub.core.listen.link import CredentialsRefused, EventLink, Inbound, Session, StreamEvent

__all__ = ["CredentialsRefused", "EventLink", "Inbound", "Session", "StreamEvent"]
