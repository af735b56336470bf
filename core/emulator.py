"""Shared pieces of the vendor emulators: fault injection, quota meters, virtual time, a base world,
background delivery, the `/_emulator` control router and a loopback server.

Every built-in connector ships an emulator of its vendor's API: a FastAPI app (`create_app(settings=None,
world=None)`) whose `app.state.world` is an `EmulatorWorld`. The vendor-specific parts (paths, envelopes,
error bodies) live with the connector; what is common lives here so all emulators take the same fault
knobs, run on the same virtual clock, answer the same inspection calls and are run the same way by tests,
the sandbox and `lifeline emulate`. An emulator whose vendor protocol is not HTTP (e-mail: SMTP) serves
only the control endpoints on its app, and its factory also takes `port`: where its world listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar

import uvicorn
from fastapi import APIRouter, Body, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, validate_call

log = logging.getLogger(__name__)

SERVED_KEPT = 20_000

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
    latency_seconds: float = Field(0.0, ge=0, le=60, description=(
        "vendor latency: each API call waits between half this and this long before the vendor acts on it"))
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
        self._latency_rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = defaultdict(int)
        self.suspended = False

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self._latency_rng = random.Random(faults.seed)

    def latency(self) -> float:
        """Seconds the next vendor call waits before the vendor acts on it: half to all of `latency_seconds`,
        drawn apart from the faults (so latency leaves their draws as they were)."""
        most = self.faults.latency_seconds
        if most <= 0:
            return 0.0
        with self._lock:
            return self._latency_rng.uniform(most / 2, most)

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
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_breaches(self) -> int:
        return sum(self.breaches.values())


class VirtualClock:
    """An emulator's time: a wall clock (injectable) plus an offset that only `advance()` moves.

    `freeze(at)` stops it at `at` (the sandbox's virtual days: only `advance()` moves it then, so a run
    does not depend on how fast the machine is). `pace()` keeps following the wall clock either way: quota
    meters count on it, since a client paces its calls in real time. Thread-safe; `now` and `pace` can be
    handed to anything that takes a clock (`QuotaMeter(clock=...)`).
    """

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self._offset = 0.0
        self._frozen: float | None = None
        self._lock = threading.Lock()
        self.pass_time: Callable[[float], None] | None = None
        """Where a stall's seconds go instead of the wall clock: the sandbox lets them pass in its simulated time
        (every clock at once), so a slow answer costs nobody real time. None: the stall waits on the wall."""

    @property
    def offset(self) -> float:
        """Seconds `advance()` has moved this clock past the wall clock (or past the instant it was frozen at)."""
        return self._offset

    def now(self) -> float:
        """Epoch seconds: the wall clock (or the frozen instant) plus every `advance()` so far."""
        return (self.wall() if self._frozen is None else self._frozen) + self._offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def pace(self) -> float:
        """Seconds on the wall clock plus every `advance()`: moves in real time even when frozen."""
        return self.wall() + self._offset

    def monotonic(self) -> float:
        """`time.monotonic()` plus every `advance()`: a quota meter's clock that a fake `wall` does not stop."""
        return time.monotonic() + self._offset

    def client_time(self) -> float:
        """What a client's clock reads (signed timestamps are checked against it): the wall clock, or while the
        sandbox lets waits pass in simulated time (`pass_time` set) that simulated time, which clients share."""
        return self.wall() if self.pass_time is None else self.now()

    def freeze(self, at: float) -> None:
        """Stop at epoch seconds `at`: from now on only `advance()` moves `now()`."""
        with self._lock:
            self._frozen, self._offset = at, 0.0

    def advance(self, seconds: float) -> float:
        """Move virtual time by `seconds` (backwards when negative); returns the new time."""
        with self._lock:
            self._offset += seconds
        return self.now()

    async def stall(self, seconds: float) -> None:
        """Answer `seconds` late (a `timeout` fault, vendor latency): wait them, or let them pass (`pass_time`)."""
        if seconds <= 0:
            return
        if self.pass_time is None:
            await asyncio.sleep(seconds)
        else:
            self.pass_time(seconds)

    def stall_blocking(self, seconds: float) -> None:
        """`stall` for a server that answers on its own thread (IMAP)."""
        if seconds <= 0:
            return
        if self.pass_time is None:
            time.sleep(seconds)
        else:
            self.pass_time(seconds)


