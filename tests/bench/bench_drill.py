"""Exactly-once drill on PostgreSQL: live dispatchers, killed the hard way, against every built-in sink.

`runs` times, one action of every kind every built-in connector performs (DingTalk work notice, todo,
approval, calendar create and update; the same five on Feishu; the AI-interview platform's invitation and
link re-issue; an Aliyun SMS; an e-mail) is planned into the outbox of a PostgreSQL store. `WORKERS`
dispatcher processes perform them at the same time, with short leases, against the vendor emulators
with vendor latency and faults on (429s, 5xx, stalled answers, expired tokens). Each dispatcher dies
the hard way (`os._exit`, no cleanup) at random: right after a vendor call returned and before the
store update (the dangerous spot), right after a claim, or at a random instant (mid-request, mid-
transaction); its supervisor forks a new one at once. At the end the vendors' own records are
counted, not Lifeline's tables: one object (or one applied update) per action.

Printed: `drill_runs`, `drill_actions`, `drill_kills`, `drill_duplicates` (vendor objects beyond one per
action, goal 0), `drill_lost` (actions that ended without their vendor object or not done, goal 0),
`drill_backend: postgresql`, `drill_workers`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lifeline_hub.connectors.aiplatform.emulator import create_app as aiplatform_app
from lifeline_hub.connectors.aiplatform.emulator_state import AIPlatformWorld
from lifeline_hub.connectors.aiplatform.emulator_state import EmulatorSettings as AiSettings
from lifeline_hub.connectors.aliyun_sms.emulator import create_app as sms_app
from lifeline_hub.connectors.aliyun_sms.emulator_state import EmulatorSettings as SmsSettings
from lifeline_hub.connectors.aliyun_sms.emulator_state import SmsWorld, Template
from lifeline_hub.connectors.dingtalk.emulator import create_app as dingtalk_app
from lifeline_hub.connectors.dingtalk.emulator_state import DingTalkWorld
from lifeline_hub.connectors.dingtalk.emulator_state import EmulatorSettings as DtSettings
from lifeline_hub.connectors.email.emulator import MailSettings, MailWorld
from lifeline_hub.connectors.email.emulator import create_app as mail_app
from lifeline_hub.connectors.feishu.actions import approval_uuid
from lifeline_hub.connectors.feishu.emulator import EmulatorSettings as FsSettings
from lifeline_hub.connectors.feishu.emulator import FeishuWorld
from lifeline_hub.connectors.feishu.emulator import create_app as feishu_app
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.connections import env_var_name
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.models import Action, ActionStatus, Candidate, ContactPoint, idempotency_key, utcnow
from lifeline_hub.core.outbox import dispatch, enqueue
from lifeline_hub.core.plugins import get_host
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions
from tests.pgserver import create_database, postgres_server

ROOT = Path(__file__).resolve().parents[2]
TENANT = "drill"
WORKERS = 4
LEASE = timedelta(seconds=2)
"""Short: a dead worker's rows come free two seconds after its last renewal."""
KILLED = 137
SIGN, PROCESS = "面试助手", "PROC-LIFELINE-RESCHEDULE"
SMS_TEMPLATE = ("SMS_910000009", "${name}您好，您的面试时间为${time}，链接：https://lifeline.example/j/${code}")
STAFF = 24
"""DingTalk and Feishu people messages go to, in turn (vendors meter per recipient)."""
KINDS = (
    "dt.send_message", "dt.create_task", "dt.create_approval", "dt.create_calendar_event", "dt.update_calendar_event",
    "fs.send_message", "fs.create_task", "fs.create_approval", "fs.create_calendar_event", "fs.update_calendar_event",
    "ai.create_invitation", "ai.reissue_link", "sms.send_sms", "mail.send_email",
)
FAULTS = Faults(rate_limit=0.01, server_error=0.02, timeout=0.01, timeout_seconds=0.5, expire_token=0.003,
                latency_seconds=0.2, seed=20261207)
"""An expired token is the app's for every worker (DingTalk hands all of them the same one), so its rate is lower."""
KILL_AT = {"claimed": 0.01, "performed": 0.05}
"""Probability that a worker dies at a probe point (`performed`: the vendor answered, nothing is stored yet)."""
LIFETIME = (5.0, 60.0)
"""A worker also dies at a random instant within this many seconds of its start (whatever it is doing)."""
MAX_ATTEMPTS = 500
"""Every claim counts as an attempt (so a row that kills its worker runs out); here the kills are the drill's,
a hundred times a real fleet's, so the budget is a hundred times the default."""


