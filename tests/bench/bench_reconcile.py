"""Reconcile benchmark: 100,000 interviews with about 2,200,000 evidence events in a SQLite store.

Prints `reconcile_full_vs_duckdb` (our full run / DuckDB running an equivalent hand-written query
over the same rows), `reconcile_speedup_vs_naive` (a per-interview Python loop / ours, the loop
timed on a subset), `reconcile_incremental_share` (a run after 1% new events / the full run) and
`reconcile_peak_rss_mib` (peak RSS of the process running the full reconcile). `--quick` uses
10,000 interviews.

The store is filled by SQLite itself (INSERT ... SELECT over a recursive counter, indexes built
after the load): interviews over the last 100 days, each with ~22 events from a mix of stories
(attended, late, short, join errors, declines, read or unread reminders, scanner clicks, bounces).
Most messages go to the candidate; some are staff's (audience `staff`): the interviewers' reminders
over Feishu and DingTalk and HR tasks, with their read receipts, which never count as reach. As in
the store, a receipt's `audience` column is its notification's.
The 1% new events of the incremental run concern the most recent interviews, as in production.

Every ratio's two sides are measured in the same run (each timing the best of three, as the machine
may be shared), and the three implementations must agree:
the DuckDB query's classes and sub-reasons must equal ours for every interview, and so must the
naive loop's on its subset (the benchmark fails otherwise). DuckDB cannot read SQLite files here
(its SQLite extension is not installed and cannot be downloaded), so the same columns are exported
to CSV, untimed, and the timed DuckDB query reads the CSV itself: like an attach, it pays for
reading the data. Our full run and its peak RSS are measured in a child process.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lifeline_hub.core import Connector, StreamInfo, hookimpl
from lifeline_hub.core.config import Config, PolicySettings, load
from lifeline_hub.core.models import (
    RECORD_TYPES,
    Attendance,
    Audience,
    Confirmation,
    DeliveryEvent,
    Evidence,
    Interview,
    LinkEvent,
    Notification,
    RescheduleRequest,
    read_known_channels,
)
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import actions, evidence, interviews, outcomes

TENANT = "bench"
FULL, QUICK = 100_000, 10_000
NAIVE_SUBSET = {True: 300, False: 1_000}
REPEATS = 3
"""Each timing is the best of this many runs (the machine may be shared)."""
ROOT = Path(__file__).resolve().parents[2]
SPAN = 100 * 86400


class BenchAts(Connector):
    name = "bench_ats"
    streams = (StreamInfo("interviews", (Interview,)),)


class BenchMeet(Connector):
    name = "bench_meet"
    streams = (StreamInfo("attendance", (Attendance,)),)


class BenchMsg(Connector):
    name = "bench_msg"
    streams = (StreamInfo("notifications", (Notification,)), StreamInfo("receipts", (DeliveryEvent,)))


STREAMS = (("bench.ats", "interviews"), ("bench.meet", "attendance"), ("bench.msg", "notifications"),
           ("bench.msg", "receipts"))


def bench_config(directory: Path) -> tuple[Config, PluginHost]:
    host = PluginHost()
    host.register(types.SimpleNamespace(lifeline_register_connectors=hookimpl(
        lambda register: [register(c) for c in (BenchAts, BenchMeet, BenchMsg)])), "bench_connectors")
    path = directory / "plugins.toml"
    path.write_text('[tenants.bench]\ntimezone = "Asia/Shanghai"\n'
                    '[tenants.bench.connectors.ats]\nplugin = "bench_ats"\n'
                    '[tenants.bench.connectors.meet]\nplugin = "bench_meet"\n'
                    '[tenants.bench.connectors.msg]\nplugin = "bench_msg"\n', encoding="utf-8")
    return load(path, host), host


# data ---------------------------------------------------------------------------------------------

def _stamp(seconds: str) -> str:
    """SQL for `:base` + seconds as the store keeps instants in SQLite."""
    return f"(strftime('%Y-%m-%d %H:%M:%f', :base, ({seconds}) || ' seconds') || '000')"


def _iso(seconds: str) -> str:
    return f"strftime('%Y-%m-%dT%H:%M:%SZ', :base, ({seconds}) || ' seconds')"


START = "CAST(n * :step AS INTEGER)"
KIND = ("CASE WHEN n % 20 < 15 THEN 'video' WHEN n % 20 < 17 THEN 'phone' WHEN n % 20 < 19 THEN 'ai_async' "
        "ELSE 'onsite' END")
STATUS = "CASE WHEN n % 97 = 5 THEN 'cancelled' WHEN n % 89 = 7 THEN 'rescheduled' ELSE 'scheduled' END"

# (kind, type, channel, human, code, start offset s, end offset s or None, stories: SQL on bucket b 0..99)
_EVENTS: list[tuple[str, str, str | None, int, str | None, str, str | None, str]] = [
    ("notification", "invite", "sms", 1, "sent", "-259200", None, "1"),
    ("delivery_event", "delivered", "sms", 1, "DELIVERED", "-259140", None, "NOT (b >= 70 AND b < 80)"),
    ("delivery_event", "failed", "sms", 1, "MOBILE_NUMBER_ILLEGAL", "-259140", None, "b >= 70 AND b < 80"),
    ("link_event", "open", None, 0, None, "-259130", None, "1"),
    ("notification", "invite", "email", 1, "sent", "-259100", None, "NOT (b >= 70 AND b < 75)"),
    ("delivery_event", "delivered", "email", 1, None, "-259090", None, "NOT (b >= 70 AND b < 75)"),
    ("delivery_event", "read", "email", 1, None, "-250000", None, "b % 3 = 0 AND NOT (b >= 70 AND b < 75)"),
    ("link_event", "open", None, 0, None, "-259085", None, "b % 2 = 0"),
    ("notification", "reminder_t3d", "wechat", 1, "sent", "-259000", None, "1"),
    ("delivery_event", "delivered", "wechat", 1, None, "-258990", None, "NOT (b >= 70 AND b < 80)"),
    ("delivery_event", "read", "wechat", 1, None, "-250000", None, "b % 2 = 1 AND NOT (b >= 70 AND b < 85)"),
    ("link_event", "open", None, 1, None, "-86000", None, "b < 60"),
    ("notification", "reminder_t1d", "feishu", 1, "sent", "-86400", None, "1"),
    ("delivery_event", "delivered", "feishu", 1, None, "-86380", None, "NOT (b >= 70 AND b < 80)"),
    ("delivery_event", "read", "feishu", 1, None, "-80000", None, "b < 70 OR b >= 85"),
    ("notification", "confirm_request", "sms", 1, "sent", "-86300", None, "1"),
    ("delivery_event", "delivered", "sms", 1, "DELIVERED", "-86290", None, "b < 70 OR b >= 80"),
    ("confirmation", "confirm", "sms", 1, None, "-80000", None, "b < 60 OR (b >= 85 AND b < 90)"),
    ("confirmation", "decline", "sms", 1, None, "-70000", None, "b >= 90 AND b < 93"),
    ("notification", "reminder_t1h", "email", 1, "sent", "-3600", None, "1"),
    ("delivery_event", "delivered", "email", 1, None, "-3590", None, "NOT (b >= 70 AND b < 75)"),
    ("notification", "urgent", "sms", 1, "sent", "-3000", None, "b >= 60"),
    ("delivery_event", "delivered", "sms", 1, "DELIVERED", "-2990", None, "b >= 60 AND (b < 70 OR b >= 80)"),
    ("notification", "hr_task", "dingtalk", 1, "sent", "-7200", None, "b >= 70 AND b < 85"),
    ("delivery_event", "read", "dingtalk", 1, None, "-7000", None, "b >= 70 AND b < 85"),
    ("notification", "reminder_t1h", "dingtalk", 1, "sent", "-3500", None, "k <> 'ai_async'"),
    ("delivery_event", "read", "dingtalk", 1, None, "-3300", None, "k <> 'ai_async'"),
    ("link_event", "open", None, 1, None, "-600", None, "b < 70 OR (b >= 85 AND b < 90)"),
    ("link_event", "join_attempt", None, 1, None, "-60", None, "b < 70 OR (b >= 93 AND b < 98)"),
    ("link_event", "join_error", None, 1, "E_DEVICE", "30", None, "b >= 93 AND b < 96"),
    ("link_event", "join_attempt", None, 1, None, "120", None, "b >= 96 AND b < 98"),
    ("attendance", "interviewer", None, 1, None, "-300", "3600", "k NOT IN ('onsite', 'ai_async')"),
    ("attendance", "candidate", None, 1, None, "(b % 10) * 60", "3000", "b < 64"),
    ("attendance", "candidate", None, 1, None, "600", "1200", "b >= 64 AND b < 66"),
    ("attendance", "candidate", None, 1, None, "60", "180", "b >= 66 AND b < 70"),
    ("attendance", "candidate", None, 1, None, "200", "3500", "b >= 66 AND b < 68"),
]
_STAFF_MESSAGES = {("reminder_t1d", "feishu"), ("reminder_t1h", "dingtalk"), ("hr_task", "dingtalk")}
"""(purpose, channel) of the staff's messages: the interviewers' reminders and HR tasks. The rest go to the
candidate (whose reminders come by SMS, e-mail and WeChat), as migration 0006 reads older stores."""
_SOURCES = {"notification": "bench.msg", "delivery_event": "bench.msg", "attendance": "bench.meet",
            "link_event": "bench.links", "confirmation": "bench.pages"}


def _data_json(kind: str, kind_type: str, ends: str | None, slot: int) -> str:
    """The canonical record as JSON, built by SQLite (the store keeps it next to the typed columns)."""
    common = (f"'source', '{_SOURCES[kind]}', 'remote_id', '{kind[0]}' || n || '-{slot}', "
              f"'interview_id', 'bench.ats/iv' || n")
    if kind == "notification":
        fields = (f"'purpose', '{kind_type}', 'channel', ch, 'recipient', '138****0000', 'status', code, "
                  f"'audience', {_sql(_audience_of(slot))}")
    elif kind == "delivery_event":
        fields = f"'notification_id', {_ref(slot)}, 'type', '{kind_type}', 'channel', ch, 'code', code"
    elif kind == "link_event":
        fields = (f"'type', '{kind_type}', 'machine_made', json(CASE WHEN human THEN 'false' ELSE 'true' END), "
                  "'machine_reason', CASE WHEN human THEN NULL ELSE 'scanner_burst' END, 'code', code")
    elif kind == "attendance":
        fields = (f"'role', '{kind_type}', 'left_at', {_iso(f'{START} + {ends}') if ends else 'NULL'}, "
                  "'completed', json(CASE WHEN code = 'completed' THEN 'true' ELSE 'false' END)")
    else:
        fields = f"'action', '{kind_type}', 'channel', ch"
    return f"json_object({common}, 'occurred_at', {_iso('at_s')}, {fields})"


def _owner(slot: int) -> int:
    """A receipt's notification: the nearest notification template before it."""
    return max(i for i in range(slot) if _EVENTS[i][0] == "notification")


