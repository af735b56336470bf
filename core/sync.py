"""Run one connector stream into the store, incrementally and safely.

Records are stored in batches; a `Checkpoint` commits the records before it together with the new
cursor and watermark. Work handed over by actions (`ActionResult.handoff`) is merged into the
cursor before the read and consumed by the first checkpoint. A malformed record is quarantined
with its reason. When the vendor fails mid-stream, what was read so far is kept (upserts make the
re-read harmless), the error is recorded on the stream and raised for the driver (CLI or Airflow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lifeline_hub.core import connections
from lifeline_hub.core.config import ConnectorSetup
from lifeline_hub.core.connector import Checkpoint, Connector, Malformed
from lifeline_hub.core.http.shared_limits import share_limits_at
from lifeline_hub.core.models import Record
from lifeline_hub.core.store import Store, WriteSummary


@dataclass
class SyncSummary:
    source: str
    stream: str
    written: WriteSummary = field(default_factory=WriteSummary)
    checkpoints: int = 0
    watermark: datetime | None = None
    error: str | None = None

    def line(self) -> str:
        w = self.written
        mark = self.watermark.isoformat() if self.watermark else "-"
        status = f"FAILED: {self.error}" if self.error else "ok"
        return (f"{self.source}:{self.stream}: {w.inserted} new, {w.updated} updated, {w.quarantined} quarantined, "
                f"watermark {mark}, {status}")


def build_connector(setup: ConnectorSetup, store: Store | None = None) -> Connector:
    """Instantiate a configured connector; credentials come from its connection id, contacts from the store.
    Its clients' rate limits live where the config says (`[lifeline] rate_limiter`)."""
    share_limits_at(setup.rate_limits)
    creds = connections.resolve(setup.config.connection_id) if setup.config.connection_id else None
    return setup.connector_class(setup.instance, setup.settings, creds, contacts=store)


def sync_stream(store: Store, setup: ConnectorSetup, stream: str, connector: Connector | None = None,
                batch_size: int = 500) -> SyncSummary:
    source, tenant = setup.instance.name, setup.tenant
    summary = SyncSummary(source=source, stream=stream)
    connector = connector or build_connector(setup)
    records: list[Record] = []
    bad: list[Malformed] = []
    handoff_ids, handed = store.pending_handoffs(source, stream)
    cursor = dict(store.stream_state(source, stream).cursor)
    for key, items in handed.items():
        cursor[key] = [*cursor.get(key, []), *items]

    def flush(checkpoint: Checkpoint | None) -> None:
        nonlocal handoff_ids
        summary.written.add(store.commit_batch(tenant, source, stream, records, bad, checkpoint, handoff_ids))
        if checkpoint is not None:
            handoff_ids = []
        records.clear()
        bad.clear()

    try:
        for item in connector.read(stream, cursor):
            if isinstance(item, Checkpoint):
                flush(item)
                summary.checkpoints += 1
                summary.watermark = item.watermark or summary.watermark
            elif isinstance(item, Malformed):
                bad.append(item)
            elif isinstance(item, Record) and item.source == source:
                records.append(item)
            else:
                bad.append(Malformed(f"stream yielded {type(item).__name__} not from this instance",
                                     payload=repr(item)[:2000]))
            if len(records) + len(bad) >= batch_size:
                flush(None)
    except Exception as exc:
        flush(None)
        summary.error = f"{type(exc).__name__}: {exc}"
        store.record_sync_error(tenant, source, stream, summary.error)
        raise
    if records or bad:
        flush(None)
    return summary
