"""Lifeline core: what a plugin author needs is re-exported here and kept small and stable.

    from lifeline_hub.core import Connector, StreamInfo, Checkpoint, hookimpl
    from lifeline_hub.core.models import Interview, LinkEvent
    from lifeline_hub.core.http import VendorClient, TokenProvider, Quota
"""

from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import (
    ActionResult,
    CallbackRejected,
    CallbackRequest,
    CallbackResult,
    Checkpoint,
    CheckResult,
    Connector,
    Instance,
    Malformed,
    NoSettings,
    StreamInfo,
    StreamItem,
)
from lifeline_hub.core.hookspecs import hookimpl

__all__ = [
    "ActionResult", "CallbackRejected", "CallbackRequest", "CallbackResult", "CheckResult", "Checkpoint",
    "Connector", "Credentials", "Instance", "Malformed", "NoSettings", "StreamInfo", "StreamItem", "hookimpl",
]
