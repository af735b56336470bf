"""Exactly once towards the candidate through the real outbox: a dispatch worker is SIGKILLed after the SMTP
server accepted its message and before the store recorded it; the next worker looks the message up over IMAP
(`Action.maybe_sent`) instead of sending it again. Without an IMAP look-up the candidate gets it twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.core.config import Config, load
from lifeline_hub.core.models import ActionStatus, utcnow
from lifeline_hub.core.outbox import dispatch, queue
from lifeline_hub.core.remediation.testing import killed_after_performing, plugin_host
from lifeline_hub.core.store import Store
from tests.email.mail_helpers import ORGANIZER, SOURCE, TENANT, email_action, invite, parse, seed

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "ll_test_mail"


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailWorld]:
    """The submission account `hub` (SMTP AUTH, its Sent folder over IMAP); its connection in the environment."""
    world = MailWorld(MailSettings(users={"hub": "s3cret"})).start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONNECTION.upper()}",
                       json.dumps({"conn_type": "email", "login": "hub", "password": "s3cret"}))
    yield world
    world.close()


def tenant(directory: Path, store_url: str, world: MailWorld, *, imap: bool) -> Config:
    urls = {"smtp": world.url, **({"imap": world.imap_url} if imap else {})}
    path = directory / "plugins.toml"
    path.write_text("\n".join([
        "[lifeline]", f"store = {json.dumps(store_url)}", f"[tenants.{TENANT}]", 'timezone = "Asia/Shanghai"',
        f"[tenants.{TENANT}.connectors.{SOURCE.split('.')[1]}]", 'plugin = "email"',
        f'connection_id = "{CONNECTION}"', "base_urls = { " + ", ".join(f'{k} = "{v}"' for k, v in urls.items()) + " }",
        f'from_address = "{ORGANIZER}"', "starttls = false", "timeout_seconds = 5.0",
    ]) + "\n", encoding="utf-8")
    return load(path, plugin_host())


@pytest.mark.parametrize(("imap", "received"), [(True, 1), (False, 2)])
def test_a_worker_killed_after_the_smtp_acceptance(tmp_path: Path, db_url: str, account: MailWorld, imap: bool,
                                                   received: int) -> None:
    store = Store(db_url)
    try:
        store.upgrade()
        seed(store)
        config = tenant(tmp_path, db_url, account, imap=imap)
        action = email_action("ll-crash", calendar=invite())
        with store.begin() as conn:
            queue.enqueue(conn, [action], utcnow())
        assert killed_after_performing(config.path, TENANT) == action.idempotency_key
        row = queue.get(store, action.idempotency_key)
        assert row is not None and row.status is ActionStatus.claimed  # the server has it; the store does not
        assert len(account.messages()) == 1

        summary = dispatch(store, config, TENANT, now=utcnow() + timedelta(minutes=1))  # past the dead worker's lease
        assert (summary.claimed, summary.done) == (1, 1)
        row = queue.get(store, action.idempotency_key)
        assert row is not None and row.status is ActionStatus.done and row.remote_id == "ll-crash@hub.example.com"
        messages = [parse(m["raw"])["Message-ID"] for m in account.messages()]
        assert messages == ["<ll-crash@hub.example.com>"] * received
        assert (account.summary()["imap"]["commands"] > 0) == imap  # looked up only where it can be
    finally:
        store.engine.dispose()