def run(quick: bool) -> dict[str, float | str]:
    runs = 40 if quick else 500
    with tempfile.TemporaryDirectory(prefix="lifeline-drill-") as tmp, postgres_server(max_connections=200) as pg, \
            vendors() as v:
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # requests cut short by kills are expected
        store_url = create_database(pg)
        path = Path(tmp) / "plugins.toml"
        path.write_text(config_text(store_url, v), encoding="utf-8")
        store = Store(store_url)
        store.upgrade()
        config = load(path, get_host())
        planned = plan(store, config, v, runs)
        kills = supervise(path, Path(tmp) / "stop", store, set(planned))
        final = {a.idempotency_key: a for a in rows(store)}
        found = count(v, planned)
        store.engine.dispose()
    duplicates = sum(max(n - 1, 0) for n in found.values())
    lost = sum(1 for key, n in found.items() if n == 0 or final[key].status is not ActionStatus.done)
    return {"drill_runs": runs, "drill_actions": len(planned), "drill_kills": kills, "drill_duplicates": duplicates,
            "drill_lost": lost, "drill_backend": "postgresql", "drill_workers": WORKERS}


# -- the vendors ---------------------------------------------------------------------------------------


@dataclass
class Vendors:
    dingtalk: DingTalkWorld
    feishu: FeishuWorld
    platform: AIPlatformWorld
    sms: SmsWorld
    mail: MailWorld
    urls: dict[str, str]
    calendar_id: str
    staff_dt: list[str]
    staff_fs: list[str]


@contextmanager
def vendors() -> Iterator[Vendors]:
    """The five emulators on loopback free ports, with the drill's people and faults, connections in the env."""
    dingtalk = DingTalkWorld(DtSettings())
    feishu = FeishuWorld(FsSettings())
    platform = AIPlatformWorld(AiSettings())
    sms = SmsWorld(SmsSettings(sign_names=[SIGN], limit_day=None, templates={
        SMS_TEMPLATE[0]: Template(content=SMS_TEMPLATE[1])}))
    staff_dt = [dingtalk.add_user(f"hr{i:02d}", union_id=f"unionhr{i:02d}", name=f"HR {i}")["userid"]
                for i in range(STAFF)]
    staff_fs = [feishu.add_user(f"HR {i}")["open_id"] for i in range(STAFF)]
    feishu.add_approval_definition(PROCESS, "Reschedule")
    calendar_id = feishu.add_calendar("Interviews")
    with ExitStack() as stack:
        mail = MailWorld(MailSettings())
        stack.callback(mail.close)
        servers = {"dt": dingtalk_app(world=dingtalk), "fs": feishu_app(world=feishu),
                   "ai": aiplatform_app(world=platform), "sms": sms_app(world=sms), "mail": mail_app(world=mail)}
        urls = {name: stack.enter_context(LoopbackServer(app)).url for name, app in servers.items()}
        for world in (dingtalk, feishu, platform, sms, mail):
            world.configure_faults(FAULTS)
            stack.callback(world.close)
        from lifeline_hub.connectors.aiplatform.connector import AIPlatformConnector
        from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
        from lifeline_hub.connectors.dingtalk.plugin import DingTalkConnector
        from lifeline_hub.connectors.email.plugin import EmailConnector
        from lifeline_hub.connectors.feishu.plugin import FeishuConnector

        connections = {"drill_dt": DingTalkConnector.emulator_connection(dingtalk),
                       "drill_fs": FeishuConnector.emulator_connection(feishu),
                       "drill_ai": AIPlatformConnector.emulator_connection(platform),
                       "drill_sms": AliyunSmsConnector.emulator_connection(sms),
                       "drill_mail": EmailConnector.emulator_connection(mail)}
        for conn_id, connection in connections.items():
            os.environ[env_var_name(conn_id)] = json.dumps(connection or {})
        yield Vendors(dingtalk, feishu, platform, sms, mail, urls, calendar_id, staff_dt, staff_fs)