def _ref(slot: int) -> str:
    return f"'bench.msg/n' || n || '-{_owner(slot)}'"


def _audience(purpose: str, channel: str | None) -> str:
    return "staff" if (purpose, channel) in _STAFF_MESSAGES else "candidate"


def _audience_of(slot: int) -> str | None:
    """The `audience` column of a template: a notification's, a receipt's notification's, else NULL."""
    kind, kind_type, ch = _EVENTS[slot][:3]
    if kind == "delivery_event":
        kind, kind_type, ch = _EVENTS[_owner(slot)][:3]
    return _audience(kind_type, ch) if kind == "notification" else None


def _sql(value: str | None) -> str:
    return "NULL" if value is None else f"'{value}'"


def generate(path: Path, count: int, now: datetime) -> int:
    """Fill a migrated store with `count` interviews (all ending before `now`) and their evidence."""
    base = (now - timedelta(seconds=SPAN + 3 * 3600)).strftime("%Y-%m-%d %H:%M:%S.%f")
    params = {"count": count, "step": SPAN / count, "base": base}
    counter = "WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < :count - 1)"
    con = sqlite3.connect(path)
    con.execute("PRAGMA cache_size=-262144")
    indexes = [sql for (sql,) in con.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('evidence', 'interviews') "
        "AND sql IS NOT NULL")]
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                               "AND tbl_name IN ('evidence', 'interviews')").fetchall():
        con.execute(f"DROP INDEX {name}")
    with con:
        con.execute(f"""
            {counter}
            INSERT INTO interviews (id, tenant, source, remote_id, kind, status, start_at, end_at, timezone,
                                    thread_id, ical_uid, sequence, platform, synced_at, data)
            SELECT 'bench.ats/iv' || n, 'bench', 'bench.ats', 'iv' || n, {KIND}, {STATUS},
                   {_stamp(START)}, {_stamp(START + ' + 3600')}, 'Asia/Shanghai', 'iv' || n, 'iv' || n || '@bench',
                   0, 'bench_meet', {_stamp(START + ' - 86400')},
                   json_object('source', 'bench.ats', 'remote_id', 'iv' || n, 'kind', {KIND},
                               'start_at', {_iso(START)}, 'end_at', {_iso(START + ' + 3600')},
                               'timezone', 'Asia/Shanghai', 'status', {STATUS},
                               'thread', json_object('thread_id', 'iv' || n, 'ical_uid', 'iv' || n || '@bench',
                                                     'sequence', 0),
                               'platform', 'bench_meet')
            FROM c""", params)  # noqa: S608 - SQL from this module's constant templates
        for slot, (kind, kind_type, ch, human, code, offset, ends, stories) in enumerate(_EVENTS):
            if kind == "attendance" and kind_type == "candidate":
                code = "completed"  # async stories submit; live ones ignore the flag
            ended = _stamp(f"{START} + {ends}") if ends else "NULL"
            con.execute(f"""
                {counter}, story(n, b, k) AS (SELECT n, (n * 7919) % 100, {KIND} FROM c),
                ev(n, b, k, at_s, ch, code, human) AS (
                    SELECT n, b, k, {START} + {offset}, {_sql(ch)}, {_sql(code)}, {human} FROM story)
                INSERT INTO evidence (tenant, source, kind, remote_id, interview_id, occurred_at, ended_at, type,
                                      channel, human, code, ref, audience, data, synced_at)
                SELECT 'bench', '{_SOURCES[kind]}', '{kind}', '{kind[0]}' || n || '-{slot}', 'bench.ats/iv' || n,
                       {_stamp('at_s')}, {ended}, '{kind_type}', ch, human, code,
                       {_ref(slot) if kind == 'delivery_event' else 'NULL'}, {_sql(_audience_of(slot))},
                       {_data_json(kind, kind_type, ends, slot)}, {_stamp('at_s + 120')}
                FROM ev WHERE {stories}""", params)  # noqa: S608 - SQL from this module's constant templates
        for source, stream in STREAMS:
            con.execute("INSERT INTO sync_state (source, stream, tenant, cursor, watermark, records_total, "
                        "quarantined_total) VALUES (?, ?, 'bench', '{}', ?, 0, 0)",
                        (source, stream, now.strftime("%Y-%m-%d %H:%M:%S.%f")))
    for sql in indexes:
        con.execute(sql)
    total = int(con.execute("SELECT count(*) FROM evidence").fetchone()[0])
    con.close()
    return total


