"""The canonical model (pydantic v2): records, contact points, instants, outcomes and actions."""

from lifeline_hub.core.models.channels import (
    Channel,
    ChannelInfo,
    channel_info,
    channels,
    known_channel,
    read_known_channels,
    register_channel,
    register_channels,
    send_actions,
)
from lifeline_hub.core.models.contact import ContactPoint, lookup_hash, normalise_email, normalise_phone
from lifeline_hub.core.models.decisions import Action, ActionStatus, Confidence, Outcome, OutcomeClass, idempotency_key
from lifeline_hub.core.models.records import (
    EVIDENCE_TYPES,
    RECORD_TYPES,
    AppointmentThread,
    Attendance,
    AttendanceReport,
    AttendanceVerdict,
    Audience,
    Candidate,
    Confirmation,
    ConfirmationAction,
    ContactChange,
    DeadlineBasis,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Evidence,
    Interview,
    InterviewKind,
    InterviewStatus,
    LinkEvent,
    LinkEventType,
    Notification,
    NotificationPurpose,
    Record,
    RequestStatus,
    RescheduleRequest,
    Role,
    Slot,
    canonical_id,
)
from lifeline_hub.core.models.time import (
    UtcDateTime,
    from_epoch,
    from_epoch_millis,
    from_epoch_seconds,
    parse_instant,
    to_epoch_millis,
    utcnow,
    zone_info,
)

__all__ = [
    "EVIDENCE_TYPES", "RECORD_TYPES", "Action", "ActionStatus", "AppointmentThread", "Attendance", "AttendanceReport",
    "AttendanceVerdict", "Audience",
    "Candidate", "Channel", "ChannelInfo", "Confidence", "Confirmation", "ConfirmationAction", "ContactChange",
    "ContactPoint", "DeadlineBasis", "DeliveryEvent", "DeliveryStatus", "DeliveryType", "Evidence", "Interview",
    "InterviewKind", "InterviewStatus", "LinkEvent", "LinkEventType", "Notification",
    "NotificationPurpose", "Outcome", "OutcomeClass", "Record", "RequestStatus", "RescheduleRequest",
    "Role", "Slot", "UtcDateTime", "canonical_id", "channel_info", "channels", "from_epoch", "from_epoch_millis",
    "from_epoch_seconds", "idempotency_key", "known_channel", "lookup_hash", "normalise_email", "normalise_phone",
    "parse_instant", "read_known_channels", "register_channel", "register_channels", "send_actions",
    "to_epoch_millis", "utcnow", "zone_info",
]
