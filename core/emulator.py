"""Shared pieces of the vendor emulators: fault injection, quota meters and a loopback server.

Every built-in connector ships an emulator of its vendor's HTTP API (a FastAPI app). The
vendor-specific parts (paths, envelopes, error bodies) live with the connector; what is common
lives here so all emulators take the same fault knobs and are run the same way by tests, the
sandbox and `lifeline emulate`.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal, Protocol

import uvicorn
from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field, ValidationError, validate_call

FaultKind = Literal["rate_limit", "server_error", "timeout", "expire_token", "malformed", "duplicate"]


class Faults(BaseModel):
    """Fault injection knobs: each is the probability that one request (or record) is hit."""

    model_config = ConfigDict(extra="forbid")

    rate_limit: float = Field(0.0, ge=0, le=1, description="answer with the vendor's rate-limit error")
    server_error: float = Field(0.0, ge=0, le=1, description="answer with a 5xx")
    timeout: float = Field(0.0, ge=0, le=1, description="stall past the client's timeout, then answer")
    timeout_seconds: float = Field(3.0, ge=0, description="how long a stalled request stalls")
    expire_token: float = Field(0.0, ge=0, le=1, description="treat a valid token as expired")
    malformed: float = Field(0.0, ge=0, le=1, description="corrupt one record in a listing")
    duplicate: float = Field(0.0, ge=0, le=1, description="repeat a record in a listing or a callback")
    seed: int = 0

    @classmethod
    def uniform(cls, p: float, seed: int = 0) -> Faults:
        """All faults at probability `p` (the demo's `--faults P`); timeouts kept short."""
        return cls(
            rate_limit=p,
            server_error=p,
            timeout=p / 4,
            timeout_seconds=1.5,
            expire_token=p,
            malformed=p,
            duplicate=p,
            seed=seed,
        )


class FaultPlan:
    """Draws faults from `Faults` with a seeded RNG so a run is repeatable; counts what it injected."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = defaultdict(int)
        self.suspended = False

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)

    def roll(self, kind: FaultKind) -> bool:
        """True when this request (or record) should suffer `kind`."""
        p = float(getattr(self.faults, kind))
        if p <= 0 or self.suspended:
            return False
        with self._lock:
            hit = self._rng.random() < p
            if hit:
                self.injected[kind] += 1
            return hit

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Serve faultlessly inside the block (used when tests seed or inspect state over HTTP)."""
        previous, self.suspended = self.suspended, True
        try:
            yield
        finally:
            self.suspended = previous


class QuotaMeter:
    """Counts calls per key in a sliding window and records every call over the limit.

    Emulators use it both to answer with the vendor's rate-limit error and to report breaches:
    a breach is a call the real vendor would have refused.
    """

    def __init__(self, limit: int, per_seconds: float = 1.0, clock: Any = time.monotonic) -> None:
        self.limit = limit
        self.per_seconds = per_seconds
        self._clock = clock
        self._calls: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.breaches: dict[str, int] = defaultdict(int)
        self.calls: dict[str, int] = defaultdict(int)

    def hit(self, key: str) -> bool:
        """Record one call; False (and a breach) when it exceeds the quota."""
        now = self._clock()
        with self._lock:
            window = self._calls[key]
            while window and now - window[0] >= self.per_seconds:
                window.popleft()
            self.calls[key] += 1
            if len(window) >= self.limit:
                self.breaches[key] += 1
                return False
            window.append(now)
            return True

    @property
    def total_breaches(self) -> int:
        return sum(self.breaches.values())


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackServer:
    """Runs an ASGI app with uvicorn in a background thread on 127.0.0.1.

    >>> with LoopbackServer(app) as server:
    ...     requests.get(server.url + "/health")
    """

    def __init__(self, app: Any, port: int = 0) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"loopback:{self.port}", daemon=True)

    def start(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"loopback server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ControlledWorld(Protocol):
    """What the common control endpoints need from an emulator's state object."""

    def summary(self) -> dict[str, Any]: ...

    def configure_faults(self, faults: Faults) -> Faults: ...


def control_router(world: ControlledWorld, actions: Sequence[str],
                   inspect: Mapping[str, Callable[[], Any]] | None = None,
                   bad_input: tuple[type[Exception], ...] = (KeyError, ValueError)) -> APIRouter:
    """The `/_emulator` endpoints every emulator serves: state, faults, and drive actions.

    `GET /state` (and `/state/{kind}` for each `inspect` entry), `PUT /faults` with a `Faults` body
    (what `lifeline emulate --faults` sets), `POST /drive/{action}` with the keyword arguments of
    one of the world's `actions` as JSON (validated: 422 on bad arguments, 400 on `bad_input`).
    """
    router = APIRouter(prefix="/_emulator")
    drive_actions = {name: validate_call(getattr(world, name)) for name in actions}
    kinds = dict(inspect or {})

    @router.get("/state")
    def state() -> dict[str, Any]:
        return world.summary()

    @router.get("/state/{kind}")
    def state_of(kind: str) -> Any:
        if kind not in kinds:
            raise HTTPException(404, f"unknown kind {kind!r}; one of {sorted(kinds)}")
        return kinds[kind]()

    @router.put("/faults")
    def faults(knobs: Faults) -> Faults:
        return world.configure_faults(knobs)

    @router.post("/drive/{action}")
    def drive(action: str, kwargs: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        if action not in drive_actions:
            raise HTTPException(404, f"unknown action {action!r}; one of {sorted(drive_actions)}")
        try:
            return {"result": drive_actions[action](**(kwargs or {}))}
        except ValidationError as exc:
            raise HTTPException(422, exc.errors(include_url=False, include_context=False)) from exc
        except bad_input as exc:
            raise HTTPException(400, f"{action}: {type(exc).__name__} {exc}") from exc

    return router
