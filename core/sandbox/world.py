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
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import random
import re
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from email import message_from_string, policy
from typing import Any

import requests

from lifeline_hub.core.config import Config
from lifeline_hub.core.models import NotificationPurpose, utcnow, zone_info
from lifeline_hub.core.models.time import advance_clock
from lifeline_hub.core.sandbox.population import Booking, Intent, Kind, draw

log = logging.getLogger("lifeline.sandbox")

BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.5 Mobile/15E148 Safari/604.1")
SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel link protection)"
LINK = re.compile(r"/([jcr])/([A-Za-z0-9_\-.~]{8,})")
SLOT = re.compile(r'name="slot"[^>]*value="([^"]+)"')
HR_ANSWERS = ("hr.done.offer", "hr.done.reissue", "hr.done.attended", "hr.already", "hr.stale", "hr.unroutable")
HR_LINK = re.compile(r"https?://\S+?/hr/([A-Za-z0-9_\-.]+)")
PUBLIC_URL = "https://jobs.example.com"
"""The tenant's public address of Lifeline's pages (`LIFELINE_PUBLIC_URL` in `lifeline demo`): people follow a link's
path to the receiver on loopback, as behind the tenant's proxy."""
SMS_CONTENT = {
    "reminder": "${name}您好，您${time}的面试，进入：https://jobs.example.com/j/${code} 确认或改期：https://jobs.example.com/c/${confirm}",
    NotificationPurpose.reschedule_offer: "${name}您好，您${time}的面试未能进行，请选择新的时间：https://jobs.example.com/r/${code}",
    NotificationPurpose.reissued_link: "${name}您好，您的面试链接已更新，请在${time}前完成：https://jobs.example.com/j/${code}",
    NotificationPurpose.cancellation: "${name}您好，您${time}的面试已取消。",
    NotificationPurpose.invite: "${name}您好，您的面试时间为${time}，进入：https://jobs.example.com/j/${code}",
}
"""The approved SMS templates' wording (URLs are fixed in a template; only the token is a variable)."""
OUTAGE = timedelta(hours=2, minutes=30)
MINUTE = timedelta(minutes=1)


