"""`world.served` holds an answer before the client can have it: a test reading it right after a call finds it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, Field

from lifeline_hub.core.emulator import EmulatorWorld, Faults, _ServedLog


class Knobs(BaseModel):
    faults: Faults = Field(default_factory=Faults)


class Tiny(EmulatorWorld[Knobs]):
    def api_calls(self) -> int:
        return 0

    def summary(self) -> dict[str, Any]:
        return {}


def test_an_answer_is_kept_before_its_last_byte_leaves() -> None:
    world = Tiny(Knobs())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"ok"', "more_body": True})
        await send({"type": "http.response.body", "body": b": true}"})

    kept_when_sent: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.body":
            kept_when_sent.append(len(world.served))

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    asyncio.run(_ServedLog(app, world)({"type": "http", "method": "GET", "path": "/v1/x"}, receive, send))
    assert kept_when_sent == [0, 1]
    assert [(s.method, s.route, s.status, s.body) for s in world.served] == [("GET", "/v1/x", 200, {"ok": True})]


def test_a_crash_is_kept_as_a_500() -> None:
    """An emulator that raises answers 500 to the client: the contract tests must see that answer too."""
    world = Tiny(Knobs())

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("emulator bug")

    async def send(message: Any) -> None:
        raise AssertionError("nothing is sent by a crashing app")

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    with pytest.raises(RuntimeError, match="emulator bug"):
        asyncio.run(_ServedLog(app, world)({"type": "http", "method": "POST", "path": "/v1/y"}, receive, send))
    assert [(s.method, s.route, s.status, s.body) for s in world.served] == [("POST", "/v1/y", 500, None)]