class DeliveryWorker:
    """Runs a world's `deliver()` (callbacks, webhooks, receipt pushes) on a daemon thread.

    The thread starts on the first `start()` or `kick()` and then delivers every `interval` seconds,
    at once when kicked; `run()` delivers on the caller's thread instead (tests, drive actions),
    never at the same time as the thread. `close()` stops it for good.
    """

    def __init__(self, deliver: Callable[[], int], name: str, interval: float = 0.5) -> None:
        self.deliver = deliver
        self.name = name
        self.interval = interval
        self._running = threading.Lock()
        self._starting = threading.Lock()
        self._wakeup = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Make sure the thread runs (again, if a delivery killed it)."""
        with self._starting:
            if not self._closed.is_set() and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()

    def kick(self) -> None:
        """Deliver now on the thread (starting it if need be)."""
        self.start()
        self._wakeup.set()

    def run(self, deliver: Callable[[], int] | None = None) -> int:
        """Deliver on the caller's thread (`deliver`, default the worker's own); returns what it returns."""
        with self._running:
            return (deliver or self.deliver)()

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wakeup.wait(self.interval)
            self._wakeup.clear()
            if self._closed.is_set():
                return
            try:
                self.run()
            except Exception:  # a bug in one delivery must not stop the later ones
                log.exception("%s: delivery failed", self.name)

    def close(self) -> None:
        self._closed.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class Retried(Protocol):
    """A queued push (callback, webhook) as `record_attempt` updates it."""

    next_at: float
    status: str
    attempts: int


def record_attempt(item: Retried, ok: bool, now: float, delays: Sequence[float]) -> int:
    """Count one delivery attempt of `item`: `delivered` when `ok`; else due again `delays[n - 1]` after
    the n-th failure, `failed` for good once every delay is used. Returns 1 when delivered, else 0."""
    item.attempts += 1
    if ok:
        item.status = "delivered"
    elif item.attempts > len(delays):
        item.status = "failed"
    else:
        item.next_at = now + delays[item.attempts - 1]
    return int(ok)


class FaultSettings(Protocol):
    """What a world's settings must hold: the fault knobs it starts with."""

    faults: Faults


SettingsT = TypeVar("SettingsT", bound=FaultSettings)


