"""State of the aiplatform emulator: settings, the simulated platform (`AIPlatformWorld`), webhooks.

The world holds invitations and their append-only event log. Tests and the sandbox drive it
directly (or over `/_emulator/drive/{action}`) on an injectable clock, and inspect it: calls per
API, rate-limit breaches, faults injected, webhook deliveries. The HTTP layer lives in
`lifeline_hub.connectors.aiplatform.emulator`; the protocol in docs/aiplatform-protocol.md.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.aiplatform.signing import signed_headers
from lifeline_hub.core.emulator import DeliveryWorker, EmulatorWorld, Faults, QuotaMeter, record_attempt
from lifeline_hub.core.http.redact import mask_email, mask_phone
from lifeline_hub.core.models import parse_instant

HOUR_MS = 3_600_000
MAX_HOURS = 8760
"""The longest window or extension one request may ask for (a year)."""
MIN_INSTANT_MS = 0
MAX_INSTANT_MS = int(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)
"""Instants the platform stores: 1970 to the end of year 9999 (what `iso` can write)."""
LATE_REPORT_MS = 300_000
"""Client-reported problems older than this are dropped (protocol §4.1)."""
BASES = ("from_invite", "from_first_open", "absolute")
KINDS = ("ai_async", "async_video")
TECHNICAL = ("join_error", "device_check_failed", "upload_error")
OPEN = ("invited", "opened", "started")


class EmulatorSettings(BaseModel):
    """Knobs of one emulated platform account with one API client."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = "emulator-client"
    client_secret: str = "emulator-client-secret"  # noqa: S105 - the emulator's fixed, fake credential
    webhook_secret: str = "emulator-webhook-secret"  # noqa: S105 - fake, like client_secret
    callback_url: str | None = Field(None, description="where signed webhooks are POSTed")
    deliver_in_background: bool = True
    callback_timeout_seconds: float = 5.0
    callback_retry_delays: list[float] = Field(
        default_factory=lambda: [10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0],
        description="delays before each retry of a failed delivery (protocol §5)",
    )
    token_ttl_seconds: int = 3600
    requests_per_second: int = 20
    retry_after_seconds: int = 1
    max_page_size: int = 200
    cursor_ttl_seconds: int = 86400
    idempotency_window_seconds: int = 86400
    open_by_hours: int = Field(168, description="a from_first_open link must be opened within this")
    max_resets: int = 3
    link_base: str = "https://interview.aiplatform.example/i"
    denied_apis: list[str] = Field(default_factory=list, description=(
        "APIs (`invitations.create`...) the client may not call (403 `insufficient_scope`, protocol §2.2); `*` "
        "denies every API but the token endpoint"))
    faults: Faults = Field(default_factory=Faults)


