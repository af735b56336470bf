"""The sandbox world: simulated candidates, interviewers and HR acting on the vendor emulators over virtual days.

    sandbox = Sandbox(config, tenant, worlds, receiver_url, bookings, seed)
    sandbox.observe()          # react to what Lifeline sent since the last look (SMS, e-mail, todos...)
    sandbox.advance_to(t)      # let the world act until `t`: clocks move, people act at their times

People act the way they do in the vendors' products and on Lifeline's pages: the recruiter books
interviews on the AI-interview platform and in Feishu Hire, candidates read (or never get) their
SMS and e-mail, open links (mail scanners open them first), confirm, decline or ask to move, join
or fail to join, take up a reschedule offer; interviewers read their Feishu reminders; HR works
the DingTalk todos (the `/hr/` links), reads work notices and decides approvals. Candidates use
Lifeline's pages over real HTTP (`receiver_url`), the vendors through their emulators' state.
The sandbox records what really happened (`Booking.truth`, `Booking.facts`); Lifeline never sees it.

What happens in a vendor's product is its plugin's `SandboxActor` (core.sandbox.actor), named by the connector
class's `sandbox_actor`: the sandbox decides what people do, the actors find what arrived in their worlds and
carry out there what people decided.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import heapq
import itertools
import logging
import math
import random
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import requests

from lifeline_hub.core.config import Config, ConnectorSetup
from lifeline_hub.core.emulator import EmulatorWorld
from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.models import canonical_id, utcnow, zone_info
from lifeline_hub.core.models.time import advance_clock
from lifeline_hub.core.sandbox.actor import SandboxActor, actor_class
from lifeline_hub.core.sandbox.clock import SimulatedClock
from lifeline_hub.core.sandbox.population import Booking, Intent, Kind, draw, draw_wechat

log = logging.getLogger("lifeline.sandbox")

BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.5 Mobile/15E148 Safari/604.1")
LINK = re.compile(r"/([jcr])/([A-Za-z0-9_\-.~]{8,})")
SLOT = re.compile(r'name="slot"[^>]*value="([^"]+)"')
HR_ANSWERS = ("hr.done.offer", "hr.done.reissue", "hr.done.attended", "hr.already", "hr.stale", "hr.unroutable")
HR_LINK = re.compile(r"^(.*?)[:：]?\s*https?://\S+?/hr/([A-Za-z0-9_\-.]+)", re.MULTILINE)
"""A next step in an HR task: its label (`link.offer`, `link.attended`...: what HR reads) and its signed link."""
ABOUT = re.compile(r"lifeline:interview=[^\s%]+%2F(\S+)")
"""The interview an HR task is about (the task's last line: its source and remote id)."""
PUBLIC_URL = "https://jobs.example.com"
"""The tenant's public address of Lifeline's pages (`LIFELINE_PUBLIC_URL` in `lifeline demo`): people follow a link's
path to the receiver on loopback, as behind the tenant's proxy."""
OUTAGE = timedelta(hours=2, minutes=30)
MINUTE = timedelta(minutes=1)


class Sandbox:
    """The simulated world; `worlds` maps a plugin name to its emulator's state object (an `EmulatorWorld`), and
    the plugins whose connector names a `sandbox_actor` take part through it."""

    def __init__(self, config: Config, tenant: str, worlds: dict[str, Any], receiver_url: str,
                 bookings: list[Booking], seed: int) -> None:
        self.config, self.tenant, self.worlds = config, tenant, worlds
        self.receiver = receiver_url.rstrip("/")
        self.bookings = bookings
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 1)
        self._moving = threading.RLock()
        self.http = requests.Session()
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._seen: set[str] = set()
        self._by_phone = {_digits(b.phone): b for b in bookings if b.phone}
        self._by_email = {b.email.lower(): b for b in bookings}
        self.by_remote: dict[str, Booking] = {}
        """The vendor's interview id -> its booking, once booked."""
        self.links: dict[str, dict[str, str]] = {b.ref: {} for b in bookings}
        self.did: Counter[str] = Counter()
        """What people did: reads, clicks, scanner opens, joins, answers, HR decisions (for the report)."""
        self.hr = config.tenant(tenant).policy
        ai = sorted(b.start for b in bookings if b.kind is Kind.ai)
        self.outage = (ai[len(ai) // 2], ai[len(ai) // 2] + OUTAGE) if ai else None
        """The platform's bad afternoon: joins in this window fail (technical misses cluster here)."""
        self.actors = _actors(self, config, tenant, worlds)
        """The plugins taking part, in the order they are observed."""
        self.hosts: dict[Kind, SandboxActor[Any]] = {kind: a for a in self.actors for kind in a.hosts}
        """Interview kind -> the actor of the vendor it is booked on."""

    @classmethod
    def populate(cls, config: Config, tenant: str, worlds: dict[str, Any], receiver_url: str, n: int, days: int,
                 seed: int, now: datetime | None = None) -> Sandbox:
        """A sandbox with `n` interviews drawn over the `days` days from `now` (default: the current time) in
        the tenant's time zone."""
        now = now or utcnow()
        offset = zone_info(config.tenant(tenant).timezone).utcoffset(now.replace(tzinfo=None)) or timedelta(0)
        return cls(config, tenant, worlds, receiver_url, draw(seed, n, days, now, offset), seed)

    def run_live(self, stop: threading.Event, every: float = 10.0) -> None:
        """Act in real time, beside a scheduler that runs the pipeline (`make airflow`): the clocks are the
        wall clock, and people react to what Lifeline sends as it comes. An action failing in a way nobody
        foresaw (a vendor refusing it) is logged and counted: the world goes on, the newcomer's demo with it."""
        self.setup()
        while True:
            now = utcnow()
            try:
                self.observe()
                self.advance_to(now)
                self.settle(now)
            except Exception:
                log.exception("sandbox: acting at %s failed; going on", now.isoformat())
                self.did["failed_actions"] += 1
            if stop.wait(every):
                return

    # ------------------------------------------------------------------ set-up and time

    def setup(self) -> None:
        """The tenant's people and the vendors' fixed state (HR, interviewers, SMS templates, bad numbers)."""
        for actor in self.actors:
            actor.setup()
        for b in self.bookings:
            self.at(b.booked_at, self._book, b)

    def at(self, when: datetime, act: Callable[..., None], *args: Any) -> None:
        """Have `act(*args)` happen at `when` (in order of scheduling among equal times)."""
        step: Callable[[], None] = functools.partial(act, *args)
        heapq.heappush(self._queue, (when, next(self._order), step))

    def move_clocks(self, to: datetime) -> None:
        """Move this process's clock and every emulator's to `to` (never backwards)."""
        with self._moving:
            delta = to - utcnow()
            if delta <= timedelta(0):
                return
            advance_clock(delta)
            for world in self.worlds.values():
                world.advance(delta.total_seconds())

    def pass_time(self, seconds: float) -> None:
        """Let `seconds` of simulated time pass at once (a vendor's stall, a client's back-off: `simulated_waits`)."""
        with self._moving:  # whole microseconds (the clocks' grain), at least one: a waiter's loop moves on
            self.move_clocks(utcnow() + timedelta(microseconds=max(math.ceil(seconds * 1e6), 1)))

    @contextlib.contextmanager
    def simulated_waits(self, worlds: Iterable[EmulatorWorld[Any]]) -> Iterator[None]:
        """Inside the block a wait costs simulated time, not real time (`lifeline demo`): the HTTP toolkit waits
        on a `SimulatedClock` (back-offs, `Retry-After`, rate limits, token expiry), and `worlds`' emulators let
        their stalls pass in it (`VirtualClock.pass_time`). Requests still go over real HTTP, the retry code runs as
        in production; only the waiting is simulated. Clients' back-off jitter draws from `random`, seeded here
        with the sandbox's seed, so the simulated waits are a function of the seed too."""
        worlds = list(worlds)
        saved = random.getstate()
        random.seed(self.seed)
        for world in worlds:
            world.clock.pass_time = self.pass_time
        try:
            with use_clock(SimulatedClock(self.pass_time)):
                yield
        finally:
            for world in worlds:
                world.clock.pass_time = None
            random.setstate(saved)

    def advance_to(self, until: datetime) -> None:
        """Let everything due before `until` happen at its own time, then move the clocks to `until`."""
        while self._queue and self._queue[0][0] <= until:
            when, _, act = heapq.heappop(self._queue)
            self.move_clocks(when)
            try:
                act()
            except (requests.RequestException, KeyError, ValueError) as exc:  # a person's bad luck, not a crash
                log.warning("sandbox: an action at %s failed: %s", when.isoformat(), exc)
                self.did["failed_actions"] += 1
        self.move_clocks(until)
        for actor in self.actors:
            actor.tick()

    # ------------------------------------------------------------------ the recruiter books

    def _book(self, b: Booking) -> None:
        """The recruiter books the interview on the vendor that hosts its kind."""
        b.remote_id = self.hosts[b.kind].book(b)
        self.by_remote[b.remote_id] = b
        if b.kind is Kind.ai:
            self._plan_ai(b)
        else:
            self._plan_live(b)

    def _plan_ai(self, b: Booking, opens: datetime | None = None) -> None:
        """The candidate's go at the AI interview, inside its window (from `opens` on, when the platform's session
        opens later than the window starts: a window Lifeline moved earlier)."""
        t = b.traits
        if t.intent is Intent.attend:
            first = max(b.start, opens or b.start)
            window = (b.end - first).total_seconds()
            share = self.rng.uniform(0.75, 0.9) if t.late else self.rng.uniform(0.0, 0.4)
            self.at(first + timedelta(seconds=window * share), self._join_ai, b)

    def _plan_live(self, b: Booking) -> None:
        if b.hr_moves and "moved_in_ats" not in b.facts:
            self.at(b.booked_at + (b.start - b.booked_at) / 2, self._hr_moves, b, b.start + timedelta(days=1))
        if b.traits.intent is Intent.attend:
            late = timedelta(minutes=self.rng.randint(10, 20)) if b.traits.late else timedelta(
                minutes=self.rng.randint(-3, 3))
            self.at(b.start + late, self._join_live, b, b.start, late)

    def _hr_moves(self, b: Booking, start: datetime) -> None:
        """HR moves the interview in Hire (the candidate asked by phone): the same interview, a new time."""
        length = b.end - b.start
        self.hosts[b.kind].move(b, start, start + length)
        b.start, b.end = start, start + length
        b.facts["moved_in_ats"] = utcnow()
        self.did["hr_moved_in_ats"] += 1
        self._plan_live(b)

    # ------------------------------------------------------------------ candidates join

    def _join_ai(self, b: Booking, attempt: int = 1) -> None:
        """Join the AI interview; in the platform's bad afternoon (or with a broken camera) it fails, and a
        second try four minutes later fails too."""
        if "declined" in b.facts or "asked_to_move" in b.facts:
            return
        platform, now = self.hosts[b.kind], utcnow()
        self._press_join(b)
        down = self.outage is not None and self.outage[0] <= now < self.outage[1]
        if down or b.traits.device_trouble:
            platform.fail(b, "MEDIA_SERVER_UNAVAILABLE" if down else "CAMERA_BLOCKED")
            b.facts.setdefault("technical", now)
            self.did["technical_failures"] += 1
            if attempt == 1:
                self.at(now + 4 * MINUTE, self._join_ai, b, 2)
            return
        try:
            platform.start(b)
        except Exception as exc:  # the platform refuses (its window and Lifeline's disagree): a person gives up
            log.info("sandbox: %s could not start: %s", b.ref, exc)
            self.did["platform_refused_start"] += 1
            return
        b.facts["joined"] = now
        self.did["joined"] += 1
        self.at(now + timedelta(minutes=self.rng.randint(20, 40)), self._submit, b)

    def _submit(self, b: Booking) -> None:
        self.hosts[b.kind].submit(b)
        b.facts["submitted_after_remediation" if b.truth else "submitted"] = utcnow()
        if b.truth:
            self.did["completed_after_remediation"] += 1

    def _press_join(self, b: Booking) -> None:
        """Through Lifeline's join link when the candidate has one (interstitial, then Join), else the platform's."""
        token = self.links[b.ref].get("j")
        if token:
            self.visit("GET", f"/j/{token}")
            self.visit("POST", f"/j/{token}")
            self.did["joins_via_lifeline_link"] += 1

    def _join_live(self, b: Booking, planned: datetime, late: timedelta) -> None:
        if "declined" in b.facts or "asked_to_move" in b.facts or planned != b.start:
            return
        self._press_join(b)
        b.facts["joined"] = utcnow()
        if late > timedelta(minutes=5):  # past the tenant's usual `late_after_minutes`
            b.facts["late"] = utcnow()
        self.did["joined"] += 1

    # ------------------------------------------------------------------ what Lifeline sent

    def observe(self) -> None:
        """Look at what was sent since last time and schedule how people react."""
        for actor in self.actors:
            actor.observe()

    def first_look(self, key: str) -> bool:
        """True the first time `key` (a vendor message, todo, recipient...) is looked at, then False."""
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def candidate_by_phone(self, phone: str) -> Booking | None:
        """The candidate with this number (any formatting, country code or not)."""
        return self._by_phone.get(_digits(phone))

    def candidate_by_email(self, address: str) -> Booking | None:
        return self._by_email.get(address.lower())

    def reading_delay(self, slower: float = 1.0) -> timedelta:
        """How long until someone gets to a message (`slower`: a channel read less eagerly, e.g. e-mail)."""
        return timedelta(minutes=min(self.rng.expovariate(1 / (25 * slower)), 600) + 1)

    def read(self, b: Booking, text: str, channel: str) -> None:
        """The candidate reads one message on `channel` and acts on its links."""
        now = utcnow()
        self.did[f"read_{channel}"] += 1
        if now < b.end and "missed" not in b.facts:
            b.facts.setdefault("reached", now)
        links = dict(LINK.findall(text))
        if "j" in links:
            self.links[b.ref]["j"] = links["j"]
        if "c" in links and not {"answered", "declined", "asked_to_move"} & b.facts.keys() and now < b.start:
            self._answer(b, links["c"])
        if "r" in links and "missed" in b.facts and b.traits.wants_second_chance:
            self._pick_slot(b, links["r"])
        if "j" in links and b.traits.intent is Intent.no_show and self.rng.random() < 0.5 and now < b.end:
            self.visit("GET", f"/j/{links['j']}")  # looks, and does not come
            self.did["opened_no_show"] += 1
        if "j" in links and "retry" in b.facts and "joined" not in b.facts:
            self.at(now + timedelta(minutes=self.rng.randint(5, 60)), self.retry, b)

    def _answer(self, b: Booking, token: str) -> None:
        action = {Intent.decline: "decline", Intent.reschedule: "reschedule"}.get(b.traits.intent)
        if action is None:
            if self.rng.random() > 0.6:
                return  # most people who come never say so
            action = "confirm"
        answer = self.visit("POST", f"/c/{token}", data={"action": action})
        b.facts["answered"] = utcnow()
        if action != "confirm":
            b.facts["declined" if action == "decline" else "asked_to_move"] = utcnow()
        self.did[f"answered_{action}"] += 1
        moved = LINK.search(answer.headers.get("location", "")) if answer is not None else None
        if moved and moved.group(1) == "r":  # asked to move: the page sends them on to pick a time
            self._pick_slot(b, moved.group(2))

    def _pick_slot(self, b: Booking, token: str) -> None:
        page = self.visit("GET", f"/r/{token}")
        slots = SLOT.findall(page.text) if page is not None else []
        if slots:
            self.visit("POST", f"/r/{token}", data={"slot": slots[0], "reason": "schedule_conflict"})
            b.facts["picked_slot"] = utcnow()
            b.asked_for = datetime.fromisoformat(slots[0])
            self.did["reschedule_requests"] += 1

    def retry(self, b: Booking) -> None:
        """A second chance (a re-issued link or an approved new window): this time it works."""
        platform = self.hosts.get(b.kind)
        if platform is None or b.kind is not Kind.ai or "joined_second_chance" in b.facts:
            return
        self._press_join(b)
        try:
            platform.start(b)
        except Exception as exc:
            log.info("sandbox: %s could not start again: %s", b.ref, exc)
            return
        b.facts["joined_second_chance"] = utcnow()
        self.did["second_chances_taken"] += 1
        self.at(utcnow() + timedelta(minutes=self.rng.randint(20, 40)), self._submit, b)

    def visit(self, method: str, path: str, agent: str = BROWSER,
              data: dict[str, str] | None = None) -> requests.Response | None:
        """A request to Lifeline's pages as a person's browser (`agent`) makes it; None when it did not go through."""
        try:
            return self.http.request(method, self.receiver + path, data=data, allow_redirects=False, timeout=10,
                                     headers={"User-Agent": agent, "Accept-Language": "zh-CN,zh;q=0.9"})
        except requests.RequestException as exc:
            log.warning("sandbox: %s %s failed: %s", method, path.split("/")[1], type(exc).__name__)
            return None

    # ------------------------------------------------------------------ staff: HR and interviewers

    def take_next_step(self, text: str) -> None:
        """HR follows one of Lifeline's next-step links (`/hr/`) in a task's `text` most of the time: "confirm
        attended" only for a candidate who did come (HR asks the interviewer first), else the first other step."""
        from lifeline_hub.core.remediation.texts import T

        steps = HR_LINK.findall(text)
        if not steps or self.rng.random() >= 0.85:
            return
        about = ABOUT.search(text)
        b = self.by_remote.get(about.group(1)) if about else None
        attended = T[self.config.tenant(self.tenant).locale]["link.attended"]
        came = b is not None and b.truth.startswith("attended")
        confirm = [link for label, link in steps if attended in label]
        others = [link for label, link in steps if attended not in label]
        chosen = confirm[:1] if came and confirm else others[:1]
        if chosen:
            page = self.visit("POST", f"/hr/{chosen[0]}")
            self.did[f"hr_next_steps_{_page_says(page, HR_ANSWERS)}"] += 1

    def agreed_to_move(self, b: Booking | None) -> None:
        """HR agreed to move `b`: Lifeline moves it to the time the candidate picked while that is ahead (also when
        HR decided after the old start, even after its end: the request still stands), unless the candidate came
        after all; what happens in the new window is its truth (`moved_to`)."""
        if b is None or b.asked_for is None or utcnow() >= b.asked_for or "joined" in b.facts:
            return
        if b.truth not in ("", "missed_declined"):
            return
        for fact in ("missed", "retry"):  # a miss by asking to move is no miss once the move is made
            b.facts.pop(fact, None)
        b.truth, start, b.asked_for = "", b.asked_for, None
        self.moved_to(b, start)

    def moved_to(self, b: Booking, start: datetime) -> None:
        """`b` goes on at `start` (the same length): the old window's answers and reach are history, the candidate
        (whose wish was met) mostly comes this time, HR carries the time to the platform of an AI interview (its
        window must hold the new one), and the new window is planned like a booking."""
        length, opens = b.end - b.start, b.start  # the platform's session opens at the booked start
        b.start, b.end = start, start + length
        for fact in ("answered", "asked_to_move", "reached"):
            b.facts.pop(fact, None)
        b.facts["moved"] = utcnow()
        intent = Intent.attend if self.rng.random() < 0.85 else Intent.no_show
        b.traits = dataclasses.replace(b.traits, intent=intent)
        self.did["moved_by_lifeline"] += 1
        if b.kind is Kind.ai:
            self.hosts[b.kind].move(b, b.start, b.end)
            self._plan_ai(b, opens)
        else:
            self._plan_live(b)

    def setup_of(self, plugin: str) -> ConnectorSetup:
        """The tenant's instance of `plugin` the sandbox drives (its first, as `worlds_of` chose)."""
        return next(s for s in self.config.instances(self.tenant) if s.connector_class.name == plugin)

    def candidate_id(self, b: Booking) -> str:
        """Lifeline's id of `b`'s candidate: the ATS that hosts the interview and its id of the candidate."""
        host = self.hosts[b.kind]
        return canonical_id(self.setup_of(host.plugin).instance.name, host.candidate_ref(b))

    def on_wechat(self) -> None:
        """Give the candidates their WeChat traits (`Booking.wechat`), once, from `rng`: the actors of WeChat
        channels call it in `setup`, so a tenant without them draws nothing more."""
        if any(b.wechat is None for b in self.bookings):
            draw_wechat(self.rng, self.bookings)

    def office_hours(self, at: datetime) -> datetime:
        """`at`, or 09:30 the next working morning when it is outside 09:00-18:00 in the tenant's zone."""
        zone = zone_info(self.config.tenant(self.tenant).timezone)
        local = at.astimezone(zone)
        if 9 <= local.hour < 18:
            return at
        morning = local.replace(hour=9, minute=30, second=0, microsecond=0)
        return (morning if local.hour < 9 else morning + timedelta(days=1)).astimezone(at.tzinfo)

    # ------------------------------------------------------------------ ground truth

    def settle(self, now: datetime) -> None:
        """Write down what really happened to every interview that is over (a moved one: over in its new window)."""
        for b in self.bookings:
            if b.truth or not b.remote_id or now < b.end:
                continue
            b.truth = truth_of(b)
            if b.truth.startswith("missed"):
                b.facts["missed"] = b.end
                self.links[b.ref].pop("j", None)
            if b.truth.startswith("missed") and (b.truth == "missed_technical" or b.traits.wants_second_chance):
                b.facts["retry"] = now
                if b.kind in self.hosts:
                    self.hosts[b.kind].missed(b)


def _actors(sandbox: Sandbox, config: Config, tenant: str, worlds: dict[str, Any]) -> list[SandboxActor[Any]]:
    """An actor per plugin in `worlds` whose connector names one, by role and then plugin name."""
    classes = {setup.connector_class.name: setup.connector_class for setup in config.instances(tenant)}
    found = []
    for plugin in sorted(worlds):
        actor = actor_class(classes[plugin]) if plugin in classes else None
        if actor is not None:
            found.append(actor(sandbox, worlds[plugin]))
            found[-1].plugin = plugin
    return sorted(found, key=lambda a: a.role)  # stable: plugin names order each role


def worlds_of(config: Config, tenant: str, by_instance: dict[str, Any]) -> dict[str, Any]:
    """The emulator state the sandbox drives, per plugin: the first of the tenant's instances of each."""
    found: dict[str, Any] = {}
    for setup in config.instances(tenant):
        if setup.instance.name in by_instance:
            found.setdefault(setup.connector_class.name, by_instance[setup.instance.name])
    return found


def truth_of(b: Booking) -> str:
    """The outcome class of what the sandbox saw happen (Lifeline's decisions are compared with this)."""
    f = b.facts
    if "submitted" in f or ("joined" in f and b.kind is Kind.live):
        return "attended_late" if "late" in f else "attended"
    if "joined" in f:
        return "attended_partial"
    if "technical" in f:
        return "missed_technical"
    if "declined" in f or "asked_to_move" in f:
        return "missed_declined"
    return "missed_read_no_show" if "reached" in f else "missed_not_reached"


def _page_says(page: requests.Response | None, answers: tuple[str, ...]) -> str:
    """Which of the pages' `answers` (keys of core.remediation.texts.P) a page shows, as HR or a candidate reads it."""
    from lifeline_hub.core.remediation.texts import P

    text = page.text if page is not None else ""
    return next((key.split(".")[-1] for key in answers for lang in P if P[lang][key] in text), "unclear")


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone)[-11:]
