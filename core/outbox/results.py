"""What dispatch keeps of an `ActionResult` besides the remote id, stored with the row's completion.

`records` (e.g. the Notification of each message sent) go into the evidence trail and `handoff`
into the `handoffs` table (the stream of the same instance takes it in on its next read), in the
transaction that marks the row done: there is no moment at which the row is done but its evidence
missing, or the other way round. A record naming another source is logged and skipped: the vendor
object exists, the row is done.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from lifeline_hub.core.connector import ActionResult
from lifeline_hub.core.models import Action
from lifeline_hub.core.store import Store

log = logging.getLogger("lifeline.outbox")


def keep(store: Store, conn: sa.Connection, action: Action, result: ActionResult) -> None:
    """Store the result's records and hand its items to the connector's streams, on `conn`."""
    records = [r for r in result.records if r.source == action.connector]
    if len(records) < len(result.records):
        log.warning("%s: %s result carries records of other sources; skipped", action.idempotency_key, action.kind)
    if records:
        store.write(action.tenant, records, conn)
    if result.handoff:
        store.add_handoff(conn, action.connector, result.handoff)