# Late data for one interview: (kind, type, channel, human, code, minutes after the start, minutes of a
# segment or None, source, for a receipt the purpose of its message on its channel: a late one, else the
# interview's own). Ten events: a late join, clicks, follow-up messages (the candidate's and an HR task),
# their receipts and a late one of an earlier reminder.
_LATE: list[tuple[str, str, str | None, int, str | None, int, int | None, str, str | None]] = [
    ("attendance", "candidate", None, 1, None, 12, 25, "bench.meet", None),
    ("link_event", "open", None, 1, None, 10, None, "bench.links", None),
    ("link_event", "join_attempt", None, 1, None, 11, None, "bench.links", None),
    ("link_event", "open", None, 0, None, 70, None, "bench.links", None),
    ("notification", "reissued_link", "sms", 1, "sent", 80, None, "bench.msg", None),
    ("delivery_event", "delivered", "sms", 1, "DELIVERED", 81, None, "bench.msg", "reissued_link"),
    ("notification", "hr_task", "dingtalk", 1, "sent", 80, None, "bench.msg", None),
    ("delivery_event", "read", "dingtalk", 1, None, 85, None, "bench.msg", "hr_task"),
    ("delivery_event", "read", "wechat", 1, None, -30, None, "bench.msg", "reminder_t3d"),
    ("confirmation", "confirm", "sms", 1, None, -20, None, "bench.pages", None),
]