class EmulatorWorld(ABC, Generic[SettingsT]):
    """Base of every emulator's state object ("world"): settings, a lock, virtual time, the fault plan.

    The uniform surface tests, the sandbox and `lifeline demo` use on any world: `now()`, `advance(seconds)`,
    `faults` (the `FaultPlan`), `configure_faults()`, `api_calls()`, `quota_breaches()`, `summary()`, `close()`.
    """

    def __init__(self, settings: SettingsT, now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = VirtualClock(now)
        self.lock = threading.RLock()
        self.faults = FaultPlan(settings.faults)
        self.served: deque[Served] = deque(maxlen=SERVED_KEPT)
        """The latest vendor responses served, oldest first (`add_vendor_middleware`)."""

    def now(self) -> float:
        """Epoch seconds on the world's clock (the injected clock plus any `advance()`)."""
        return self.clock.now()

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def advance(self, seconds: float) -> Any:
        """Move the world's time forward; returns the new time (a world may return what the move caused)."""
        return self.clock.advance(seconds)

    def configure_faults(self, faults: Faults) -> Faults:
        """Replace the fault knobs and reseed their draws (`PUT /_emulator/faults`)."""
        with self.lock:
            self.faults.configure(faults)
            self.settings.faults = faults
            return faults

    @abstractmethod
    def api_calls(self) -> int:
        """Vendor API calls served (past authentication, refused ones included); `/_emulator` calls never count."""

    def quota_breaches(self) -> int:
        """Calls the real vendor would have refused for its rate limits or quotas (0: the vendor meters none)."""
        return 0

    @abstractmethod
    def summary(self) -> dict[str, Any]:
        """Counts and state, JSON-ready: the body of `GET /_emulator/state`."""

    def close(self) -> None:
        """Stop the world's background threads and servers."""


@dataclass(frozen=True)
class Served:
    """One vendor response an emulator served: what the contract tests check against the vendor's models."""

    method: str
    route: str
    """The route's path template (`/v1/todo/{task_id}`), or the request path when no route matched."""
    status: int
    body: Any
    """The JSON body parsed, else the raw bytes."""


class _ServedLog:
    """ASGI middleware keeping every vendor response (not `/_emulator`) in `world.served`."""

    def __init__(self, app: Any, world: EmulatorWorld[Any]) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        status, chunks = 0, bytearray()

        async def keep(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.extend(message.get("body", b""))
                if not message.get("more_body", False):  # kept before the client can have it
                    self._keep(scope, status, bytes(chunks))
            await send(message)

        try:
            await self.app(scope, receive, keep)
        except Exception:
            self._keep(scope, 500, b"")  # a crash is an answer too: the contract tests must see it
            raise

    def _keep(self, scope: Any, status: int, raw: bytes) -> None:
        route = getattr(scope.get("route"), "path", scope["path"])
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.world.served.append(Served(scope["method"], route, status, body))


def add_vendor_middleware(app: FastAPI, world: EmulatorWorld[Any]) -> None:
    """Make `app`'s vendor calls (not `/_emulator`) wait `world.faults.latency()` before the vendor acts,
    and keep what it answered in `world.served`."""

    @app.middleware("http")
    async def latency(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith("/_emulator"):
            await world.clock.stall(world.faults.latency())
        return await call_next(request)

    app.add_middleware(_ServedLog, world=world)


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

    def api_calls(self) -> int: ...

    def quota_breaches(self) -> int: ...


def control_router(world: ControlledWorld, actions: Sequence[str],
                   inspect: Mapping[str, Callable[[], Any]] | None = None,
                   bad_input: tuple[type[Exception], ...] = (KeyError, ValueError),
                   error_status: Callable[[Exception], int | None] | None = None) -> APIRouter:
    """The `/_emulator` endpoints every emulator serves: state, faults, and drive actions.

    `GET /state` (the world's `summary()` plus `api_calls` and `quota_breaches`; `/state/{kind}` for
    each `inspect` entry), `PUT /faults` with a `Faults` body (what `lifeline emulate --faults` sets),
    `POST /drive/{action}` with the keyword arguments of one of the world's `actions` as JSON
    (validated: 422 on bad arguments). An exception a drive action raises answers with the status
    `error_status(exc)` gives (a world whose errors carry the vendor's own status: 409, 404...), else 400
    when it is `bad_input`; the `HTTPException` is raised `from` it, for an app's error handler to render.
    """
    router = APIRouter(prefix="/_emulator")
    drive_actions = {name: validate_call(getattr(world, name)) for name in actions}
    kinds = dict(inspect or {})

    @router.get("/state")
    def state() -> dict[str, Any]:
        return {**world.summary(), "api_calls": world.api_calls(), "quota_breaches": world.quota_breaches()}

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
        except Exception as exc:
            status = error_status(exc) if error_status is not None else None
            if status is None and isinstance(exc, bad_input):
                status = 400
            if status is None:
                raise
            raise HTTPException(status, f"{action}: {type(exc).__name__} {exc}") from exc

    return router


async def json_object(request: Request) -> dict[str, Any] | None:
    """A request's JSON object body (`{}` when empty), or None when it is not one: each emulator answers
    that in its vendor's own words."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
