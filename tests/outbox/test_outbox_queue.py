"""The outbox on SQLite and PostgreSQL: plan once, claim under a lease, retry, park as dead, cancel."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from lifeline_hub.core import ActionResult, Connector
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.http import InvalidRequest, RateLimited, TransientError
from lifeline_hub.core.models import Action, ActionStatus, idempotency_key
from lifeline_hub.core.outbox import (
    DEAD_HEALTH_KIND,
    cancel,
    cancel_superseded,
    claim,
    dispatch,
    enqueue,
    get,
    requeue,
    rows,
)
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.store import Store
from lifeline_hub.core.store.schema import health, outcomes

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class FakeSink(Connector):
    """Performs by recording; `script` makes the next calls fail (one exception per call)."""

    name = "fakesink"
    actions = ("send_message", "create_task")
    done: ClassVar[dict[str, int]] = {}
    script: ClassVar[list[Exception]] = []

    def perform(self, action: Action) -> ActionResult:
        if FakeSink.script:
            raise FakeSink.script.pop(0)
        FakeSink.done[action.idempotency_key] = FakeSink.done.get(action.idempotency_key, 0) + 1
        return ActionResult(remote_id=f"r-{action.idempotency_key[-6:]}")


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Config:
    FakeSink.done, FakeSink.script = {}, []
    host = PluginHost()
    host.connectors["fakesink"] = FakeSink
    path = tmp_path / "plugins.toml"
    path.write_text(f'[lifeline]\nstore = "{db_url}"\n[tenants.acme.policy]\ndispatch_max_attempts = 3\n'
                    'dispatch_backoff_seconds = 10\n[tenants.acme.connectors.sink]\nplugin = "fakesink"\n')
    return load(path, host)


def row(key: str, kind: str = "send_message", due: datetime = T0, **fields: Any) -> Action:
    return Action(idempotency_key=key, tenant="acme", connector="acme.sink", kind=kind, due_at=due,
                  payload={"n": 1}, **fields)


def put(store: Store, *actions: Action, now: datetime = T0) -> list[str]:
    with store.begin() as conn:
        return enqueue(conn, actions, now)


def test_keys_are_deterministic_and_distinct() -> None:
    assert idempotency_key("iv", 1, "create_task/hr", 0) == idempotency_key("iv", 1, "create_task/hr", 0)
    assert len({idempotency_key("iv", v, k, s) for v in (1, 2) for k in ("a", "b") for s in (0, 1)}) == 8


def test_enqueue_plans_each_key_once(store: Store) -> None:
    assert put(store, row("k1"), row("k2")) == ["k1", "k2"]
    assert put(store, row("k1"), row("k2")) == ["k1", "k2"]  # still waiting: re-stated, not doubled
    assert store.count("actions") == 2
    _, claimed = claim(store, "w", T0)
    assert {a.idempotency_key for a in claimed} == {"k1", "k2"}
    assert put(store, row("k1")) == []  # claimed rows are left alone
    with store.begin() as conn:
        assert cancel(conn, ["k1", "k2"], "test", T0) == 0  # only planned rows can be withdrawn


def test_a_cancelled_key_planned_again_comes_back(store: Store) -> None:
    put(store, row("k1"))
    with store.begin() as conn:
        assert cancel(conn, ["k1"], "changed my mind", T0) == 1
    assert get(store, "k1").status is ActionStatus.cancelled  # type: ignore[union-attr]
    assert put(store, row("k1", due=T0 + timedelta(minutes=5))) == ["k1"]
    again = get(store, "k1")
    assert again is not None and again.status is ActionStatus.planned and again.due_at == T0 + timedelta(minutes=5)


def test_claims_take_due_rows_once_under_a_lease(store: Store) -> None:
    put(store, row("now"), row("later", due=T0 + timedelta(hours=1)))
    _, first = claim(store, "w1", T0, lease=timedelta(minutes=5))
    assert [a.idempotency_key for a in first] == ["now"] and first[0].attempts == 1
    assert claim(store, "w2", T0 + timedelta(minutes=4))[1] == []  # leased
    _, again = claim(store, "w2", T0 + timedelta(minutes=5))  # the lease ran out: w1 is presumed dead
    assert [a.idempotency_key for a in again] == ["now"] and again[0].attempts == 2
    late = claim(store, "w3", T0 + timedelta(hours=2))[1]  # `later` is due; w2's lease on `now` ran out too
    assert {a.idempotency_key: a.attempts for a in late} == {"now": 3, "later": 1}


def test_concurrent_workers_never_share_a_row(store: Store) -> None:
    put(store, *(row(f"k{i:03d}") for i in range(120)))
    taken: list[list[str]] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while True:
                _, got = claim(store, name, T0, limit=7)
                if not got:
                    return
                taken.append([a.idempotency_key for a in got])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    keys = [k for batch in taken for k in batch]
    assert len(keys) == len(set(keys)) == 120


def test_rows_of_a_superseded_outcome_are_not_dispatched(store: Store) -> None:
    with store.begin() as conn:
        for version, superseded in ((1, T0), (2, None)):
            conn.execute(sa.insert(outcomes).values(
                interview_id="iv", version=version, outcome="missed_read_no_show", confidence="high",
                evidence_ids=[], rule_version="t", decided_at=T0, superseded_at=superseded))
    put(store, row("old", interview_id="iv", outcome_version=1), row("new", interview_id="iv", outcome_version=2),
        row("reminder", interview_id="iv"))
    assert {a.idempotency_key for a in claim(store, "w", T0)[1]} == {"new", "reminder"}
    with store.begin() as conn:
        assert cancel_superseded(conn, T0) == 1
    assert get(store, "old").status is ActionStatus.cancelled  # type: ignore[union-attr]


def test_dispatch_retries_with_backoff_then_parks_as_dead(store: Store, config: Config) -> None:
    put(store, row("flaky"), row("doomed"))
    FakeSink.script = [TransientError("502", vendor="fake"), RateLimited("slow down", vendor="fake", retry_after=90)]
    first = dispatch(store, config, "acme", now=T0)
    assert (first.done, first.retried) == (0, 2)
    flaky = get(store, "flaky")
    assert flaky is not None and flaky.due_at == T0 + timedelta(seconds=10) and "502" in (flaky.last_error or "")
    assert get(store, "doomed").due_at == T0 + timedelta(seconds=90)  # type: ignore[union-attr]  # Retry-After
    FakeSink.script = [TransientError("502 again", vendor="fake")]
    second = dispatch(store, config, "acme", now=T0 + timedelta(seconds=95))
    assert (second.done, second.retried) == (1, 1)
    FakeSink.script = [TransientError("still 502", vendor="fake")]
    third = dispatch(store, config, "acme", now=T0 + timedelta(hours=1))
    assert third.dead == 1 and "still 502" in third.problems[0]
    assert FakeSink.done == {"doomed": 1}
    dead = rows(store, "acme", status=ActionStatus.dead)
    assert len(dead) == 1 and dead[0].action.attempts == 3
    with store.engine.connect() as conn:
        alert = conn.execute(sa.select(health).where(health.c.kind == DEAD_HEALTH_KIND)).one()
    assert alert.subject == dead[0].action.idempotency_key and "still 502" in alert.message
    assert requeue(store, "acme", None, T0 + timedelta(hours=2)) == 1
    assert dispatch(store, config, "acme", now=T0 + timedelta(hours=2)).done == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(health.c.resolved_at)).scalar() is not None


def test_failures_that_cannot_pass_are_dead_at_once(store: Store, config: Config) -> None:
    put(store, row("bad"), row("nowhere").model_copy(update={"connector": "acme.gone"}),
        row("unable", kind="create_approval"))
    FakeSink.script = [InvalidRequest("field missing", vendor="fake")]
    summary = dispatch(store, config, "acme", now=T0)
    assert (summary.dead, summary.retried) == (3, 0)
    errors = {r.action.idempotency_key: r.action.last_error or "" for r in rows(store, "acme")}
    assert "field missing" in errors["bad"] and "not configured" in errors["nowhere"]
    assert "cannot create_approval" in errors["unable"]


def test_a_crashing_row_runs_out_of_attempts(store: Store, config: Config) -> None:
    put(store, row("poison"))
    for minute in range(3):  # three workers claim it and die before settling it
        assert claim(store, f"w{minute}", T0 + timedelta(minutes=10 * minute))[1]
    summary = dispatch(store, config, "acme", now=T0 + timedelta(hours=1))
    assert summary.dead == 1 and "gave up after 3 tries" in summary.problems[0]
    assert FakeSink.done == {}


def test_the_cli_dispatches_lists_dead_rows_and_requeues(store: Store, config: Config,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from lifeline_hub.core import cli

    monkeypatch.setattr(cli, "get_host", lambda: config_host(config))
    monkeypatch.setenv("LIFELINE_HASH_KEY", "outbox-test-key-0123456789abcdefgh")  # acme is no sandbox
    put(store, row("fine"), row("bad"), now=datetime.now(UTC) - timedelta(minutes=1))
    FakeSink.script = [InvalidRequest("no such user", vendor="fake")]
    run: Callable[..., Any] = CliRunner().invoke
    args = ["--config", str(config.path), "dispatch", "--tenant", "acme"]
    result = run(cli.cli, args)
    assert result.exit_code == 1, result.output
    assert "1 done" in result.output and "1 dead" in result.output
    listed = run(cli.cli, [*args, "--dead"])
    assert listed.exit_code == 0 and "no such user" in listed.output
    again = run(cli.cli, [*args, "--requeue", "all"])
    assert again.exit_code == 0 and "1 dead rows planned again" in again.output
    assert FakeSink.done.keys() == {"fine", "bad"}


def config_host(config: Config) -> PluginHost:
    host = PluginHost()
    host.connectors.update({s.connector_class.name: s.connector_class for s in config.setups.values()})
    return host

