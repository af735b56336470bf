"""A tenant whose remediation runs against the DingTalk and Feishu emulators on loopback.

For tests, the crash drill and the sandbox: a real `plugins.toml` (tenant `acme`: DingTalk `dt` for
HR todos, work notices, approvals and calendar; the candidate on Feishu `fs` and by Aliyun SMS
`sms`), the connections in the environment (`AIRFLOW_CONN_*`, as a subprocess gets them too), a
migrated store, and helpers that put interviews, candidates, evidence and outcomes in it. The connectors
come from the plugin host (entry points), their emulators from the `emulator` factories they name.

    with emulated_tenant(tmp_path, store_url) as t:
        t.candidate("c1", "张三")
        interview = t.interview("iv1", start, candidate="c1")
        t.decide(interview.id, OutcomeClass.missed_read_no_show, now)
        remediate(t.store, "acme", now, t.config, t.host)
        dispatch(t.store, t.config, "acme")
        t.dingtalk.todo_list(), t.sms.message_list()   # what HR and the candidate got

`python -m lifeline_hub.core.remediation.testing worker|zygote CONFIG TENANT` runs dispatch in a process that
dies on purpose (the crash tests and `tests/bench/bench_drill.py`).
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, get_args, get_type_hints

import sqlalchemy as sa
from pydantic import BaseModel

from lifeline_hub.core.config import Config, load
from lifeline_hub.core.connector import Connector
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.models import (
    Action,
    AppointmentThread,
    Candidate,
    Channel,
    ContactPoint,
    Evidence,
    Interview,
    InterviewKind,
    OutcomeClass,
)
from lifeline_hub.core.outbox import DispatchSummary, dispatch
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import outcomes

TENANT = "acme"
ATS = f"{TENANT}.ats"
PROCESS_CODE = "PROC-LIFELINE-RESCHEDULE"
HR_USER, HR_UNION, APPROVER = "hr1", "unionhr1", "mgr1"
SIGN = "面试助手"
SMS_TEMPLATES = {
    "reissued_link": ("SMS_910000001", "${name}您好，您${time}的面试新链接：https://lifeline.example/j/${code}"),
    "reschedule_offer": ("SMS_910000002",
                         "${name}您好，您${time}的面试未能进行，请在https://lifeline.example/r/${code}选择新的时间。"),
    "invite": ("SMS_910000003", "${name}您好，您的面试时间为${time}，链接：https://lifeline.example/j/${code}"),
}


def plugin_host() -> PluginHost:
    """A host with the installed plugins (entry points of group `lifeline`), loaded afresh."""
    return PluginHost().load_entry_points()


@dataclass
class EmulatedTenant:
    dingtalk: Any
    """The DingTalk emulator's world (`DingTalkWorld`)."""
    feishu: Any
    """The Feishu emulator's world (`FeishuWorld`)."""
    sms: Any
    """The Aliyun SMS emulator's world (`SmsWorld`)."""
    config: Config
    host: PluginHost
    store: Store
    env: dict[str, str]
    """The connection variables a subprocess needs (they are set in this process too)."""
    candidates: dict[str, str] = field(default_factory=dict)
    """Candidate id -> Feishu open_id."""

    @property
    def path(self) -> Path:
        return self.config.path

    def candidate(self, candidate_id: str, name: str, locale: str = "zh-CN", phone: str = "13812345678",
                  feishu_first: bool = False) -> str:
        """A candidate reachable by SMS and on Feishu (SMS ranked first unless `feishu_first`); returns the
        Feishu open_id."""
        open_id = str(self.feishu.add_user(name)["open_id"])
        self.candidates[candidate_id] = open_id
        contacts = (ContactPoint.phone(phone), ContactPoint.im(Channel.feishu, open_id))
        if feishu_first:
            contacts = contacts[::-1]
        self.store.write(TENANT, [Candidate(source=ATS, remote_id=candidate_id, name=name, locale=locale,
                                            contacts=contacts)])
        return open_id

    def interview(self, remote_id: str, start: datetime, *, minutes: int = 45,
                  kind: InterviewKind = InterviewKind.video, candidate: str | None = None,
                  application: str | None = None, platform: str | None = "vc", sequence: int = 0,
                  source: str = ATS, interviewers: tuple[str, ...] = ()) -> Interview:
        interview = Interview(
            source=source, remote_id=remote_id, kind=kind, start_at=start, end_at=start + timedelta(minutes=minutes),
            thread=AppointmentThread(thread_id=f"thread-{remote_id}", ical_uid=f"{remote_id}@lifeline.test",
                                     sequence=sequence),
            candidate_id=f"{ATS}/{candidate}" if candidate else None, application_id=application,
            platform=platform, join_url=f"https://vc.example/{remote_id}", interviewer_ids=interviewers,
        )
        self.store.write(TENANT, [interview])
        return interview

    def evidence(self, *records: Evidence) -> None:
        self.store.write(TENANT, records)

    def decide(self, interview_id: str, outcome: OutcomeClass, at: datetime, sub_reason: str | None = None) -> int:
        """Record a new outcome version for the interview (superseding the current one); returns the version."""
        with self.store.begin() as conn:
            version = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(outcomes.c.version), 0))
                                       .where(outcomes.c.interview_id == interview_id)).scalar_one()) + 1
            conn.execute(sa.update(outcomes).where(outcomes.c.interview_id == interview_id,
                                                   outcomes.c.superseded_at.is_(None)).values(superseded_at=at))
            conn.execute(sa.insert(outcomes).values(
                interview_id=interview_id, version=version, outcome=outcome.value, sub_reason=sub_reason,
                confidence="high", evidence_ids=[], rule_version="test", decided_at=at))
        return version


