"""A plugin takes part in the sandbox through the `SandboxActor` its connector class names: set up, booked on,
observed in role order, ticked, its world's clock moved by the sandbox, and counted in the tally."""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from lifeline_hub.core import Connector, hookimpl
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.emulator import EmulatorWorld, Faults
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.models.time import freeze_clock, reset_clock
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.sandbox import (
    Booking,
    Intent,
    Kind,
    Role,
    Sandbox,
    SandboxActor,
    Tally,
    Traits,
    actor_class,
    worlds_of,
)

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MODULE = __name__


class WorldSettings(BaseModel):
    faults: Faults = Field(default_factory=Faults)


class ChatWorld(EmulatorWorld[WorldSettings]):
    """A vendor's state on the shared emulator base: messages its users got, interviews booked on it."""

    def __init__(self) -> None:
        super().__init__(WorldSettings())
        self.inbox: list[tuple[str, str]] = []
        self.booked: list[str] = []
        self.ticks = 0

    def api_calls(self) -> int:
        return 0

    def summary(self) -> dict[str, Any]:
        return {"messages": len(self.inbox)}


calls: list[str] = []


class WeComActor(SandboxActor[ChatWorld]):
    """Candidates read their WeCom messages; AI interviews are booked here too."""

    role = Role.candidate_channel
    hosts = (Kind.ai,)

    def setup(self) -> None:
        calls.append("wecom.setup")

    def observe(self) -> None:
        calls.append("wecom.observe")
        for n, (address, text) in enumerate(self.world.inbox):
            b = self.sandbox.candidate_by_email(address)
            if b is not None and self.sandbox.first_look(f"wecom/{n}"):
                self.sandbox.at(utcnow() + timedelta(minutes=5), self.sandbox.read, b, text, "wecom")

    def book(self, b: Booking) -> str:
        self.world.booked.append(b.ref)
        return f"wecom-{b.ref}"

    def tick(self) -> None:
        self.world.ticks += 1

    def tally(self, into: Tally) -> None:
        into.candidate_messages["wecom"] = len(self.world.inbox)


class StaffActor(SandboxActor[ChatWorld]):
    role = Role.staff_channel

    def observe(self) -> None:
        calls.append("ahr.observe")


class PlatformActor(SandboxActor[ChatWorld]):
    role = Role.interview_platform

    def observe(self) -> None:
        calls.append("aaplatform.observe")


def connector(name: str, actor: str | None) -> type[Connector]:
    return type(name, (Connector,), {"name": name, "sandbox_actor": actor and f"{MODULE}:{actor}"})


CONNECTORS = [connector("wecom", "WeComActor"), connector("ahr", "StaffActor"),
              connector("aaplatform", "PlatformActor"), connector("silent", None)]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    def register_all(register: Callable[[type[Connector]], None]) -> None:
        for cls in CONNECTORS:
            register(cls)

    host = PluginHost()
    host.register(types.SimpleNamespace(lifeline_register_connectors=hookimpl(register_all)), "toys")
    text = f'[lifeline]\nstore = "sqlite:///{tmp_path / "l.db"}"\n' + "".join(
        f'[tenants.acme.connectors.{cls.name}]\nplugin = "{cls.name}"\n' for cls in CONNECTORS)
    (tmp_path / "plugins.toml").write_text(text, encoding="utf-8")
    return load(tmp_path / "plugins.toml", host)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    calls.clear()
    try:
        yield freeze_clock(START)
    finally:
        reset_clock()


def booking(ref: str, kind: Kind) -> Booking:
    traits = Traits(phone_ok=True, email_ok=True, scanner=False, sms_read=1.0, email_read=1.0, intent=Intent.no_show,
                    late=False, device_trouble=False, wants_second_chance=False)
    start = START + timedelta(days=1)
    return Booking(ref, "n", "", f"{ref}@example.com", kind, START + timedelta(hours=1), start,
                   start + timedelta(hours=24), traits)


def test_a_plugins_actor_is_set_up_booked_on_observed_ticked_and_tallied(config: Config, frozen: datetime) -> None:
    worlds = {cls.name: ChatWorld() for cls in CONNECTORS}
    wecom = worlds["wecom"]
    for world in worlds.values():
        world.clock.freeze(frozen.timestamp())
    sandbox = Sandbox(config, "acme", worlds_of(config, "acme", {f"acme.{c.name}": worlds[c.name] for c in CONNECTORS}),
                      "http://127.0.0.1:9", [booking("r1", Kind.ai), booking("r2", Kind.live)], seed=1)
    assert [type(a) for a in sandbox.actors] == [WeComActor, StaffActor, PlatformActor]  # by role; silent: none
    sandbox.setup()
    sandbox.advance_to(frozen + timedelta(hours=2))
    assert wecom.booked == ["r1"] and sandbox.by_remote == {"wecom-r1": sandbox.bookings[0]}
    assert sandbox.did["failed_actions"] == 1  # nobody hosts live interviews here: the booking fails, the run goes on
    assert wecom.ticks == 1 and wecom.now() == worlds["silent"].now() == (frozen + timedelta(hours=2)).timestamp()
    wecom.inbox.append(("R1@example.com", "您的面试明天开始"))
    sandbox.observe()
    assert calls == ["wecom.setup", "wecom.observe", "ahr.observe", "aaplatform.observe"]
    sandbox.advance_to(frozen + timedelta(hours=3))
    assert sandbox.did["read_wecom"] == 1 and "reached" in sandbox.bookings[0].facts
    tally = Tally()
    for actor in sandbox.actors:
        actor.tally(tally)
    assert tally.candidate_messages == {"wecom": 1}


def test_a_sandbox_actor_path_must_name_an_actor_class() -> None:
    assert actor_class(CONNECTORS[0]) is WeComActor and actor_class(CONNECTORS[3]) is None
    with pytest.raises(TypeError, match=r"connector .broken.: sandbox_actor .* is not a SandboxActor subclass"):
        actor_class(connector("broken", "ChatWorld"))