class Sandbox:
    """The simulated world; `worlds` maps a plugin name to its emulator's state object."""

    def __init__(self, config: Config, tenant: str, worlds: dict[str, Any], receiver_url: str,
                 bookings: list[Booking], seed: int) -> None:
        self.config, self.tenant, self.worlds = config, tenant, worlds
        self.receiver = receiver_url.rstrip("/")
        self.bookings = bookings
        self.rng = random.Random(seed * 7919 + 1)
        self.http = requests.Session()
        self._queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._seen: set[str] = set()
        self.by_phone = {_digits(b.phone): b for b in bookings if b.phone}
        self.by_email = {b.email.lower(): b for b in bookings}
        self.by_remote: dict[str, Booking] = {}
        self.links: dict[str, dict[str, str]] = {b.ref: {} for b in bookings}
        self.did: Counter[str] = Counter()
        """What people did: reads, clicks, scanner opens, joins, answers, HR decisions (for the report)."""
        self.interviewers: list[str] = []
        self._missed_window: dict[str, tuple[int, str]] = {}
        """Booking -> the platform invitation's (resets, deadline) when it was missed: a change is a second chance."""
        self.hr = config.tenant(tenant).policy
        ai = sorted(b.start for b in bookings if b.kind is Kind.ai)
        self.outage = (ai[len(ai) // 2], ai[len(ai) // 2] + OUTAGE) if ai else None
        """The platform's bad afternoon: joins in this window fail (technical misses cluster here)."""

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
        wall clock, and people react to what Lifeline sends as it comes."""
        self.setup()
        while True:
            now = utcnow()
            self.observe()
            self.advance_to(now)
            self.settle(now)
            if stop.wait(every):
                return

    # ------------------------------------------------------------------ set-up and time

    def setup(self) -> None:
        """The tenant's people and the vendors' fixed state (HR, interviewers, SMS templates, bad numbers)."""
        dingtalk, feishu, sms, mail = (self.worlds.get(p) for p in ("dingtalk", "feishu", "aliyun_sms", "email"))
        if dingtalk is not None:
            for userid, union in zip(self.hr.hr_recipients, self.hr.hr_assignees, strict=False):
                dingtalk.add_user(userid, union_id=union, name="HR 王敏")
        if feishu is not None:
            names = ("面试官 李强", "面试官 赵静", "面试官 陈涛")
            self.interviewers = [feishu.add_user(name)["open_id"] for name in names]
        if sms is not None:
            self._sms_templates(sms)
            for b in self.bookings:
                if b.phone and not b.traits.phone_ok:
                    sms.set_outcome(b.phone, "failed", "MK:0012")  # an empty number
        if mail is not None:
            for b in self.bookings:
                if not b.traits.email_ok:
                    mail.reject(b.email)
        for b in self.bookings:
            self.at(b.booked_at, self._book, b)

    def _sms_templates(self, sms: Any) -> None:
        from lifeline_hub.connectors.aliyun_sms.emulator_state import Template

        for setup in self.config.instances(self.tenant):
            for purpose, code in (getattr(setup.settings, "templates", None) or {}).items():
                if setup.connector_class.name == "aliyun_sms":
                    text = SMS_CONTENT.get(purpose, SMS_CONTENT["reminder"])
                    sms.settings.templates[code] = Template(content=text)

    def at(self, when: datetime, act: Callable[..., None], *args: Any) -> None:
        """Have `act(*args)` happen at `when` (in order of scheduling among equal times)."""
        step: Callable[[], None] = functools.partial(act, *args)
        heapq.heappush(self._queue, (when, next(self._order), step))

    def move_clocks(self, to: datetime) -> None:
        """Move this process's clock and every emulator's to `to` (never backwards)."""
        delta = to - utcnow()
        if delta <= timedelta(0):
            return
        advance_clock(delta)
        for world in self.worlds.values():
            world.advance(delta.total_seconds())

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
        platform = self.worlds.get("aiplatform")
        if platform is not None:
            platform.tick()

    # ------------------------------------------------------------------ the recruiter books

    def _book(self, b: Booking) -> None:
        if b.kind is Kind.ai:
            inv = self.worlds["aiplatform"].invite(
                b.name, email=b.email, phone=b.phone or None, external_ref=b.ref, deadline_basis="absolute",
                deadline_at=b.end.isoformat(), window_hours=None, opens_at=b.start.isoformat())
            b.remote_id = inv["id"]
            self.by_remote[b.remote_id] = b
            self._plan_ai(b)
        else:
            feishu = self.worlds["feishu"]
            number = int(b.ref.rpartition("-")[2])  # Hire ids are numbers
            talent = str(7_200_000_000_000_000_000 + number)
            feishu.add_talent(talent, b.name, mobile=b.phone or None, email=b.email)
            b.remote_id = feishu.add_hire_interview(
                str(7_100_000_000_000_000_000 + number), talent, _ms(b.start), _ms(b.end),
                interviewers=[self.rng.choice(self.interviewers)] if self.interviewers else [])
            self.by_remote[b.remote_id] = b
            self._plan_live(b)

    def _plan_ai(self, b: Booking) -> None:
        t = b.traits
        if t.intent is Intent.attend:
            window = (b.end - b.start).total_seconds()
            share = self.rng.uniform(0.75, 0.9) if t.late else self.rng.uniform(0.0, 0.4)
            self.at(b.start + timedelta(seconds=window * share), self._join_ai, b)

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
        self.worlds["feishu"].update_hire_interview(b.remote_id, begin_time=_ms(start), end_time=_ms(start + length))
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
        platform, now = self.worlds["aiplatform"], utcnow()
        self._press_join(b)
        down = self.outage is not None and self.outage[0] <= now < self.outage[1]
        if down or b.traits.device_trouble:
            platform.technical(b.remote_id, "join_error", "MEDIA_SERVER_UNAVAILABLE" if down else "CAMERA_BLOCKED")
            b.facts.setdefault("technical", now)
            self.did["technical_failures"] += 1
            if attempt == 1:
                self.at(now + 4 * MINUTE, self._join_ai, b, 2)
            return
        platform.start(b.remote_id)
        b.facts["joined"] = now
        self.did["joined"] += 1
        self.at(now + timedelta(minutes=self.rng.randint(20, 40)), self._submit, b)

    def _submit(self, b: Booking) -> None:
        self.worlds["aiplatform"].submit(b.remote_id)
        b.facts["submitted_after_remediation" if b.truth else "submitted"] = utcnow()
        if b.truth:
            self.did["completed_after_remediation"] += 1

    def _press_join(self, b: Booking) -> None:
        """Through Lifeline's join link when the candidate has one (interstitial, then Join), else the platform's."""
        token = self.links[b.ref].get("j")
        if token:
            self._visit("GET", f"/j/{token}")
            self._visit("POST", f"/j/{token}")
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
        for plugin, look in (("aliyun_sms", self._sms), ("email", self._mail), ("dingtalk", self._dingtalk),
                             ("feishu", self._feishu), ("aiplatform", self._platform)):
            if plugin in self.worlds:
                look(self.worlds[plugin])

    def _platform(self, platform: Any) -> None:
        """A re-issued invitation (reset or extended: the platform tells the candidate itself) brings back
        those who want a second chance."""
        for b in self.bookings:
            if b.kind is Kind.ai and "retry" in b.facts and "joined_second_chance" not in b.facts:
                inv = platform.get(b.remote_id)
                if (inv["resets"], inv["deadline_at"]) != self._missed_window.get(b.ref, (0, inv["deadline_at"])) \
                        and self._new(f"reissued/{b.remote_id}"):
                    self.at(self._office_hours(utcnow() + timedelta(hours=self.rng.uniform(0.5, 6))), self._retry, b)

    def _new(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def _sms(self, sms: Any) -> None:
        for m in sms.message_list():  # SendStatus 1 waiting, 2 failed, 3 delivered
            if m["status"] == 1 or not self._new(f"sms/{m['biz_id']}"):
                continue
            b = self.by_phone.get(_digits(m["phone"]))
            if b is None or m["status"] != 3:
                continue
            self.did["sms_delivered"] += 1
            if self.rng.random() < b.traits.sms_read:
                self.at(utcnow() + self._reading_delay(), self._read, b, m["content"], "sms")

    def _mail(self, mail: Any) -> None:
        for m in mail.messages():
            if not self._new(f"mail/{m['message_id']}/{m['seq']}"):
                continue
            for rcpt in m["rcpt_tos"]:
                b = self.by_email.get(rcpt.lower())
                if b is None:
                    continue
                text = _plain(m["raw"])
                if b.traits.scanner:  # the gateway opens every link within seconds of delivery
                    self.at(utcnow() + timedelta(seconds=self.rng.randint(2, 12)), self._scan, text)
                if self.rng.random() < b.traits.email_read:
                    self.at(utcnow() + self._reading_delay(4), self._read, b, text, "email")

    def _reading_delay(self, slower: float = 1.0) -> timedelta:
        return timedelta(minutes=min(self.rng.expovariate(1 / (25 * slower)), 600) + 1)

    def _scan(self, text: str) -> None:
        for kind, token in LINK.findall(text):
            self._visit("GET", f"/{kind}/{token}", agent=SCANNER)
            self.did["scanner_opens"] += 1

    def _read(self, b: Booking, text: str, channel: str) -> None:
        """The candidate reads one message and acts on its links."""
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
            self._visit("GET", f"/j/{links['j']}")  # looks, and does not come
            self.did["opened_no_show"] += 1
        if "j" in links and "retry" in b.facts and "joined" not in b.facts:
            self.at(now + timedelta(minutes=self.rng.randint(5, 60)), self._retry, b)

    def _answer(self, b: Booking, token: str) -> None:
        action = {Intent.decline: "decline", Intent.reschedule: "reschedule"}.get(b.traits.intent)
        if action is None:
            if self.rng.random() > 0.6:
                return  # most people who come never say so
            action = "confirm"
        answer = self._visit("POST", f"/c/{token}", data={"action": action})
        b.facts["answered"] = utcnow()
        if action != "confirm":
            b.facts["declined" if action == "decline" else "asked_to_move"] = utcnow()
        self.did[f"answered_{action}"] += 1
        moved = LINK.search(answer.headers.get("location", "")) if answer is not None else None
        if moved and moved.group(1) == "r":  # asked to move: the page sends them on to pick a time
            self._pick_slot(b, moved.group(2))

    def _pick_slot(self, b: Booking, token: str) -> None:
        page = self._visit("GET", f"/r/{token}")
        slots = SLOT.findall(page.text) if page is not None else []
        if slots:
            self._visit("POST", f"/r/{token}", data={"slot": slots[0], "reason": "schedule_conflict"})
            b.facts["picked_slot"] = utcnow()
            self.did["reschedule_requests"] += 1

    def _retry(self, b: Booking) -> None:
        """A second chance (a re-issued link or an approved new window): this time it works."""
        if self.worlds.get("aiplatform") is None or b.kind is not Kind.ai or "joined_second_chance" in b.facts:
            return
        self._press_join(b)
        platform = self.worlds["aiplatform"]
        try:
            platform.start(b.remote_id)
        except Exception as exc:
            log.info("sandbox: %s could not start again: %s", b.ref, exc)
            return
        b.facts["joined_second_chance"] = utcnow()
        self.did["second_chances_taken"] += 1
        self.at(utcnow() + timedelta(minutes=self.rng.randint(20, 40)), self._submit, b)

    def _visit(self, method: str, path: str, agent: str = BROWSER,
               data: dict[str, str] | None = None) -> requests.Response | None:
        try:
            return self.http.request(method, self.receiver + path, data=data, allow_redirects=False, timeout=10,
                                     headers={"User-Agent": agent, "Accept-Language": "zh-CN,zh;q=0.9"})
        except requests.RequestException as exc:
            log.warning("sandbox: %s %s failed: %s", method, path.split("/")[1], type(exc).__name__)
            return None

    # ------------------------------------------------------------------ staff: HR and interviewers

    def _dingtalk(self, dingtalk: Any) -> None:
        for todo in dingtalk.todo_list():
            if not todo.get("done") and self._new(f"todo/{todo['id']}"):
                self.did["hr_todos"] += 1
                self.at(self._office_hours(utcnow() + timedelta(hours=self.rng.uniform(0.5, 4))),
                        self._work_todo, dingtalk, todo)
        for approval in dingtalk.approval_list():
            if approval["status"] == "RUNNING" and self._new(f"approval/{approval['instanceId']}"):
                self.at(self._office_hours(utcnow() + timedelta(hours=self.rng.uniform(0.5, 3))),
                        self._decide, dingtalk, approval)
        for notice in dingtalk.messages():
            for userid, status in notice["recipients"].items():
                if status == "unread" and self._new(f"notice/{notice['task_id']}/{userid}"):
                    self.at(utcnow() + self._reading_delay(2),
                            self._read_notice, dingtalk, notice["task_id"], userid)

    def _read_notice(self, dingtalk: Any, task_id: int, userid: str) -> None:
        dingtalk.mark_read(task_id, userid)
        self.did["hr_notices_read"] += 1

    def _work_todo(self, dingtalk: Any, todo: dict[str, Any]) -> None:
        """HR follows the todo's first link (the suggested next step) most of the time, then ticks it off."""
        links = HR_LINK.findall(str(todo.get("description") or ""))
        if links and self.rng.random() < 0.85:
            page = self._visit("POST", f"/hr/{links[0]}")
            self.did[f"hr_next_steps_{_page_says(page, HR_ANSWERS)}"] += 1
        dingtalk.set_todo_done(todo["id"], by=self.hr.hr_recipients[0] if self.hr.hr_recipients else "")
        self.did["hr_todos_done"] += 1

    def _decide(self, dingtalk: Any, approval: dict[str, Any]) -> None:
        """HR agrees to most requests to move an interview; one agreed before the start moved it."""
        agree = self.rng.random() < 0.8
        approvers = approval.get("approvers") or [approval["originatorUserId"]]
        dingtalk.decide_approval(approval["instanceId"], "agree" if agree else "refuse", approvers[0])
        self.did["approvals_agreed" if agree else "approvals_refused"] += 1
        marked = [str(f.get("value", "")) for f in approval.get("form") or [] if "|" in str(f.get("value", ""))]
        b = self.by_remote.get(marked[0].rpartition("/")[2]) if marked else None
        if agree and b is not None and not b.truth and utcnow() < b.start:
            b.facts["moved"] = b.facts["retry"] = utcnow()

    def _feishu(self, feishu: Any) -> None:
        for message in list(feishu.messages.values()):
            if message.sender_type != "app":
                continue
            for reader in message.recipients:
                fresh = reader not in message.reads and self._new(f"feishu/{message.message_id}/{reader}")
                if fresh and self.rng.random() < 0.9:
                    self.at(utcnow() + self._reading_delay(), self._read_feishu, feishu, message.message_id, reader)

    def _read_feishu(self, feishu: Any, message_id: str, reader: str) -> None:
        feishu.mark_read(message_id, reader)
        self.did["interviewer_reads"] += 1

    def _office_hours(self, at: datetime) -> datetime:
        """`at`, or 09:30 the next working morning when it is outside 09:00-18:00 in the tenant's zone."""
        zone = zone_info(self.config.tenant(self.tenant).timezone)
        local = at.astimezone(zone)
        if 9 <= local.hour < 18:
            return at
        morning = local.replace(hour=9, minute=30, second=0, microsecond=0)
        return (morning if local.hour < 9 else morning + timedelta(days=1)).astimezone(at.tzinfo)

    # ------------------------------------------------------------------ ground truth

    def settle(self, now: datetime) -> None:
        """Write down what really happened to every interview that is over (or was moved to a new window)."""
        for b in self.bookings:
            if b.truth or not b.remote_id or (now < b.end and "moved" not in b.facts):
                continue
            b.truth = truth_of(b)
            if b.truth.startswith("missed"):
                b.facts["missed"] = b.end
                self.links[b.ref].pop("j", None)
            if b.truth.startswith("missed") and (b.truth == "missed_technical" or b.traits.wants_second_chance):
                b.facts["retry"] = now
                if b.kind is Kind.ai and "aiplatform" in self.worlds:
                    inv = self.worlds["aiplatform"].get(b.remote_id)
                    self._missed_window[b.ref] = (inv["resets"], inv["deadline_at"])


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
    if "moved" in f:
        return "rescheduled"
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


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _plain(raw: str) -> str:
    """The text of a MIME message (all text parts)."""
    message = message_from_string(raw, policy=policy.default)
    parts = [p.get_content() for p in message.walk() if p.get_content_type() in ("text/plain", "text/html")]
    return "\n".join(str(p) for p in parts)
