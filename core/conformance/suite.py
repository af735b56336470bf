"""`ConnectorSuite`: the conformance suite a connector's test module subclasses (see the package docstring)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lifeline_hub.core.conformance.actions import FAULT_ERRORS
from lifeline_hub.core.conformance.callbacks import CallbackCases
from lifeline_hub.core.conformance.cases import generate
from lifeline_hub.core.conformance.cassettes import CassetteCases
from lifeline_hub.core.conformance.check import CheckCases
from lifeline_hub.core.conformance.clock import SuiteClock
from lifeline_hub.core.conformance.rig import Rig, emulator_factory
from lifeline_hub.core.conformance.settings import SettingsCases
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import Connector, Instance
from lifeline_hub.core.emulator import EmulatorWorld, FaultKind, LoopbackServer
from lifeline_hub.core.http import VendorError
from lifeline_hub.core.models import Candidate
from lifeline_hub.core.store import Store


class ConnectorSuite(SettingsCases, CheckCases, CassetteCases, CallbackCases):
    """Subclass it as `Test<Name>` in one test module, naming the connector, its sample settings and the
    hooks below; pytest then runs every case that applies to the connector (`test_<case>`, parametrized by
    stream, action or fault). Required: `connector`, `settings`, `make_world`; `seed_stream` when the
    connector declares streams; `action_payload` and `vendor_effects` when it declares actions.
    """

    connector: ClassVar[type[Connector]]
    """The connector class under test (its `emulator = "module:factory"` is served for every case)."""
    settings: ClassVar[Mapping[str, Any]]
    """Valid sample settings, as an instance table in plugins.toml holds them (TOML values only)."""
    tenant: ClassVar[str] = "acme"
    """The tenant of the instance under test; the instance is `<tenant>.<connector name>`."""
    start: ClassVar[datetime] = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    """Where the fake clock starts (a fixed instant: no case depends on today's date)."""
    candidates: ClassVar[Sequence[Candidate]] = ()
    """Candidates (with contact points) in the store the connector reads addresses from (`ContactBook`)."""
    fault_errors: ClassVar[Mapping[FaultKind, type[VendorError]]] = FAULT_ERRORS
    """Fault knob -> typed error each action must raise under it; drop a knob the emulator cannot honour."""
    stall_seconds: ClassVar[float] = 1.5
    """How long an emulated timeout stalls a call; the sample settings' read timeout must be shorter."""
    resume_after_seconds: ClassVar[float] = 300.0
    """Fake seconds between the first read and round 2 of `seed_stream` in the resume case."""
    records_http: ClassVar[bool] = True
    """False for a connector that speaks no HTTP (SMTP): no cassette case."""
    cassette_dir: ClassVar[Path | None] = None
    """The connector's committed cassettes, scanned for secrets and contact data too."""
    known_gaps: ClassVar[Mapping[str, str]] = {}
    """Test id (`test_<case>[<param>]`) -> why the connector fails it today: run as a strict xfail, so the gap
    shows in every run and the run fails once it is closed (then delete the entry)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "connector", None) is not None:
            generate(cls, cls.known_gaps)

    # -- hooks ------------------------------------------------------------------------------------------

    def make_world(self, clock: SuiteClock) -> EmulatorWorld[Any]:
        """A fresh emulator world on the fake clock: pass `now=clock.time` (and `clock.monotonic` to any quota
        meter that takes a clock) so the vendor's time is the connector's."""
        raise NotImplementedError(f"{type(self).__name__}: make_world(clock) must build the emulator's world")

    def base_urls(self, world: EmulatorWorld[Any], url: str) -> Mapping[str, str]:
        """The instance's base URLs; default: every key of `connector.default_base_urls` at the emulator."""
        return dict.fromkeys(self.connector.default_base_urls, url)

    def world_settings(self, world: EmulatorWorld[Any]) -> Mapping[str, Any]:
        """Settings that name things the emulator made (a calendar id...), merged over `settings`; default none."""
        return {}

    def credentials(self, world: EmulatorWorld[Any]) -> Credentials | None:
        """The connection the emulator accepts; default: `connector.emulator_connection(world)`."""
        conn = self.connector.emulator_connection(world)
        if conn is None:
            return None
        return Credentials(conn_id=f"conformance_{self.connector.name}", conn_type=self.connector.name,
                           login=conn.get("login"), password=conn.get("password"), extra=conn.get("extra") or {})

    # -- fixtures ---------------------------------------------------------------------------------------

    @pytest.fixture
    def suite_clock(self) -> Iterator[SuiteClock]:
        """The fake clock, installed for the case (HTTP toolkit and `utcnow`)."""
        with SuiteClock(self.start).running() as clock:
            yield clock

    def _rig(self, clock: SuiteClock, contacts: Store | None) -> Iterator[Rig]:
        world = self.make_world(clock)
        try:
            with LoopbackServer(emulator_factory(self.connector)(world=world)) as server:
                name = f"{self.tenant}.{self.connector.name}"
                instance = Instance(self.tenant, name, base_urls=dict(self.base_urls(world, server.url)))
                settings = {**self.settings, **self.world_settings(world)}
                yield Rig(self.connector, instance, settings, world, server.url, clock,
                          self.credentials(world), contacts)
        finally:
            world.close()

    @pytest.fixture
    def rig(self, suite_clock: SuiteClock, tmp_path: Path) -> Iterator[Rig]:
        """The emulator on loopback and the connector pointed at it, on the fake clock; the connector looks
        contacts up in a store (a SQLite file) holding `candidates`."""
        contacts = Store(f"sqlite:///{tmp_path / 'contacts.db'}")
        contacts.upgrade()
        if self.candidates:
            contacts.write(self.tenant, self.candidates)
        try:
            yield from self._rig(suite_clock, contacts)
        finally:
            contacts.engine.dispose()