class PlatformError(Exception):
    """A failure answered with the protocol's `{"error": {"code", "message"}}` envelope."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class Invitation:
    id: str
    external_ref: str | None
    candidate: dict[str, Any]
    interview_kind: str
    deadline_basis: str
    window_hours: int | None
    channel: str
    recipient: str
    invited_ms: int
    open_by_ms: int
    absolute_ms: int | None
    link_token: str
    updated_ms: int
    seq: int
    status: str = "invited"
    first_opened_ms: int | None = None
    started_ms: int | None = None
    submitted_ms: int | None = None
    expired_ms: int | None = None
    extension_ms: int = 0
    link_version: int = 1
    resets: int = 0
    opens_ms: int | None = None
    """A scheduled session: the link works from here (a reset opens at once)."""

    def deadline_ms(self) -> int:
        """When submission closes: absolute, invite + window, or first open + window (open_by until opened)."""
        window = (self.window_hours or 0) * HOUR_MS
        if self.deadline_basis == "absolute" and self.absolute_ms is not None:
            base = self.absolute_ms
        elif self.deadline_basis == "from_invite":
            base = self.invited_ms + window
        else:
            base = self.first_opened_ms + window if self.first_opened_ms is not None else self.open_by_ms
        return base + self.extension_ms


@dataclass
class Event:
    id: str
    type: str
    invitation_id: str
    attempt: int
    occurred_ms: int
    recorded_ms: int
    data: dict[str, Any]
    seq: int


@dataclass
class Delivery:
    event_id: str
    next_at: float
    status: str = "pending"
    attempts: int = 0
    posts: int = 0


@dataclass
class Remembered:
    """A POST answered under an idempotency key."""

    fingerprint: str
    status: int
    body: dict[str, Any]
    at: float


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant_ms(value: str) -> int:
    return int(parse_instant(value).timestamp() * 1000)


class AIPlatformWorld(EmulatorWorld[EmulatorSettings]):
    """The emulated platform: state, drive methods for tests and the sandbox, inspection."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.rng = random.Random(self.settings.faults.seed)
        self.invitations: dict[str, Invitation] = {}
        self.events: list[Event] = []
        self.deliveries: list[Delivery] = []
        self.calls: Counter[str] = Counter()
        self.meter = QuotaMeter(self.settings.requests_per_second, 1.0, clock=self.clock.pace)
        self._seq = 0
        self._tokens: dict[str, float] = {}
        self._remembered: dict[tuple[str, str], Remembered] = {}
        self.webhooks = DeliveryWorker(self._deliver_due, "aiplatform-webhooks")

    # -- clock and ids ----------------------------------------------------------------------------

    def advance(self, seconds: float) -> int:
        """Move virtual time forward; invitations past their deadline expire. Returns how many did."""
        self.clock.advance(seconds)
        return self.tick()

    def new_id(self, prefix: str, hex_chars: int = 12) -> str:
        with self.lock:
            return prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(hex_chars))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- auth and rate ----------------------------------------------------------------------------

    def issue_token(self, client_id: str, client_secret: str) -> tuple[str, int]:
        if client_id != self.settings.client_id or client_secret != self.settings.client_secret:
            raise PlatformError(401, "invalid_client", "unknown client or wrong secret")
        with self.lock:
            token = self.new_id("at_", 32)
            self._tokens[token] = self.now() + self.settings.token_ttl_seconds
            return token, self.settings.token_ttl_seconds

    def authenticate(self, authorization: str | None) -> str:
        """The client behind `Authorization: Bearer <token>`, or the protocol's 401."""
        if not authorization or not authorization.startswith("Bearer "):
            raise PlatformError(401, "invalid_token", "missing bearer token")
        with self.lock:
            expires = self._tokens.get(authorization[7:].strip())
        if expires is None:
            raise PlatformError(401, "invalid_token", "unknown access token")
        if expires <= self.now():
            raise PlatformError(401, "token_expired", "access token expired")
        return self.settings.client_id

    def expire_tokens(self) -> None:
        """Expire every issued token now (the next call answers 401 token_expired)."""
        with self.lock:
            self._tokens = dict.fromkeys(self._tokens, self.now())

    def deny_apis(self, apis: list[str]) -> None:
        """Withdraw the client's scope for `apis` (API names, or `*` for all); [] grants all."""
        with self.lock:
            self.settings.denied_apis = list(apis)

    def authorize(self, api: str) -> None:
        """The protocol's 403 `insufficient_scope` when the client may not call `api`."""
        with self.lock:
            denied = self.settings.denied_apis
        if "*" in denied or api in denied:
            raise PlatformError(403, "insufficient_scope", f"the client may not call {api}")

    def count_call(self, api: str) -> None:
        with self.lock:
            self.calls[api] += 1

    def api_calls(self) -> int:
        with self.lock:
            return sum(self.calls.values())

    def quota_breaches(self) -> int:
        return self.meter.total_breaches

    def check_rate(self, client_id: str) -> None:
        if not self.meter.hit(client_id):
            raise self.rate_limited()

    def rate_limited(self) -> PlatformError:
        wait = str(self.settings.retry_after_seconds)
        return PlatformError(429, "rate_limited", "too many requests", {"Retry-After": wait})

    # -- idempotency ------------------------------------------------------------------------------

    @staticmethod
    def fingerprint(api: str, path: str, body: Any) -> str:
        """What must match for a repeated idempotency key to be a replay of the same request."""
        return hashlib.sha256(f"{api}|{path}|{json.dumps(body, sort_keys=True)}".encode()).hexdigest()

    def recall(self, client_id: str, key: str, fingerprint: str) -> Remembered | None:
        """An earlier answer under this key (same request), or None; 422 when the key was used differently."""
        with self.lock:
            hit = self._remembered.get((client_id, key))
            if hit is None or self.now() - hit.at >= self.settings.idempotency_window_seconds:
                return None
            if hit.fingerprint != fingerprint:
                raise PlatformError(422, "idempotency_key_reused", "this key was used with a different request")
            return hit

    def remember(self, client_id: str, key: str, fingerprint: str, status: int, body: dict[str, Any]) -> None:
        with self.lock:
            self._remembered[(client_id, key)] = Remembered(fingerprint, status, body, self.now())

    # -- the lifecycle (drive methods) ------------------------------------------------------------

    def invite(self, name: str, *, email: str | None = None, phone: str | None = None,
               external_ref: str | None = None, candidate_ref: str | None = None, kind: str = "ai_async",
               deadline_basis: str = "from_invite", window_hours: int | None = 72, deadline_at: str | None = None,
               opens_at: str | None = None, locale: str = "zh-CN", timezone: str = "Asia/Shanghai") -> dict[str, Any]:
        """Invite a candidate (the platform e-mails or texts the link); returns the invitation.

        `opens_at` schedules the session: until then the link opens to "not open yet" and `start` is refused."""
        if kind not in KINDS or deadline_basis not in BASES:
            raise PlatformError(400, "invalid_request", "unknown interview_kind or deadline_basis")
        if (deadline_basis == "absolute") != (deadline_at is not None):
            raise PlatformError(400, "invalid_request", "deadline_at is given exactly when the basis is absolute")
        if deadline_basis != "absolute" and not window_hours:
            raise PlatformError(400, "invalid_request", "window_hours is required for a relative deadline")
        if not (email or phone):
            raise PlatformError(400, "invalid_request", "the candidate needs an email or a phone")
        if opens_at and deadline_at and instant_ms(opens_at) >= instant_ms(deadline_at):
            raise PlatformError(400, "invalid_request", "opens_at must be before deadline_at")
        with self.lock:
            now = self.now_ms()
            inv = Invitation(
                id=self.new_id("inv_"), external_ref=external_ref,
                candidate={"id": self.new_id("cand_"), "external_ref": candidate_ref, "name": name,
                           "locale": locale, "timezone": timezone, "email": email, "phone": phone},
                interview_kind=kind, deadline_basis=deadline_basis, window_hours=window_hours,
                channel="email" if email else "sms", recipient=mask_email(email) if email else mask_phone(phone or ""),
                invited_ms=now, open_by_ms=now + self.settings.open_by_hours * HOUR_MS,
                absolute_ms=instant_ms(deadline_at) if deadline_at else None, link_token=self.new_id("", 24),
                updated_ms=now, seq=self._next_seq(), opens_ms=instant_ms(opens_at) if opens_at else None,
            )
            self.invitations[inv.id] = inv
            self._emit(inv, "invitation.created", {"channel": inv.channel, "recipient": inv.recipient})
            return self.render(inv)

    def open_link(self, invitation_id: str, ua_family: str = "chrome",
                  prefetch_suspected: bool = False) -> dict[str, Any]:
        """The candidate opens the platform link (the first open of an attempt is an event)."""
        with self.lock:
            inv = self._live(invitation_id)
            if inv.first_opened_ms is None:
                inv.first_opened_ms = self.now_ms()
                inv.status = "opened"
                self._touch(inv)
                self._emit(inv, "invitation.opened", {"ua_family": ua_family, "prefetch_suspected": prefetch_suspected})
            return self.render(inv)

    def start(self, invitation_id: str) -> dict[str, Any]:
        with self.lock:
            inv = self._live(invitation_id)
            if inv.status == "started":
                raise PlatformError(409, "invitation_closed", "the interview is already started")
            if inv.opens_ms is not None and self.now_ms() < inv.opens_ms:
                raise PlatformError(409, "not_open", f"the session opens at {iso(inv.opens_ms)}")
            if inv.first_opened_ms is None:
                self.open_link(invitation_id)
            inv.started_ms, inv.status = self.now_ms(), "started"
            self._touch(inv)
            self._emit(inv, "interview.started", {})
            return self.render(inv)

    def submit(self, invitation_id: str) -> dict[str, Any]:
        with self.lock:
            inv = self._live(invitation_id)
            if inv.status != "started":
                raise PlatformError(409, "invitation_closed", "only a started interview can be submitted")
            inv.submitted_ms, inv.status = self.now_ms(), "submitted"
            self._touch(inv)
            self._emit(inv, "interview.submitted", {"started_at": iso(inv.started_ms)})
            return self.render(inv)

    def technical(self, invitation_id: str, kind: str = "join_error", code: str = "NETWORK_ERROR",
                  occurred_at: str | None = None) -> dict[str, Any]:
        """A join error, failed device check or failed upload with the platform's code; `occurred_at`
        (client time, at most 5 minutes ago) earlier than now makes it late data."""
        if kind not in TECHNICAL:
            raise PlatformError(400, "invalid_request", f"technical kind is one of {', '.join(TECHNICAL)}")
        if occurred_at and self.now_ms() - instant_ms(occurred_at) > LATE_REPORT_MS:
            raise PlatformError(400, "invalid_request", "client reports older than 5 minutes are dropped")
        with self.lock:
            inv = self._live(invitation_id)
            self._emit(inv, f"technical.{kind}", {"code": code}, instant_ms(occurred_at) if occurred_at else None)
            return self.render(inv)

    def withdraw(self, invitation_id: str) -> dict[str, Any]:
        with self.lock:
            inv = self._live(invitation_id)
            inv.status = "withdrawn"
            self._touch(inv)
            self._emit(inv, "invitation.withdrawn", {})
            return self.render(inv)

    def reset(self, invitation_id: str, window_hours: int | None = None, new_link: bool = True) -> dict[str, Any]:
        """Re-open for a new attempt: clock restarts, progress cleared, a new invitation sent."""
        with self.lock:
            inv = self._get(invitation_id)
            if inv.status == "withdrawn":
                raise PlatformError(409, "invitation_closed", "the invitation was withdrawn")
            if inv.resets >= self.settings.max_resets:
                raise PlatformError(409, "reset_limit_reached", f"at most {self.settings.max_resets} resets")
            now = self.now_ms()
            inv.resets += 1
            inv.status, inv.invited_ms, inv.open_by_ms = "invited", now, now + self.settings.open_by_hours * HOUR_MS
            inv.first_opened_ms = inv.started_ms = inv.submitted_ms = inv.expired_ms = inv.opens_ms = None
            inv.extension_ms = 0
            inv.window_hours = window_hours or inv.window_hours
            if window_hours and inv.deadline_basis == "absolute":  # a new window, counted from the reset
                inv.deadline_basis, inv.absolute_ms = "from_invite", None
            self._new_link(inv, new_link)
            self._touch(inv)
            self._emit(inv, "invitation.reset", {
                "channel": inv.channel, "recipient": inv.recipient, "link_version": inv.link_version,
                "deadline_at": iso(inv.deadline_ms()),
            })
            return self.render(inv)

    def extend(self, invitation_id: str, hours: int, new_link: bool = False) -> dict[str, Any]:
        """More time: the deadline moves `hours` later (from now when it had already passed)."""
        if hours < 1:
            raise PlatformError(400, "invalid_request", "hours must be at least 1")
        with self.lock:
            inv = self._get(invitation_id)
            if inv.status in ("submitted", "withdrawn"):
                raise PlatformError(409, "invitation_closed", f"the invitation is {inv.status}")
            now = self.now_ms()
            added = max(inv.deadline_ms(), now) - inv.deadline_ms() + hours * HOUR_MS
            if inv.deadline_ms() + added > MAX_INSTANT_MS:
                raise PlatformError(400, "invalid_request", "the deadline would pass the end of year 9999")
            inv.extension_ms += added
            if inv.status == "expired":
                inv.expired_ms = None
                inv.status = "started" if inv.started_ms else "opened" if inv.first_opened_ms else "invited"
            self._new_link(inv, new_link)
            self._touch(inv)
            self._emit(inv, "invitation.extended", {"link_version": inv.link_version,
                                                    "deadline_at": iso(inv.deadline_ms())})
            return self.render(inv)

    def tick(self) -> int:
        """Expire every open invitation whose deadline has passed; returns how many expired."""
        with self.lock:
            now, expired = self.now_ms(), 0
            for inv in self.invitations.values():
                if inv.status in OPEN and inv.deadline_ms() <= now:
                    inv.status, inv.expired_ms = "expired", inv.deadline_ms()
                    self._touch(inv)
                    self._emit(inv, "invitation.expired", {}, inv.expired_ms)
                    expired += 1
            return expired

    def _get(self, invitation_id: str) -> Invitation:
        self.tick()
        inv = self.invitations.get(invitation_id)
        if inv is None:
            raise PlatformError(404, "not_found", "no such invitation")
        return inv

    def _live(self, invitation_id: str) -> Invitation:
        inv = self._get(invitation_id)
        if inv.status not in OPEN:
            raise PlatformError(409, "invitation_closed", f"the invitation is {inv.status}")
        return inv

    def _new_link(self, inv: Invitation, new_link: bool) -> None:
        if new_link:
            inv.link_version += 1
            inv.link_token = self.new_id("", 24)

    def _touch(self, inv: Invitation) -> None:
        inv.updated_ms, inv.seq = self.now_ms(), self._next_seq()

    def _emit(self, inv: Invitation, kind: str, data: dict[str, Any], occurred_ms: int | None = None) -> None:
        now = self.now_ms()
        event = Event(id=f"evt_{self._seq + 1:010d}{self.new_id('', 6)}", type=kind, invitation_id=inv.id,
                      attempt=inv.resets, occurred_ms=now if occurred_ms is None else occurred_ms, recorded_ms=now,
                      data=data, seq=self._next_seq())
        self.events.append(event)
        if self.settings.callback_url:
            self.deliveries.append(Delivery(event.id, self.now()))
            if self.settings.deliver_in_background:
                self.webhooks.kick()

    # -- reading ----------------------------------------------------------------------------------

    def render(self, inv: Invitation, masked: bool = False) -> dict[str, Any]:
        """An invitation as the API returns it to its client (with the contact data that client gave);
        `masked` for the emulator's own state view, which shows no addresses."""
        candidate = dict(inv.candidate)
        if masked:
            candidate.update(email=mask_email(candidate["email"]) if candidate.get("email") else None,
                             phone=mask_phone(candidate["phone"]) if candidate.get("phone") else None)
        return {
            "id": inv.id, "external_ref": inv.external_ref, "candidate": candidate,
            "interview_kind": inv.interview_kind, "status": inv.status, "deadline_basis": inv.deadline_basis,
            "window_hours": inv.window_hours, "invited_at": iso(inv.invited_ms), "opens_at": iso(inv.opens_ms),
            "first_opened_at": iso(inv.first_opened_ms), "started_at": iso(inv.started_ms),
            "submitted_at": iso(inv.submitted_ms), "expired_at": iso(inv.expired_ms),
            "open_by": iso(inv.open_by_ms), "deadline_at": iso(inv.deadline_ms()),
            "link": {"url": f"{self.settings.link_base}/{inv.link_token}", "version": inv.link_version},
            "resets": inv.resets, "updated_at": iso(inv.updated_ms),
        }

    def render_event(self, event: Event) -> dict[str, Any]:
        return {"id": event.id, "type": event.type, "invitation_id": event.invitation_id,
                "attempt": event.attempt, "occurred_at": iso(event.occurred_ms),
                "recorded_at": iso(event.recorded_ms), "data": dict(event.data)}

    def get(self, invitation_id: str) -> dict[str, Any]:
        with self.lock:
            return self.render(self._get(invitation_id))

    def page(self, resource: str, since_ms: int | None, after_seq: int,
             limit: int) -> tuple[list[dict[str, Any]], int | None]:
        """One listing page in change order: items changed at or after `since_ms` with a change number
        above `after_seq`; returns the items and the change number to continue after (None at the end)."""
        with self.lock:
            self.tick()
            if resource == "invitations":
                rows: list[tuple[int, int, Any]] = [(i.seq, i.updated_ms, i) for i in self.invitations.values()]
            else:
                rows = [(e.seq, e.recorded_ms, e) for e in self.events]
            chosen = sorted((r for r in rows if r[0] > after_seq and (since_ms is None or r[1] >= since_ms)),
                            key=lambda r: r[0])
            page = chosen[:limit]
            render = self.render if resource == "invitations" else self.render_event
            more = len(chosen) > limit
            return [render(r[2]) for r in page], page[-1][0] if more else None

    # -- webhooks ---------------------------------------------------------------------------------

    def set_callback_url(self, url: str | None) -> None:
        """Point webhooks somewhere else (None stops queueing new deliveries)."""
        with self.lock:
            self.settings = self.settings.model_copy(update={"callback_url": url})

    def deliver_pending_events(self) -> int:
        """POST every due delivery once (failures are retried later); returns how many got a 2xx."""
        return self.webhooks.run()

    def _deliver_due(self) -> int:
        url = self.settings.callback_url
        if not url:
            return 0
        delivered = 0
        with self.lock:
            due = [d for d in self.deliveries if d.status == "pending" and d.next_at <= self.now()]
            events = {e.id: e for e in self.events if e.id in {d.event_id for d in due}}
        for delivery in due:
            body = json.dumps(self.render_event(events[delivery.event_id]), separators=(",", ":")).encode()
            ok = self._post(url, delivery, body)
            if ok and self.faults.roll("duplicate"):
                self._post(url, delivery, body)
            with self.lock:
                delivered += record_attempt(delivery, ok, self.now(), self.settings.callback_retry_delays)
        return delivered

    def _post(self, url: str, delivery: Delivery, body: bytes) -> bool:
        headers = signed_headers([self.settings.webhook_secret], delivery.event_id, int(self.now()), body)
        delivery.posts += 1
        try:
            response = requests.post(url, data=body, headers=headers, timeout=self.settings.callback_timeout_seconds)
        except requests.RequestException:
            return False
        return 200 <= response.status_code < 300

    def close(self) -> None:
        """Stop the background delivery thread."""
        self.webhooks.close()

    # -- inspection -------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        """Everything inspectable, JSON-ready (served at `GET /_emulator/state`)."""
        with self.lock:
            return {
                "now": self.now(),
                "invitations": [self.render(i, masked=True) for i in self.invitations.values()],
                "events": [self.render_event(e) for e in self.events],
                "deliveries": [dataclasses.asdict(d) for d in self.deliveries],
                "calls": dict(self.calls),
                "breaches": self.meter.total_breaches,
                "faults_injected": dict(self.faults.injected),
            }
