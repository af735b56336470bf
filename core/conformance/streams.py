"""Stream cases, one of each per declared stream: declared record types, monotone checkpoints, resuming from
a cursor, nothing new after the last checkpoint, malformed vendor records quarantined."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lifeline_hub.core.config import ConnectorSetup, InstanceConfig
from lifeline_hub.core.conformance.cases import case
from lifeline_hub.core.conformance.rig import Rig, read_all, with_handoff
from lifeline_hub.core.connector import Checkpoint, Connector, Malformed, StreamInfo, StreamItem
from lifeline_hub.core.models import Record
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import sync_stream

Seed = Mapping[str, Sequence[Any]]
"""What seeding a stream hands it: cursor key -> items (an action's `ActionResult.handoff[stream]`), or {}."""


def stream_names(suite: Any) -> list[str]:
    return [s.name for s in suite.connector.streams]


def records(items: Sequence[StreamItem]) -> list[Record]:
    return [item for item in items if isinstance(item, Record)]


def identities(items: Sequence[StreamItem]) -> set[tuple[str, str]]:
    return {(type(r).__name__, r.id) for r in records(items)}


def last_cursor(items: Sequence[StreamItem]) -> Mapping[str, Any]:
    checkpoints = [item for item in items if isinstance(item, Checkpoint)]
    assert checkpoints, "the read yielded no Checkpoint: the next read would start over"
    return checkpoints[-1].cursor


class StreamCases:
    connector: ClassVar[type[Connector]]
    resume_after_seconds: ClassVar[float]

    def seed_stream(self, stream: str, rig: Rig, round: int) -> Seed:
        """Put new vendor data for `stream` into the emulator (`rig.world`, or through the connector, e.g. an
        action whose handoff the stream polls): round 1 before the first read, round 2 (new objects, other
        ids) before the resumed read. Return the handoff for this stream, {} when it finds its data itself."""
        raise NotImplementedError(f"{type(self).__name__}: seed_stream must seed stream {stream!r}")

    def info(self, stream: str) -> StreamInfo:
        return next(s for s in self.connector.streams if s.name == stream)

    def first_read(self, rig: Rig, stream: str) -> list[StreamItem]:
        with rig.world.faults.paused():
            seeded = self.seed_stream(stream, rig, 1)
        return read_all(rig.connector(), stream, with_handoff({}, seeded))

    @case(param="stream", values=stream_names)
    def stream_yields_its_declared_records(self, rig: Rig, stream: str) -> None:
        """A read of seeded vendor data yields at least one record; every record is one of the types the
        stream declares (`StreamInfo.produces`) and carries this instance as its `source`; clean vendor data
        yields no `Malformed`; every item is a Record, Checkpoint or Malformed."""
        items = self.first_read(rig, stream)
        produces = self.info(stream).produces
        assert records(items), f"stream {stream!r} yielded no record from the seeded data"
        for item in items:
            assert isinstance(item, Record | Checkpoint | Malformed), f"stream yielded {type(item).__name__}"
            assert not isinstance(item, Malformed), f"clean data quarantined: {item.reason}"
            if isinstance(item, Record):
                assert isinstance(item, produces), f"{type(item).__name__} is not declared in {produces}"
                assert item.source == rig.instance.name

    @case(param="stream", values=stream_names)
    def stream_checkpoints_are_monotone(self, rig: Rig, stream: str) -> None:
        """A read ends with a `Checkpoint`, and checkpoint watermarks never go back (a watermark says up to
        when data is complete; reconcile waits for it)."""
        items = self.first_read(rig, stream)
        last_cursor(items)
        marks = [item.watermark for item in items if isinstance(item, Checkpoint) and item.watermark is not None]
        assert marks == sorted(marks), f"watermarks went back: {marks}"

    @case(param="stream", values=stream_names)
    def stream_second_read_yields_nothing_new(self, rig: Rig, stream: str) -> None:
        """A read from the last checkpoint's cursor, with no new vendor data, yields no record the first read
        did not (re-reading some is fine: records are upserted)."""
        first = self.first_read(rig, stream)
        again = read_all(rig.connector(), stream, last_cursor(first))
        new = identities(again) - identities(first)
        assert not new, f"nothing changed at the vendor, yet the second read yielded {sorted(new)[:5]}"
        last_cursor(again)

    @case(param="stream", values=stream_names)
    def stream_resumes_from_its_cursor(self, rig: Rig, stream: str) -> None:
        """After vendor data changes (round 2 of `seed_stream`, `resume_after_seconds` later on the fake
        clock), a read from the last checkpoint's cursor, on a fresh connector instance, yields the new
        records: the cursor is all the state a stream keeps."""
        first = self.first_read(rig, stream)
        rig.clock.advance(self.resume_after_seconds)
        with rig.world.faults.paused():
            seeded = self.seed_stream(stream, rig, 2)
        resumed = read_all(rig.connector(), stream, with_handoff(last_cursor(first), seeded))
        assert identities(resumed) - identities(first), "the resumed read missed the new vendor data"

    @case(param="stream", values=stream_names)
    def stream_quarantines_malformed_vendor_records(self, rig: Rig, stream: str, conformance_store: Store) -> None:
        """With the emulator corrupting vendor records (fault `malformed`), a sync of the stream does not
        raise: the bad records are quarantined with a reason (`Malformed`), the rest stored."""
        with rig.world.faults.paused():
            seeded = self.seed_stream(stream, rig, 1)
        if seeded:
            with conformance_store.begin() as conn:
                conformance_store.add_handoff(conn, rig.instance.name, {stream: seeded})
        rig.faults(malformed=1.0)
        setup = ConnectorSetup(rig.instance.tenant, rig.instance.name.partition(".")[2],
                               InstanceConfig(plugin=self.connector.name), self.connector,
                               self.connector.settings_model.model_validate(dict(rig.settings)), rig.instance)
        summary = sync_stream(conformance_store, setup, stream, rig.connector())
        assert summary.error is None
        assert summary.written.quarantined >= 1, "no vendor record was quarantined under the malformed fault"


__all__ = ["Seed", "StreamCases"]