def _config_text(store_url: str, urls: Mapping[str, str], policy: Mapping[str, Any],
                 settings: Mapping[str, Mapping[str, Any]]) -> str:
    def toml(value: Any) -> str:
        if isinstance(value, Mapping):
            return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
        return json.dumps(value, ensure_ascii=False)

    policy = {
        "hr_connector": "dt", "hr_assignees": [HR_UNION], "hr_recipients": [HR_USER],
        "candidate_connectors": {"feishu": "fs", "sms": "sms"}, "approval_connector": "dt",
        "approval_process_code": PROCESS_CODE, "approval_originator": HR_USER, "approval_approvers": [APPROVER],
        "calendar_connector": "dt", "calendar_organizer": HR_UNION, "quiet_hours": [0, 0], **policy,
    }
    dt = {"corp_id": "dingemulatorcorp0001", "agent_id": 3000000001, "operator_union_id": HR_UNION,
          "approval_process_codes": [PROCESS_CODE], "read_timeout_seconds": 2.0,
          "todo_detail_url": "https://ats.example/interviews", **settings.get("dt", {})}
    fs = {"http_timeout_seconds": 2.0, **settings.get("fs", {})}
    sms = {"sign_name": SIGN, "templates": {p: code for p, (code, _) in SMS_TEMPLATES.items()},
           "http_timeout_seconds": 2.0, **settings.get("sms", {})}
    lines = [
        "[lifeline]", f"store = {toml(store_url)}", "",
        f"[tenants.{TENANT}]", 'locale = "zh-CN"', 'timezone = "Asia/Shanghai"', "",
        f"[tenants.{TENANT}.policy]", *(f"{k} = {toml(v)}" for k, v in policy.items()), "",
        f"[tenants.{TENANT}.connectors.dt]", 'plugin = "dingtalk"', 'connection_id = "ll_test_dt"',
        f"base_urls = {toml({'oapi': urls['dt'], 'api': urls['dt']})}",
        *(f"{k} = {toml(v)}" for k, v in dt.items()), "",
        f"[tenants.{TENANT}.connectors.fs]", 'plugin = "feishu"', 'connection_id = "ll_test_fs"',
        f"base_urls = {toml({'open': urls['fs']})}", *(f"{k} = {toml(v)}" for k, v in fs.items()), "",
        f"[tenants.{TENANT}.connectors.sms]", 'plugin = "aliyun_sms"', 'connection_id = "ll_test_sms"',
        f"base_urls = {toml({'api': urls['sms']})}", *(f"{k} = {toml(v)}" for k, v in sms.items()), "",
    ]
    return "\n".join(lines)


