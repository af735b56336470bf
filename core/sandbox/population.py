"""The simulated population: candidates, their interviews, and how each of them tends to behave.

Everything is drawn up front from one seeded RNG, so a run is repeatable; what then *happens* (who
is reached, who joins, who hits the platform outage) comes out of the simulation, and the sandbox
records it as ground truth. The rates follow what recruiting teams report: SMS is read far more
often than e-mail, a share of corporate mailboxes run link scanners, no-shows grow with the lead
time between booking and interview, and technical failures cluster on one platform at one time.

In a tenant whose recruiters use WeCom, candidates are also on WeChat (`draw_wechat`): a share added the
recruiter as a contact, a share follows the company's Official Account; they read WeChat more than texts.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"


class Kind(StrEnum):
    ai = "ai"
    """An AI interview on the interview platform: a window to complete it in (attendance observed)."""
    live = "live"
    """A video interview booked in Feishu Hire with interviewers (no meeting attendance source)."""


class Intent(StrEnum):
    attend = "attend"
    no_show = "no_show"
    decline = "decline"
    reschedule = "reschedule"


@dataclass(frozen=True)
class Traits:
    """How one candidate reacts: reachability, reading habits, intent, and second chances."""

    phone_ok: bool
    email_ok: bool
    scanner: bool
    """Their mailbox's security gateway opens every link seconds after delivery."""
    sms_read: float
    email_read: float
    intent: Intent
    late: bool
    """Joins well after the start (live) or submits near the deadline (AI)."""
    device_trouble: bool
    """Their own camera or network fails, whatever the platform does."""
    wants_second_chance: bool
    """Takes up a reschedule offer after a miss."""


@dataclass(frozen=True)
class WeChatTraits:
    """A candidate on WeChat, in a tenant that reaches them there (drawn by `draw_wechat`)."""

    contact: bool
    """Added the recruiter's WeCom from WeChat (a customer contact: channel `wecom`)."""
    follower: bool
    """Follows the company's Official Account (channel `wechat`)."""
    read: float
    """Chance to read a WeChat message (read more often than texts)."""
    adds_after: timedelta
    """How long after the booking they scan the recruiter's contact-me code or the account's code (the recruiter
    sends both with the invitation)."""
    deletes_recruiter: bool
    """Deletes the recruiter between the booking and the interview (`del_follow_user`)."""
    blocks_templates: bool
    """Turned off the account's template messages (their sends end `failed:user block`)."""


@dataclass
class Booking:
    """One interview of one candidate: when it was booked, its window, and the candidate's traits."""

    ref: str
    name: str
    phone: str
    """Mainland mobile number, or "" for a candidate who gave only an e-mail address."""
    email: str
    kind: Kind
    booked_at: datetime
    start: datetime
    end: datetime
    traits: Traits
    hr_moves: bool = False
    """HR moves it in the ATS before it happens (live interviews)."""
    remote_id: str = ""
    """The vendor's id once created (invitation id, Hire interview id)."""
    truth: str = ""
    """What really happened, in outcome-class terms (set by the sandbox as it happens)."""
    facts: dict[str, datetime] = field(default_factory=dict)
    """When the candidate was reached, answered, joined, failed... (the sandbox's own record)."""
    wechat: WeChatTraits | None = None
    """On WeChat: only in a tenant whose actors play WeChat (`draw_wechat`)."""
    asked_for: datetime | None = None
    """The start the candidate picked when asking to move it (Lifeline moves it there once HR agrees)."""


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))


def no_show_rate(lead: timedelta) -> float:
    """No-shows grow with the lead time between booking and interview (capped)."""
    return min(0.06 + 0.03 * lead.total_seconds() / 86400, 0.30)


def _traits(rng: random.Random, lead: timedelta) -> Traits:
    roll, no_show = rng.random(), no_show_rate(lead)
    intent = (Intent.no_show if roll < no_show else Intent.decline if roll < no_show + 0.05
              else Intent.reschedule if roll < no_show + 0.10 else Intent.attend)
    return Traits(
        phone_ok=rng.random() < 0.92, email_ok=rng.random() < 0.95, scanner=rng.random() < 0.25,
        sms_read=rng.uniform(0.75, 0.98), email_read=rng.uniform(0.3, 0.7), intent=intent,
        late=rng.random() < 0.12, device_trouble=rng.random() < 0.03, wants_second_chance=rng.random() < 0.7,
    )


def draw_wechat(rng: random.Random, bookings: list[Booking]) -> None:
    """Give every booking its WeChat traits, in booking order, from `rng` (the sandbox's: a tenant without WeChat
    draws none of them, so its runs stay as they were)."""
    for b in bookings:
        contact, follower = rng.random() < 0.5, rng.random() < 0.4
        b.wechat = WeChatTraits(
            contact=contact, follower=follower, read=rng.uniform(0.85, 0.99),
            adds_after=timedelta(minutes=rng.uniform(1, 40)),
            deletes_recruiter=contact and rng.random() < 0.12, blocks_templates=follower and rng.random() < 0.15)