def config_text(store_url: str, v: Vendors) -> str:
    def toml(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {toml(x)}" for k, x in value.items()) + " }"
        return json.dumps(value, ensure_ascii=False)

    instances: dict[str, dict[str, Any]] = {
        "dt": {"plugin": "dingtalk", "connection_id": "drill_dt", "base_urls": {"oapi": v.urls["dt"],
                                                                               "api": v.urls["dt"]},
               "corp_id": v.dingtalk.settings.corp_id, "agent_id": v.dingtalk.settings.apps[0].agent_id,
               "operator_union_id": "unionhr00", "approval_process_codes": [PROCESS], "read_timeout_seconds": 2.0,
               "todo_detail_url": "https://ats.example/interviews"},
        "fs": {"plugin": "feishu", "connection_id": "drill_fs", "base_urls": {"open": v.urls["fs"]},
               "calendar_id": v.calendar_id, "http_timeout_seconds": 2.0},
        "ai": {"plugin": "aiplatform", "connection_id": "drill_ai", "base_urls": {"api": f"{v.urls['ai']}/v1"},
               "read_timeout_seconds": 2.0},
        "sms": {"plugin": "aliyun_sms", "connection_id": "drill_sms", "base_urls": {"api": v.urls["sms"]},
                "sign_name": SIGN, "templates": {"invite": SMS_TEMPLATE[0]}, "http_timeout_seconds": 2.0},
        "mail": {"plugin": "email", "connection_id": "drill_mail",
                 "base_urls": {"smtp": v.mail.url, "imap": v.mail.imap_url},
                 "from_address": "recruiting@drill.example.com", "starttls": False, "timeout_seconds": 2.0},
    }
    lines = ["[lifeline]", f"store = {toml(store_url)}", "", f"[tenants.{TENANT}]", "",
             f"[tenants.{TENANT}.policy]", f"dispatch_max_attempts = {MAX_ATTEMPTS}", "dispatch_backoff_seconds = 1",
             "dispatch_max_backoff_seconds = 10", ""]
    for name, settings in instances.items():
        lines += [f"[tenants.{TENANT}.connectors.{name}]", *(f"{k} = {toml(x)}" for k, x in settings.items()), ""]
    return "\n".join(lines)


# -- planning ------------------------------------------------------------------------------------------


def plan(store: Store, config: Config, v: Vendors, runs: int) -> dict[str, Action]:
    """Every kind once per run: candidates in the store, the objects updates need at the vendors, the rows."""
    now = utcnow()
    start = now + timedelta(days=3)
    planned: dict[str, Action] = {}
    for i in range(runs):
        candidate = Candidate(source=f"{TENANT}.ats", remote_id=f"c{i}", name=f"候选人{i:04d}", contacts=(
            ContactPoint.phone(f"139{i:08d}"), ContactPoint.email(f"candidate{i:04d}@example.com")))
        store.write(TENANT, [candidate])
        interview = f"{TENANT}.ats/iv{i}"
        when = start + timedelta(hours=i % 48)
        dt_user, fs_user = v.staff_dt[i % STAFF], v.staff_fs[i % STAFF]
        dt_event = v.dingtalk.add_calendar_event("unionhr00", f"interview {i}", when.timestamp(),
                                                 (when + timedelta(hours=1)).timestamp())
        fs_event = v.feishu.add_calendar_event(v.calendar_id, f"interview {i}", int(when.timestamp()),
                                               int((when + timedelta(hours=1)).timestamp()))
        invitation = v.platform.invite(f"候选人{i:04d}", email=f"candidate{i:04d}@example.com",
                                       external_ref=f"seed-{i}")["id"]
        for kind in KINDS:
            instance, _, action = kind.partition(".")
            key = idempotency_key(interview, 0, f"{kind}/drill{i}", 0)
            planned[key] = Action(idempotency_key=key, tenant=TENANT, connector=f"{TENANT}.{instance}", kind=action,
                                  interview_id=interview, due_at=now, payload=payload(
                                      kind, key, i, candidate.id, when, dt_user, fs_user, dt_event, fs_event,
                                      invitation))
    with store.begin() as conn:
        enqueue(conn, list(planned.values()), now)
    return planned


