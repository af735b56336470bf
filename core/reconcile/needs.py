"""Which evidence each interview kind needs, and so which connector streams gate its decision.

`KIND_NEEDS` is the one place this is said. A configured stream is needed by a kind when its
`StreamInfo.produces` holds any record type that kind needs; an interview of that kind is decided
only once every such stream's watermark has passed its window end + grace (the completeness gate).

| kind     | needs                                                                      |
|----------|----------------------------------------------------------------------------|
| video    | interviews, notifications, receipts, confirmations, reschedule requests, link events, attendance |
| ai_async | the same (attendance = the vendor's started/submitted states)              |
| phone    | the same without link events (there is no join link)                       |
| onsite   | interviews, notifications, receipts, confirmations, reschedule requests    |

A stream serves the kinds its `StreamInfo.kinds` names (all when None): it gates only those, and
is an attendance source only for those. A kind "has an attendance source" when it needs Attendance
and a configured stream serving it produces the candidate's (`StreamInfo.candidate_attendance`: a calendar's
check-ins of org members are the interviewers' only);
without one, no join seen is no evidence of a miss and the interview is `unknown`. Onsite attendance
only ever comes from people (an interviewer's attestation), so it is never awaited.

Evidence from sources that are not configured connector instances (Lifeline's own services: the
join-link receiver, confirmation pages, attestations) is pushed as it happens: complete up to now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lifeline_hub.core.config import ConnectorSetup
from lifeline_hub.core.listen.status import EVENTS_STREAM
from lifeline_hub.core.models import (
    Attendance,
    Confirmation,
    DeliveryEvent,
    Interview,
    InterviewKind,
    LinkEvent,
    Notification,
    Record,
    RescheduleRequest,
)

_SCHEDULE_AND_REACH: tuple[type[Record], ...] = (
    Interview, Notification, DeliveryEvent, Confirmation, RescheduleRequest,
)
KIND_NEEDS: Mapping[InterviewKind, tuple[type[Record], ...]] = {
    InterviewKind.video: (*_SCHEDULE_AND_REACH, LinkEvent, Attendance),
    InterviewKind.ai_async: (*_SCHEDULE_AND_REACH, LinkEvent, Attendance),
    InterviewKind.phone: (*_SCHEDULE_AND_REACH, Attendance),
    InterviewKind.onsite: _SCHEDULE_AND_REACH,
}

StreamKey = tuple[str, str]
"""(source, stream): a connector instance's stream, as keyed in `sync_state`."""


@dataclass(frozen=True)
class Needs:
    """A tenant's gating streams per interview kind, and the kinds with an attendance source."""

    streams: Mapping[InterviewKind, tuple[StreamKey, ...]]
    attendance: frozenset[InterviewKind]

    @property
    def all_streams(self) -> tuple[StreamKey, ...]:
        return tuple(sorted({key for keys in self.streams.values() for key in keys}))

    def fingerprint(self) -> str:
        text = repr(sorted((k.value, v) for k, v in self.streams.items())) + repr(sorted(self.attendance))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def needs_of(setups: Iterable[ConnectorSetup]) -> Needs:
    """Derive a tenant's needs from its enabled connector instances' declared streams. An instance whose
    events arrive over `lifeline listen` (`events = "stream"`) also gates, with its `events` row, every
    kind its streams gate: interviews wait while its connection is down (`core.listen.status`)."""
    setups = list(setups)
    produced: dict[StreamKey, tuple[set[type[Record]], frozenset[InterviewKind]]] = {}
    sources: set[InterviewKind] = set()
    for setup in setups:
        for info in setup.connector_class.streams:
            if info.name in setup.streams:
                kinds = frozenset(InterviewKind) if info.kinds is None else frozenset(info.kinds)
                produced[(setup.instance.name, info.name)] = (set(info.produces), kinds)
                if Attendance in info.produces and info.candidate_attendance:
                    sources |= kinds
    streams = {
        kind: tuple(sorted(key for key, (types, kinds) in produced.items() if kind in kinds and types & set(needed)))
        for kind, needed in KIND_NEEDS.items()
    }
    listened = {setup.instance.name for setup in setups if setup.config.events == "stream"}
    streams = {kind: tuple(sorted({*keys, *((source, EVENTS_STREAM) for source, _ in keys if source in listened)}))
               for kind, keys in streams.items()}
    attendance = frozenset(kind for kind, needed in KIND_NEEDS.items() if Attendance in needed and kind in sources)
    return Needs(streams, attendance)
