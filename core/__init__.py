"""Lifeline core. Plugins import from `lifeline_hub.core.api`, the versioned public plugin API:

    from lifeline_hub.core.api import Connector, StreamInfo, Checkpoint, hookimpl, Interview, VendorClient

The connector contract is also re-exported here, as before 1.0 (same objects).
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