def payload(kind: str, key: str, i: int, candidate: str, when: datetime, dt_user: str, fs_user: str,
            dt_event: str, fs_event: str, invitation: str) -> dict[str, Any]:
    """The row's payload; its title, summary or reference carries the key, so the vendors' records show it."""
    end = when + timedelta(hours=1)
    moved = {"start_at": (when + timedelta(days=1)).isoformat(), "end_at": (end + timedelta(days=1)).isoformat()}
    match kind:
        case "dt.send_message":
            return {"recipients": [dt_user], "title": f"drill {key}", "text": f"run {i}", "audience": "staff"}
        case "fs.send_message":
            return {"recipients": [fs_user], "title": f"drill {key}", "text": f"run {i}", "audience": "staff"}
        case "dt.create_task":
            return {"assignees": [f"unionhr{i % STAFF:02d}"], "title": f"drill {key}", "description": f"run {i}"}
        case "fs.create_task":
            return {"assignees": [fs_user], "title": f"drill {key}", "description": f"run {i}"}
        case "dt.create_approval":  # several HR people start them, so a look-up lists one person's, as in a company
            return {"originator": dt_user, "approvers": ["hr00"], "process_code": PROCESS, "title": f"drill {key}",
                    "fields": {"run": str(i)}}
        case "fs.create_approval":
            return {"originator": fs_user, "process_code": PROCESS, "title": f"drill {key}", "fields": {"run": str(i)}}
        case "dt.create_calendar_event":
            return {"organizer": "unionhr00", "summary": f"drill {key}", "start_at": when.isoformat(),
                    "end_at": end.isoformat(), "ical_uid": f"{key}@drill"}
        case "fs.create_calendar_event":
            return {"organizer": fs_user, "summary": f"drill {key}", "start_at": when.isoformat(),
                    "end_at": end.isoformat(), "ical_uid": f"{key}@drill"}
        case "dt.update_calendar_event":
            return {"organizer": "unionhr00", "summary": f"interview {i}", **moved, "ical_uid": f"iv{i}@drill",
                    "sequence": 1, "remote_event_id": dt_event}
        case "fs.update_calendar_event":
            return {"organizer": fs_user, "summary": f"interview {i}", **moved, "ical_uid": f"iv{i}@drill",
                    "sequence": 1, "remote_event_id": fs_event}
        case "ai.create_invitation":
            return {"external_ref": key, "candidate": {"name": f"候选人{i:04d}",
                                                       "email": f"candidate{i:04d}@example.com"}}
        case "ai.reissue_link":
            return {"mode": "reset", "invitation_id": invitation, "hours": 48}
        case "sms.send_sms":
            return {"recipient": candidate, "purpose": "invite", "params": {"name": "候选人", "time": "3月2日 14:00",
                                                                             "code": f"t{i}"}}
        case "mail.send_email":
            return {"recipient": candidate, "purpose": "invite", "subject": f"drill {key}", "text": f"run {i}"}
    raise ValueError(kind)


# -- the workers ---------------------------------------------------------------------------------------