def _at(rng: random.Random, day: datetime, hours: list[float]) -> datetime:
    """One of the local `hours` on `day` (the instant of a local midnight)."""
    return day + timedelta(hours=rng.choice(hours))


def draw(seed: int, n: int, days: int, now: datetime, zone_offset: timedelta) -> list[Booking]:
    """`n` interviews starting on days 1 to `days - 1` from `now` (the last day is for deciding and
    following up), booked 1-7 days before their start (those booked earlier are created at `now`)."""
    rng = random.Random(seed)
    midnight = (now + zone_offset).replace(hour=0, minute=0, second=0, microsecond=0) - zone_offset
    bookings = []
    for i in range(n):
        day = midnight + timedelta(days=rng.randint(1, max(days - 1, 1)))
        kind = Kind.ai if rng.random() < 0.75 else Kind.live
        start = _at(rng, day, [10, 10.5, 11, 14, 14.5, 15, 15.5, 16, 16.5, 17] if kind is Kind.live else [9, 10, 14])
        end = start + (timedelta(hours=rng.choice([24, 36])) if kind is Kind.ai else timedelta(minutes=45))
        lead = timedelta(days=rng.randint(1, 7), hours=rng.randint(0, 23))
        bookings.append(Booking(
            ref=f"req-{i:04d}", name=_name(rng),
            phone=f"138{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.8 else "",  # some give only e-mail
            email=f"candidate{i:04d}@example.com", kind=kind, booked_at=max(start - lead, now), start=start,
            end=end, traits=_traits(rng, lead),
            hr_moves=kind is Kind.live and rng.random() < 0.08,
        ))
    return sorted(bookings, key=lambda b: b.start)


LIVE_OPEN = 0.15
"""Share of `draw_live`'s AI interviews whose windows opened before start-up and close within minutes."""
LIVE_MOVERS = 6
"""In `draw_live`, every sixth candidate asks to move their interview, so a reschedule shows early."""
LIVE_AI_WINDOW = timedelta(minutes=90)
"""`draw_live`'s AI windows: long enough to join in the first 40% and submit 20-40 minutes later."""


def draw_live(seed: int, n: int, now: datetime, hours: float = 4) -> list[Booking]:
    """`n` interviews for someone watching in real time (`make airflow`), all booked at `now`, whatever the hour.

    A few AI windows opened hours ago and close 1-5 minutes after `now`, their candidates not come (decided
    once the tenant's grace has passed); the rest start from 10 minutes on, spread over the next `hours`: AI
    interviews with `LIVE_AI_WINDOW`s (nobody leaves it to the deadline), live ones of 45 minutes. HR moves
    the first of them (a live one, decided `rescheduled` at once) and a quarter of the other live ones in the
    ATS; every `LIVE_MOVERS`-th candidate answers a reminder with a request to move. Those starting 60-90
    minutes on get their T-1h reminder within the first half hour.
    """
    rng = random.Random(seed)
    opening = max(1, round(n * LIVE_OPEN))
    step = (hours * 60 - 10) / max(n - opening, 1)
    bookings = []
    for i in range(n):
        first = i == opening
        kind = Kind.ai if i < opening or (not first and rng.random() < 0.75) else Kind.live
        if i < opening:
            end = now + timedelta(minutes=rng.randint(1, 5))
            start = end - LIVE_AI_WINDOW
        else:
            start = now + timedelta(minutes=round(10 + (i - opening) * step + rng.uniform(0, step / 2)))
            end = start + (LIVE_AI_WINDOW if kind is Kind.ai else timedelta(minutes=45))
        traits = _traits(rng, max(start - now, timedelta(0)))
        if i < opening and traits.intent is Intent.attend:
            traits = dataclasses.replace(traits, intent=Intent.no_show)  # not come with minutes left: won't
        if i % LIVE_MOVERS == LIVE_MOVERS - 1:
            traits = dataclasses.replace(traits, intent=Intent.reschedule)
        if kind is Kind.ai:
            traits = dataclasses.replace(traits, late=False)
        bookings.append(Booking(
            ref=f"req-{i:04d}", name=_name(rng),
            phone=f"138{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.8 else "",
            email=f"candidate{i:04d}@example.com", kind=kind, booked_at=now, start=start, end=end,
            traits=traits, hr_moves=kind is Kind.live and (first or rng.random() < 0.25),
        ))
    return sorted(bookings, key=lambda b: b.start)