@contextmanager
def emulated_tenant(directory: Path, store_url: str, *, faults: Faults | None = None,
                    policy: Mapping[str, Any] | None = None,
                    settings: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[EmulatedTenant]:
    """Emulators on loopback, `plugins.toml` in `directory`, connections in the environment, a migrated store."""
    host, faults = plugin_host(), faults or Faults()
    templates = {code: {"content": text} for code, text in SMS_TEMPLATES.values()}
    apps = {"dt": emulator_app(host.connector("dingtalk"), faults=faults),
            "fs": emulator_app(host.connector("feishu"), faults=faults),
            "sms": emulator_app(host.connector("aliyun_sms"), sign_names=[SIGN], faults=faults, limit_day=None,
                                templates=templates)}
    dingtalk, feishu, sms = (apps[key].state.world for key in ("dt", "fs", "sms"))
    for userid, union, name in ((HR_USER, HR_UNION, "HR 王"), (APPROVER, "unionmgr1", "经理 李")):
        dingtalk.add_user(userid, union_id=union, name=name)
    env = {f"AIRFLOW_CONN_LL_TEST_{key.upper()}": json.dumps({"conn_type": plugin, **(
        host.connector(plugin).emulator_connection(apps[key].state.world) or {})})
        for key, plugin in (("dt", "dingtalk"), ("fs", "feishu"), ("sms", "aliyun_sms"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    store = Store(store_url)
    try:
        with (LoopbackServer(apps["dt"]) as dt, LoopbackServer(apps["fs"]) as fs, LoopbackServer(apps["sms"]) as sm):
            path = directory / "plugins.toml"
            urls = {"dt": dt.url, "fs": fs.url, "sms": sm.url}
            path.write_text(_config_text(store_url, urls, policy or {}, settings or {}), encoding="utf-8")
            store.upgrade()
            yield EmulatedTenant(dingtalk, feishu, sms, load(path, host), host, store, env)
    finally:
        store.engine.dispose()
        for world in (dingtalk, feishu, sms):
            world.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def emulator_app(cls: type[Connector], **settings: Any) -> Any:
    """The emulator app `cls` names (`app.state.world` its world), its world made from `settings`: the fields of
    the settings model the factory takes (`create_app(settings=None, world=None)`), validated by that model."""
    if not cls.emulator:
        raise LookupError(f"connector {cls.name!r} names no emulator")
    module, _, name = cls.emulator.partition(":")
    create = getattr(importlib.import_module(module), name)
    model = next(t for t in get_args(get_type_hints(create)["settings"]) if issubclass(t, BaseModel))
    return create(settings=model.model_validate(settings))


# -- dispatch workers that die the hard way (crash tests and the drill) ------------------------------

KILLED = 137
"""Exit status of a worker that died on purpose (as after SIGKILL: no cleanup, no store update)."""


def worker(config_path: Path, tenant: str, *, pause_at: str | None = None, nth: int = 1, exit_at: int | None = None,
           exit_after: float | None = None, lease: timedelta = timedelta(seconds=30)) -> DispatchSummary:
    """Dispatch in this process and die mid-way: at probe call number `exit_at`, or `exit_after`
    seconds in (whatever it is doing, a vendor call included), or stop at the `nth` `pause_at`
    point printing `PAUSED <key>` until killed from outside."""
    config = load(config_path, plugin_host())
    store = Store(config.store_url)
    calls, pauses = itertools.count(1), itertools.count(1)
    if exit_after is not None:
        threading.Timer(exit_after, os._exit, (KILLED,)).start()

    def probe(point: str, action: Action) -> None:
        if point == pause_at and next(pauses) == nth:
            print(f"PAUSED {action.idempotency_key}", flush=True)
            time.sleep(3600)
        if next(calls) == exit_at:
            os._exit(KILLED)

    summary = dispatch(store, config, tenant, probe=probe, lease=lease)
    if exit_after is not None:
        os._exit(0)  # the timer thread must not outlive the run
    return summary


def zygote(config_path: Path, tenant: str) -> None:
    """Serve worker runs from stdin, one JSON object per line (`worker`'s keyword arguments), each in
    a forked child (imports are paid once); answer each with `{"code": <exit status>}`."""
    load(config_path, plugin_host())  # import and validate once, before forking
    for line in sys.stdin:
        order = json.loads(line)
        pid = os.fork()
        if pid == 0:
            worker(config_path, tenant, exit_at=order.get("exit_at"), exit_after=order.get("exit_after"),
                   lease=timedelta(seconds=order.get("lease", 30)))
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


def killed_after_performing(config_path: Path, tenant: str, env: Mapping[str, str] | None = None,
                            nth: int = 1) -> str:
    """Run `worker` in a real process and SIGKILL it right after its `nth` vendor call returned, before the
    store update; returns the key of the row it was performing."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "lifeline_hub.core.remediation.testing", "worker", str(config_path), tenant,
         "--pause-at", "performed", "--nth", str(nth)],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        text=True)
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        if not line.startswith("PAUSED "):
            raise RuntimeError(f"the worker did not reach its vendor call: {line!r}")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        worker.kill()
    return line.split()[1]


def main(argv: list[str]) -> None:
    """`python -m lifeline_hub.core.remediation.testing worker|zygote CONFIG TENANT [--pause-at POINT [--nth N]]`."""
    mode, config_path, tenant, *rest = argv
    if mode == "zygote":
        zygote(Path(config_path), tenant)
        return
    options = dict(zip(rest[::2], rest[1::2], strict=True))
    summary = worker(Path(config_path), tenant, pause_at=options.get("--pause-at"), nth=int(options.get("--nth", 1)))
    print(json.dumps(asdict(summary)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