def supervise(path: Path, stop: Path, store: Store, keys: set[str]) -> int:
    """Run `WORKERS` supervisors until every row is settled; returns how many workers were killed."""
    slots = [subprocess.Popen([sys.executable, "-m", "tests.bench.bench_drill", "slot", str(path), str(stop), str(n)],
                              cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
             for n in range(WORKERS)]
    deadline = time.monotonic() + 3600
    try:
        while time.monotonic() < deadline:
            time.sleep(2)
            pending = [a for a in rows(store) if a.idempotency_key in keys
                       and a.status in (ActionStatus.planned, ActionStatus.claimed)]
            if not pending:
                break
    finally:
        stop.touch()
        kills = 0
        for slot in slots:
            out, _ = slot.communicate(timeout=120)
            kills += int(out.strip().splitlines()[-1] if out.strip() else 0)
    return kills


def slot(path: Path, stop: Path, number: int) -> None:
    """One dispatcher slot: fork a worker, and a new one whenever it dies, until `stop` exists; prints kills."""
    config = load(path, get_host())  # imports paid once, before forking
    rng = random.Random(7919 * (number + 1))
    kills = 0
    while not stop.exists():
        seed = rng.randrange(2**32)
        pid = os.fork()
        if pid == 0:
            worker(config, stop, random.Random(seed))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        kills += os.waitstatus_to_exitcode(status) == KILLED
    print(kills, flush=True)


def worker(config: Config, stop: Path, rng: random.Random) -> None:
    """Dispatch until `stop` exists, dying the hard way at random probe points or at a random instant."""
    store = Store(config.store_url)
    die_at = time.monotonic() + rng.uniform(*LIFETIME)

    def probe(point: str, _action: Action) -> None:
        if rng.random() < KILL_AT.get(point, 0.0) or time.monotonic() > die_at:
            os._exit(KILLED)

    import threading

    threading.Timer(max(die_at - time.monotonic(), 0), os._exit, (KILLED,)).start()  # mid-request, mid-anything
    while not stop.exists():
        if dispatch(store, config, TENANT, lease=LEASE, limit=4, probe=probe).claimed == 0:
            time.sleep(0.2)
    os._exit(0)


def rows(store: Store) -> list[Action]:
    from lifeline_hub.core.outbox.queue import _action

    with store.engine.connect() as conn:
        return [_action(r) for r in conn.execute(sa.select(actions))]


# -- what the vendors saw ------------------------------------------------------------------------------


def count(v: Vendors, planned: dict[str, Action]) -> dict[str, int]:
    """Vendor objects (or applied updates) per action, from the emulators' own records."""
    by_kind: dict[str, Callable[[Action], int]] = {}
    notices = [str(n["msg"]) for n in v.dingtalk.messages()
               if any(state in ("unread", "read") for state in n["recipients"].values())]
    todos = [t["sourceId"] for t in v.dingtalk.todo_list()]
    approvals = [str(a["form"]) for a in v.dingtalk.approval_list()]
    events = {e["id"]: e for e in v.dingtalk.events()}
    fs_messages = [m.content for m in v.feishu.messages.values() if m.sender_type == "app"]
    fs_tasks = [t.summary for t in v.feishu.tasks.values()]
    fs_approvals = [a.uuid for a in v.feishu.approvals.values()]
    fs_events = v.feishu.calendar_events
    invitations = v.platform.snapshot()["invitations"]
    sms = [m["out_id"] for m in v.sms.message_list()]
    mail = [m["message_id"] for m in v.mail.messages()]
    by_kind["dt.send_message"] = lambda a: sum(a.payload["title"] in text for text in notices)
    by_kind["dt.create_task"] = lambda a: todos.count(a.idempotency_key)
    by_kind["dt.create_approval"] = lambda a: sum(a.idempotency_key in form for form in approvals)
    by_kind["dt.create_calendar_event"] = lambda a: sum(e["summary"] == a.payload["summary"] for e in events.values())
    by_kind["dt.update_calendar_event"] = lambda a: int(
        _same_instant(events[a.payload["remote_event_id"]]["start"], a.payload["start_at"]))
    by_kind["fs.send_message"] = lambda a: sum(a.payload["title"] in text for text in fs_messages)
    by_kind["fs.create_task"] = lambda a: fs_tasks.count(a.payload["title"])
    by_kind["fs.create_approval"] = lambda a: fs_approvals.count(approval_uuid(a.idempotency_key))
    by_kind["fs.create_calendar_event"] = lambda a: sum(
        e.fields.get("summary") == a.payload["summary"] for e in fs_events.values())
    by_kind["fs.update_calendar_event"] = lambda a: int(
        str(fs_events[a.payload["remote_event_id"]].fields["start_time"]["timestamp"])
        == str(int(datetime.fromisoformat(a.payload["start_at"]).timestamp())))
    by_kind["ai.create_invitation"] = lambda a: sum(inv.get("external_ref") == a.idempotency_key
                                                    for inv in invitations)
    by_kind["ai.reissue_link"] = lambda a: next(inv["resets"] for inv in invitations
                                                if inv["id"] == a.payload["invitation_id"])
    by_kind["sms.send_sms"] = lambda a: sms.count(a.idempotency_key)
    by_kind["mail.send_email"] = lambda a: sum(a.idempotency_key in mid for mid in mail)
    return {key: by_kind[f"{a.connector.rpartition('.')[2]}.{a.kind}"](a) for key, a in planned.items()}


def _same_instant(event_time: Any, iso: str) -> bool:
    """A DingTalk event time (`{"dateTime": ..., "timeZone": ...}`) against an ISO instant."""
    from lifeline_hub.core.models import parse_instant

    value = event_time.get("dateTime") if isinstance(event_time, dict) else event_time
    return parse_instant(str(value), "Asia/Shanghai") == parse_instant(iso)


if __name__ == "__main__":
    if sys.argv[1:2] == ["slot"]:
        slot(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit("usage: python -m tests.bench.bench_drill slot CONFIG STOPFILE N (the drill's workers)")