def _late_ref(purpose: str, channel: str | None) -> str:
    """SQL over `interviews` for the id of the message a late receipt reports on (see `_LATE`)."""
    for slot, (kind, kind_type, ch, *_) in enumerate(_LATE):
        if kind == "notification" and (kind_type, ch) == (purpose, channel):
            return f"'bench.msg/late-{slot}-' || id"
    slot = next(i for i, (kind, kind_type, ch, *_) in enumerate(_EVENTS)
                if kind == "notification" and (kind_type, ch) == (purpose, channel))
    return f"'bench.msg/n' || substr(id, {len('bench.ats/iv') + 1}) || '-{slot}'"


def add_new_events(path: Path, share: float, now: datetime, later: datetime) -> int:
    """`share` of the events again, as late data for the most recent interviews; watermarks move to `later`."""
    con = sqlite3.connect(path)
    wanted = int(con.execute("SELECT count(*) FROM evidence").fetchone()[0] * share)
    recent = [iv for (iv,) in con.execute("SELECT id FROM interviews ORDER BY end_at DESC LIMIT ?",
                                          (wanted // len(_LATE),))]
    synced = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    with con:
        for slot, (kind, kind_type, ch, human, code, offset, minutes, source, of) in enumerate(_LATE):
            ended = f"strftime('%Y-%m-%d %H:%M:%f', start_at, '{offset + minutes} minutes') || '000'" \
                if minutes else "NULL"
            ref = _late_ref(of, ch) if of else "NULL"
            audience = _audience(of or kind_type, ch) if kind in ("notification", "delivery_event") else None
            con.executemany(f"""
                INSERT INTO evidence (tenant, source, kind, remote_id, interview_id, occurred_at, ended_at, type,
                                      channel, human, code, ref, audience, data, synced_at)
                SELECT 'bench', '{source}', '{kind}', 'late-{slot}-' || id, id,
                       strftime('%Y-%m-%d %H:%M:%f', start_at, '{offset} minutes') || '000', {ended},
                       '{kind_type}', {_sql(ch)}, {human}, {_sql(code)}, {ref}, {_sql(audience)},
                       json_object('source', '{source}', 'remote_id', 'late-{slot}-' || id), ?
                FROM interviews WHERE id = ?""", [(synced, iv) for iv in recent])  # noqa: S608 - constant templates
        con.execute("UPDATE sync_state SET watermark = ?", (later.strftime("%Y-%m-%d %H:%M:%S.%f"),))
    con.close()
    return len(recent) * len(_LATE)


# the three implementations -----------------------------------------------------------------------

def child(url: str, now: str) -> None:
    """Run one reconcile (in a child process) and print its seconds and the process's peak RSS."""
    from lifeline_hub.core.reconcile import reconcile

    cfg, host = bench_config(Path(url.removeprefix("sqlite:///")).parent)
    started = time.perf_counter()
    summary = reconcile(Store(url), TENANT, datetime.fromisoformat(now), cfg, host)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rss_mib": _peak_rss_mib(), "examined": summary.examined}))


def _peak_rss_mib() -> float:
    """This process's high-water RSS (VmHWM). `ru_maxrss` would include the parent's at fork time."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(path: Path, now: datetime) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    code = f"from tests.bench.bench_reconcile import child; child({f'sqlite:///{path}'!r}, {now.isoformat()!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=True, timeout=1800)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a store in WAL mode (a file copy could miss what is still in the WAL)."""
    target.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _ours(path: Path) -> Counter[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(path)) as con:
        return Counter({(o, s): n for o, s, n in con.execute(
            "SELECT outcome, sub_reason, count(*) FROM outcomes WHERE superseded_at IS NULL GROUP BY 1, 2")})


DUCKDB_QUERY = """
WITH i AS (SELECT * FROM read_csv('{iv}', header = true, timestampformat = '%Y-%m-%d %H:%M:%S.%f', columns = {{
        'id': 'VARCHAR', 'kind': 'VARCHAR', 'status': 'VARCHAR', 'start_at': 'TIMESTAMP', 'end_at': 'TIMESTAMP',
        'thread_id': 'VARCHAR', 'sequence': 'INTEGER', 'source_updated_at': 'TIMESTAMP'}})),
e AS (SELECT * FROM read_csv('{ev}', header = true, timestampformat = '%Y-%m-%d %H:%M:%S.%f', columns = {{
        'id': 'BIGINT', 'interview_id': 'VARCHAR', 'kind': 'VARCHAR', 'type': 'VARCHAR', 'occurred_at': 'TIMESTAMP',
        'ended_at': 'TIMESTAMP', 'human': 'INTEGER', 'channel': 'VARCHAR', 'code': 'VARCHAR',
        'audience': 'VARCHAR'}})),
s AS (
    SELECT i.* REPLACE (CASE WHEN status = 'cancelled' AND source_updated_at >= start_at THEN 'cancelled_late'
                             ELSE status END AS status),
           start_at - INTERVAL 15 MINUTE AS pre_start, start_at + INTERVAL {late} MINUTE AS late_bound,
           EXISTS (SELECT 1 FROM i AS l WHERE l.thread_id = i.thread_id AND l.sequence > i.sequence
                   AND (l.source_updated_at IS NULL OR l.source_updated_at < i.start_at)) AS moved,
           CASE WHEN end_at > TIMESTAMP '{open_after}' THEN 'window_open'
                WHEN end_at > TIMESTAMP '{cutoff}' THEN 'stream_behind' END AS pending,
           kind IN ('video', 'ai_async', 'phone') AS has_source
    FROM i),
x AS (
    SELECT s.id AS iid, e.*, e.kind = 'attendance' AND e.type = 'candidate' AND e.occurred_at <= s.end_at
               AND coalesce(e.ended_at, e.occurred_at) >= s.pre_start AS att,
           e.kind = 'link_event' AND e.human = 1 AS link, e.occurred_at <= s.end_at AS before_end,
           coalesce(e.audience = 'candidate', false) AS to_candidate,
           e.occurred_at >= s.pre_start AS after_pre, coalesce(e.ended_at, s.end_at) AS leave_at, s.start_at AS st,
           greatest(e.occurred_at, s.start_at) AS seg_from, s.kind AS ikind,
           CASE WHEN e.kind = 'notification' AND e.code = 'read' AND coalesce(e.ended_at, e.occurred_at) > s.end_at
                THEN 'delivered' ELSE e.code END AS ncode
    FROM s LEFT JOIN e ON e.interview_id = s.id),
y AS (
    SELECT x.*, greatest(seg_from, coalesce(max(CASE WHEN att THEN leave_at END) OVER (
               PARTITION BY iid ORDER BY seg_from, leave_at ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               seg_from)) AS new_from
    FROM x),
f AS (
    SELECT iid,
      min(occurred_at) FILTER (att) AS first_join,
      coalesce(sum(epoch_ms(leave_at) - epoch_ms(new_from)) FILTER (att AND leave_at > new_from), 0) AS att_ms,
      min(coalesce(ended_at, occurred_at)) FILTER (att AND code = 'completed') AS first_submit,
      count(*) FILTER (link AND after_pre AND before_end AND type = 'join_error') AS errors,
      count(*) FILTER (link AND after_pre AND before_end AND type <> 'join_error'
                       AND (ikind <> 'ai_async' OR type = 'join_attempt')) AS clicks,
      max(occurred_at) FILTER (before_end AND ((kind = 'confirmation' AND type IN ('decline', 'reschedule'))
                                OR (kind = 'reschedule_request' AND type IN ('submitted', 'approved')))) AS last_no,
      max(occurred_at) FILTER (before_end AND ((kind = 'confirmation' AND type = 'reschedule')
                                OR (kind = 'reschedule_request' AND type IN ('submitted', 'approved'))))
        AS last_resched,
      max(occurred_at) FILTER (before_end AND kind = 'confirmation' AND type = 'confirm') AS last_yes,
      count(*) FILTER (kind = 'reschedule_request' AND type = 'approved' AND occurred_at < st) AS approved_n,
      count(*) FILTER (before_end AND to_candidate AND ((kind = 'delivery_event' AND type = 'failed')
                       OR (kind = 'notification' AND code = 'failed'))) AS failed_n,
      count(*) FILTER (before_end AND to_candidate AND ((kind = 'delivery_event' AND type IN ('delivered', 'read'))
                       OR (kind = 'notification' AND code IN ('delivered', 'read')))) AS reached_n,
      count(*) FILTER (before_end AND to_candidate AND ((kind = 'delivery_event' AND type = 'read')
                       OR (kind = 'notification' AND ncode = 'read'))
                       AND channel IN ({readable})) AS read_n,
      count(*) FILTER (before_end AND to_candidate AND kind = 'notification' AND code <> 'queued') AS notified_n,
      count(*) FILTER (before_end AND to_candidate AND channel IN ({readable})
                       AND ((kind = 'notification' AND code NOT IN ('queued', 'failed'))
                            OR (kind = 'delivery_event' AND type <> 'failed'))) AS readable_n,
      count(*) FILTER (link AND before_end) AS engaged_n,
      count(*) FILTER (before_end AND to_candidate AND ((kind = 'notification' AND code <> 'queued')
                                                        OR kind = 'delivery_event')) AS sent_n,
      string_agg(id::VARCHAR, ',') FILTER (att) AS att_ids,
      string_agg(id::VARCHAR, ',') FILTER (link AND after_pre AND before_end) AS link_ids,
      string_agg(id::VARCHAR, ',') FILTER (before_end AND to_candidate AND ((kind = 'notification' AND code <> 'queued')
                                                                          OR kind = 'delivery_event')) AS send_ids
    FROM y GROUP BY iid),
d AS (
    SELECT s.id, s.kind, s.status, s.moved, s.pending, s.has_source, s.end_at, s.late_bound, f.*,
      CASE
        WHEN status = 'cancelled' THEN 'cancelled'
        WHEN status = 'rescheduled' OR moved THEN 'rescheduled'
        WHEN pending IS NOT NULL THEN 'pending'
        WHEN kind = 'ai_async' AND first_submit <= end_at THEN 'attended'
        WHEN kind = 'ai_async' AND first_submit IS NOT NULL THEN 'attended_late'
        WHEN kind = 'ai_async' AND first_join IS NOT NULL AND errors > 0 THEN 'missed_technical'
        WHEN kind = 'ai_async' AND first_join IS NOT NULL THEN 'attended_partial'
        WHEN first_join IS NOT NULL AND att_ms < {min_ms} THEN 'attended_partial'
        WHEN first_join IS NOT NULL AND first_join <= late_bound THEN 'attended'
        WHEN first_join IS NOT NULL THEN 'attended_late'
        WHEN approved_n > 0 THEN 'rescheduled'
        WHEN has_source AND (errors > 0 OR clicks >= {clicks}) THEN 'missed_technical'
        WHEN last_no IS NOT NULL AND (last_yes IS NULL OR last_no > last_yes) THEN 'missed_declined'
        WHEN NOT has_source THEN 'unknown'
        WHEN read_n > 0 OR engaged_n > 0 OR last_yes IS NOT NULL THEN 'missed_read_no_show'
        ELSE 'missed_not_reached' END AS outcome
    FROM s JOIN f ON f.iid = s.id)
SELECT id, outcome,
  CASE outcome
    WHEN 'cancelled' THEN CASE WHEN last_no IS NOT NULL THEN 'candidate_declined' ELSE 'ats' END
    WHEN 'rescheduled' THEN CASE WHEN status = 'rescheduled' THEN 'ats' WHEN moved THEN 'new_version'
                                 ELSE 'request_approved' END
    WHEN 'pending' THEN pending
    WHEN 'attended' THEN CASE WHEN kind = 'ai_async' THEN 'submitted' ELSE 'on_time' END
    WHEN 'attended_late' THEN CASE WHEN kind = 'ai_async' THEN 'submitted_late' ELSE 'late_join' END
    WHEN 'attended_partial' THEN CASE WHEN kind = 'ai_async' THEN 'not_submitted' ELSE 'short_attendance' END
    WHEN 'missed_technical' THEN CASE WHEN errors > 0 THEN 'join_error' ELSE 'repeated_attempts' END
    WHEN 'missed_declined' THEN CASE WHEN last_resched = last_no THEN 'reschedule_requested' ELSE 'declined' END
    WHEN 'unknown' THEN 'no_attendance_source'
    WHEN 'missed_read_no_show' THEN CASE WHEN last_yes IS NOT NULL THEN 'confirmed_no_show'
                                         WHEN engaged_n > 0 THEN 'link_opened' ELSE 'read' END
    ELSE CASE WHEN sent_n = 0 THEN 'nothing_sent' WHEN NOT (reached_n > 0 OR failed_n < notified_n) THEN 'undelivered'
              WHEN readable_n > 0 THEN 'delivered_unread' ELSE 'delivered_read_unknown' END
  END AS sub_reason,
  CASE outcome WHEN 'attended_partial' THEN att_ids WHEN 'attended' THEN att_ids WHEN 'attended_late' THEN att_ids
               WHEN 'missed_technical' THEN link_ids WHEN 'missed_not_reached' THEN send_ids END AS evidence_ids
FROM d
"""


def _export(path: Path, directory: Path) -> tuple[Path, Path]:
    """The columns both sides read, from the same store, as CSV (untimed)."""
    iv, ev = directory / "interviews.csv", directory / "evidence.csv"
    with contextlib.closing(sqlite3.connect(path)) as con:
        for target, sql in (
            (iv, "SELECT id, kind, status, start_at, end_at, thread_id, sequence, source_updated_at FROM interviews"),
            (ev, "SELECT id, interview_id, kind, type, occurred_at, ended_at, human, channel, code, audience "
                 "FROM evidence"),
        ):
            cursor = con.execute(sql)
            with target.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow([d[0] for d in cursor.description])
                writer.writerows(cursor)
    return iv, ev


def _duckdb(path: Path, directory: Path, policy: PolicySettings, now: datetime) -> tuple[float, Counter[Any]]:
    import duckdb  # here, so the child processes measuring RSS never load it

    iv, ev = _export(path, directory)
    grace = timedelta(minutes=policy.grace_minutes)
    query = DUCKDB_QUERY.format(
        iv=iv, ev=ev, late=policy.late_after_minutes, min_ms=policy.min_attendance_minutes * 60_000,
        clicks=policy.technical_clicks, open_after=(now - grace).strftime("%Y-%m-%d %H:%M:%S"),
        cutoff=(now - grace).strftime("%Y-%m-%d %H:%M:%S"),
        readable=", ".join(f"'{name}'" for name in read_known_channels()))
    con = duckdb.connect()
    seconds = float("inf")
    for _ in range(REPEATS):
        con.execute("DROP TABLE IF EXISTS decided")
        started = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE decided AS {query}")
        seconds = min(seconds, time.perf_counter() - started)
    found = Counter({(o, s): n for o, s, n in con.execute(
        "SELECT outcome, sub_reason, count(*) FROM decided WHERE outcome <> 'pending' GROUP BY 1, 2").fetchall()})
    con.close()
    return seconds, found


def naive_classify(iv: Interview, trail: list[Evidence], policy: PolicySettings, moved: bool,
                   pending: str | None) -> tuple[str, str | None]:
    """The rules as a Python reading of one interview's records (the loop the SQL replaces)."""
    start, end, is_async = iv.start_at, iv.end_at, iv.kind.value == "ai_async"
    pre, late = start - timedelta(minutes=15), start + timedelta(minutes=policy.late_after_minutes)
    asks = [r.occurred_at for r in trail if r.occurred_at <= end and (
        (isinstance(r, Confirmation) and r.action.value == "reschedule")
        or (isinstance(r, RescheduleRequest) and r.status.value in ("submitted", "approved")))]
    noes = asks + [r.occurred_at for r in trail if isinstance(r, Confirmation) and r.action.value == "decline"
                   and r.occurred_at <= end]
    yeses = [r.occurred_at for r in trail if isinstance(r, Confirmation) and r.action.value == "confirm"
             and r.occurred_at <= end]
    late_cancel = iv.source_updated_at is not None and iv.source_updated_at >= start
    if iv.status.value == "cancelled" and not late_cancel:
        return "cancelled", "candidate_declined" if noes else "ats"
    if iv.status.value == "rescheduled" or moved:
        return "rescheduled", "ats" if iv.status.value == "rescheduled" else "new_version"
    if pending:
        return "pending", pending
    att = [a for a in trail if isinstance(a, Attendance) and a.role.value == "candidate" and a.occurred_at <= end
           and (a.left_at or a.occurred_at) >= pre]
    links = [r for r in trail if isinstance(r, LinkEvent) and not r.machine_made]
    window = [r for r in links if pre <= r.occurred_at <= end]
    errors = sum(r.type.value == "join_error" for r in window)
    if is_async:
        submits = [a.left_at or a.occurred_at for a in att if a.completed]
        if submits:
            return ("attended", "submitted") if min(submits) <= end else ("attended_late", "submitted_late")
        if att:
            return ("missed_technical", "join_error") if errors else ("attended_partial", "not_submitted")
    elif att:
        ms, covered = 0, None  # the union of the segments from the start on
        for seg_from, left in sorted((max(a.occurred_at, start), a.left_at or end) for a in att):
            new_from = max(seg_from, covered) if covered is not None else seg_from
            ms += max(0, (left - new_from) // timedelta(milliseconds=1))
            covered = left if covered is None else max(covered, left)
        if ms < policy.min_attendance_minutes * 60_000:
            return "attended_partial", "short_attendance"
        return ("attended", "on_time") if min(a.occurred_at for a in att) <= late else ("attended_late", "late_join")
    if any(isinstance(r, RescheduleRequest) and r.status.value == "approved" and r.occurred_at < start for r in trail):
        return "rescheduled", "request_approved"
    has_source = iv.kind.value != "onsite"
    attempts = [r for r in window if r.type.value != "join_error" and (not is_async or r.type.value == "join_attempt")]
    if has_source and (errors or len(attempts) >= policy.technical_clicks):
        return "missed_technical", "join_error" if errors else "repeated_attempts"
    if noes and (not yeses or max(noes) > max(yeses)):
        return "missed_declined", "reschedule_requested" if asks and max(asks) == max(noes) else "declined"
    if not has_source:
        return "unknown", "no_attendance_source"
    to_candidate = {r.id for r in trail if isinstance(r, Notification) and r.audience is Audience.candidate}
    sends = [r for r in trail if r.occurred_at <= end and (
        (isinstance(r, Notification) and r.id in to_candidate and r.status.value != "queued")
        or (isinstance(r, DeliveryEvent) and r.notification_id in to_candidate))]
    reads = [r for r in sends if r.channel.info.read_known and (
        (isinstance(r, DeliveryEvent) and r.type.value == "read")
        or (isinstance(r, Notification) and r.status.value == "read" and (r.read_at or r.occurred_at) <= end))]
    engaged = [r for r in links if r.occurred_at <= end]
    if reads or engaged or yeses:
        return "missed_read_no_show", "confirmed_no_show" if yeses else "link_opened" if engaged else "read"
    if not sends:
        return "missed_not_reached", "nothing_sent"
    reached = any((isinstance(r, DeliveryEvent) and r.type.value in ("delivered", "read"))
                  or (isinstance(r, Notification) and r.status.value in ("delivered", "read")) for r in sends)
    failed = sum((isinstance(r, DeliveryEvent) and r.type.value == "failed")
                 or (isinstance(r, Notification) and r.status.value == "failed") for r in sends)
    if not (reached or failed < sum(isinstance(r, Notification) for r in sends)):
        return "missed_not_reached", "undelivered"
    readable = any(r.channel.info.read_known and (
        (isinstance(r, DeliveryEvent) and r.type.value != "failed")
        or (isinstance(r, Notification) and r.status.value != "failed")) for r in sends)
    return "missed_not_reached", "delivered_unread" if readable else "delivered_read_unknown"


def _naive(path: Path, policy: PolicySettings, now: datetime, subset: int) -> tuple[float, dict[str, Any]]:
    """Seconds per interview of the obvious loop doing the same job, one interview (and commit) at a time.

    Read the interview and its records through the canonical model, decide, then version the outcome
    as reconcile does: compare with the current one, supersede it, cancel its planned actions, insert.
    """
    store = Store(f"sqlite:///{path}")
    i, e, o, a = interviews, evidence, outcomes, actions
    open_after = now - timedelta(minutes=policy.grace_minutes)
    with store.engine.connect() as conn:
        ids = list(conn.execute(sa.select(i.c.id).order_by(i.c.id).limit(subset)).scalars())
    decided: dict[str, Any] = {}
    started = time.perf_counter()
    for interview_id in ids:
        with store.begin() as conn:
            row = conn.execute(sa.select(i.c.data, i.c.thread_id, i.c.sequence).where(i.c.id == interview_id)).one()
            iv = Interview.model_validate(row.data)
            moved = conn.execute(sa.select(sa.func.count()).where(
                i.c.thread_id == row.thread_id, i.c.sequence > row.sequence,
                sa.or_(i.c.source_updated_at.is_(None), i.c.source_updated_at < iv.start_at))).scalar_one() > 0
            trail = [RECORD_TYPES[k].model_validate(d) for k, d in conn.execute(
                sa.select(e.c.kind, e.c.data).where(e.c.interview_id == interview_id))]
            outcome, sub = naive_classify(iv, [r for r in trail if isinstance(r, Evidence)], policy, moved,
                                          "window_open" if iv.end_at > open_after else None)
            decided[interview_id] = (outcome, sub)
            current = conn.execute(sa.select(o.c.id, o.c.version, o.c.outcome, o.c.sub_reason).where(
                o.c.interview_id == interview_id, o.c.superseded_at.is_(None))).first()
            same = current is not None and (current.outcome, current.sub_reason) == (outcome, sub)
            if outcome == "pending" or same:
                continue
            if current is not None:
                conn.execute(sa.update(o).where(o.c.id == current.id).values(superseded_at=now))
                conn.execute(sa.update(a).where(a.c.interview_id == interview_id, a.c.status == "planned",
                                                a.c.outcome_version == current.version).values(status="cancelled"))
            conn.execute(sa.insert(o).values(interview_id=interview_id, version=current.version + 1 if current else 1,
                                             outcome=outcome, sub_reason=sub, confidence="high", evidence_ids=[],
                                             rule_version="naive", decided_at=now))
    per_interview = (time.perf_counter() - started) / len(ids)
    store.engine.dispose()
    return per_interview, decided


def _check_naive(path: Path, decided: dict[str, Any]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as con:
        ours = {iv: (o, s) for iv, o, s in con.execute(
            "SELECT interview_id, outcome, sub_reason FROM outcomes WHERE superseded_at IS NULL")}
    wrong = {iv: (want, ours.get(iv)) for iv, want in decided.items() if ours.get(iv, ("pending", None)) != want
             and want[0] != "pending"}
    if wrong:
        raise AssertionError(f"naive loop and reconcile disagree on {len(wrong)} interviews, e.g. "
                             f"{next(iter(wrong.items()))}")


def run(quick: bool) -> dict[str, float]:
    count = QUICK if quick else FULL
    directory = Path(tempfile.mkdtemp(prefix="lifeline-bench-reconcile-"))
    try:
        now = datetime.now(UTC).replace(microsecond=0)
        base, work = directory / "base.db", directory / "work.db"
        Store(f"sqlite:///{base}").upgrade()
        total = generate(base, count, now)
        cfg, _ = bench_config(directory)
        policy = cfg.tenant(TENANT).policy
        full = {"seconds": float("inf")}
        for _ in range(REPEATS):  # each on a fresh copy: a full run writes every outcome
            _copy(base, work)
            full = min(full, _in_child(work, now), key=lambda run: run["seconds"])
        ours = _ours(work)
        duck_seconds, duck = _duckdb(base, directory, policy, now)
        if duck != ours:
            raise AssertionError(f"DuckDB query and reconcile disagree: {sorted((duck - ours).items())[:5]} vs "
                                 f"{sorted((ours - duck).items())[:5]}")
        naive_copy = directory / "naive.db"
        _copy(base, naive_copy)
        per_interview, decided = _naive(naive_copy, policy, now, NAIVE_SUBSET[quick])
        _check_naive(work, decided)
        later = now + timedelta(minutes=15)
        add_new_events(work, 0.01, now, later)
        _copy(work, base)
        incremental = {"seconds": float("inf")}
        for _ in range(REPEATS):
            _copy(base, work)
            incremental = min(incremental, _in_child(work, later), key=lambda run: run["seconds"])
        result = {
            "reconcile_full_vs_duckdb": full["seconds"] / duck_seconds,
            "reconcile_speedup_vs_naive": per_interview * count / full["seconds"],
            "reconcile_incremental_share": incremental["seconds"] / full["seconds"],
            "reconcile_peak_rss_mib": full["rss_mib"],
        }
        if os.environ.get("LIFELINE_BENCH_DEBUG"):  # the raw measurements behind the ratios
            print(f"# events {total}, full {full['seconds']:.2f}s, duckdb {duck_seconds:.2f}s, naive "
                  f"{per_interview * 1000:.2f}ms/interview, incremental {incremental['seconds']:.3f}s "
                  f"({incremental['examined']:.0f} interviews)", file=sys.stderr)
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)
