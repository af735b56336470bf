"""Lifeline core: what a plugin author needs is re-exported here and kept small and stable.

    from core import Connector, StreamInfo, Checkpoint, hookimpl
    from core.models import Interview, LinkEvent
    from core.http import VendorClient, TokenProvider, Quota
"""

from core.connections import Credentials
from core.connector import (
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
from core.hookspecs import hookimpl

__all__ = [
    "ActionResult", "CallbackRejected", "CallbackRequest", "CallbackResult", "CheckResult", "Checkpoint",
    "Connector", "Credentials", "Instance", "Malformed", "NoSettings", "StreamInfo", "StreamItem", "hookimpl",
]
