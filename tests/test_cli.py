"""The `lifeline` command run for real: schema creation on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeline_hub.connectors.dingtalk.settings import DingTalkSettings
from lifeline_hub.core.connector import Malformed
from lifeline_hub.core.store import Store
from tests.conftest import run_cli


def test_db_upgrade_creates_the_schema_and_status_reports_it(db_url: str) -> None:
    before = run_cli("db", "status", "--url", db_url)
    assert before.returncode == 1 and "run `lifeline db upgrade`" in before.stderr
    upgraded = run_cli("db", "upgrade", "--url", db_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at revision" in upgraded.stdout
    status = run_cli("db", "status", "--url", db_url)
    assert status.returncode == 0, status.stderr
    assert "evidence: 0 rows" in status.stdout
    assert "quarantine: 0 rows (bad records, met 0 times)" in status.stdout
    store = Store(db_url)
    try:  # a bad record met by three syncs is one row, met three times
        for _ in range(3):
            store.quarantine("acme", "acme.dt", "receipts", [Malformed(reason="userid: field required", payload={})])
    finally:
        store.engine.dispose()
    status = run_cli("db", "status", "--url", db_url)
    assert "quarantine: 1 rows (bad records, met 3 times)" in status.stdout, status.stdout
    engine = sa.create_engine(db_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"interviews", "evidence", "sync_state", "quarantine", "outcomes", "actions", "alembic_version"} <= tables


def test_quarantine_lists_what_was_kept_newest_first_with_redacted_payloads(db_url: str) -> None:
    assert run_cli("db", "upgrade", "--url", db_url).returncode == 0
    store = Store(db_url)
    try:
        store.quarantine("acme", "acme.dt", "receipts", [Malformed("userid: field required", {"n": 1}, "r-1")])
        store.quarantine("acme", "acme.wecom", "callbacks", [Malformed(
            "unhandled event: event/enter_agent", {"Event": "enter_agent", "Mobile": "13812345678"}, "wecom:ab")])
    finally:
        store.engine.dispose()
    listed = run_cli("quarantine", "--url", db_url)
    assert listed.returncode == 0, listed.stderr
    assert "unhandled event: event/enter_agent" in listed.stdout and "userid: field required" in listed.stdout
    kept = json.loads(run_cli("quarantine", "--url", db_url, "--stream", "callbacks", "--json").stdout)
    assert [(r["source"], r["remote_id"], r["seen_count"]) for r in kept] == [("acme.wecom", "wecom:ab", 1)]
    assert kept[0]["payload"]["Event"] == "enter_agent" and "13812345678" not in json.dumps(kept[0])
    none = run_cli("quarantine", "--url", db_url, "--source", "acme.other")
    assert none.returncode == 0 and "nothing quarantined" in none.stdout


ACME = """\
[lifeline]
store = "sqlite:///lifeline.db"

[tenants.acme]
timezone = "Asia/Shanghai"

[tenants.acme.policy]
grace_minutes = 30
"""


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(("edit", "problem"), [
    (("grace_minutes = 30", 'hr_connector = "nonexistent"'),
     "error: plugins.toml: tenants.acme.policy.hr_connector: no connector instance 'nonexistent' in tenant acme "
     "(instances: none)"),
    (('timezone = "Asia/Shanghai"', 'timezone = "[/a-z]"'),  # rich markup in a value is text
     "error: plugins.toml: tenants.acme.timezone: unknown time zone '[/a-z]'"),
    (("sqlite:///lifeline.db", "mysql://lifeline:s3cret@db/lifeline"),
     "error: plugins.toml: lifeline.store: unsupported store URL scheme 'mysql://': Lifeline stores in SQLite "
     "(sqlite:///PATH) or PostgreSQL (postgresql+psycopg://USER@HOST/DB)"),
    (("sqlite:///lifeline.db", "foo://"), "error: plugins.toml: lifeline.store: unsupported store URL scheme 'foo://'"),
])
def test_check_names_the_file_and_key_in_one_line(tmp_path: Path, edit: tuple[str, str], problem: str) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(ACME.replace(*edit), encoding="utf-8")
    result = run_cli("--config", str(config), "check", "--offline")
    assert result.returncode == 2, result.stdout + result.stderr
    assert lines(result.stderr) == [problem] or lines(result.stderr)[0].startswith(problem), result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr


def test_a_file_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_bytes(ACME.replace("[tenants.acme]", '[tenants.acme]\ndisplay_name = "招聘"').encode("gb18030"))
    result = run_cli("--config", str(config), "check")
    assert result.returncode == 2
    assert lines(result.stderr) == ["error: plugins.toml: line 5: not UTF-8 text (byte 0xd5); save the file as UTF-8"]


def test_paths_ids_and_store_urls_from_the_user_are_text(tmp_path: Path) -> None:
    folder = tmp_path / "[bold]conf"
    folder.mkdir()
    config = folder / "plugins.toml"
    config.write_text(ACME, encoding="utf-8")
    checked = run_cli("--config", str(config), "check", "--offline")
    assert checked.returncode == 0 and f"{config}: ok (1 tenants" in checked.stdout, checked.stderr
    assert run_cli("--config", str(config), "db", "upgrade").returncode == 0
    missing = run_cli("--config", str(config), "evidence", "[/a-z]")
    assert missing.returncode == 1 and lines(missing.stderr) == ["error: no interview '[/a-z]' in the store"]
    unknown = run_cli("--config", str(config), "dispatch", "--tenant", "globex")
    assert unknown.returncode == 2
    assert lines(unknown.stderr) == ["error: plugins.toml: tenant 'globex' is not configured (tenants: acme)"]
    bad_url = run_cli("db", "status", "--url", "foo://")
    assert bad_url.returncode == 2
    assert "Invalid value for --url: unsupported store URL scheme 'foo://'" in bad_url.stderr
    from_env = run_cli("--config", str(config), "db", "status", env={"LIFELINE_STORE_URL": "mysql://root:pw@db/x"})
    assert from_env.returncode == 2 and lines(from_env.stderr) == [
        "error: $LIFELINE_STORE_URL: unsupported store URL scheme 'mysql://': Lifeline stores in SQLite "
        "(sqlite:///PATH) or PostgreSQL (postgresql+psycopg://USER@HOST/DB)"]


def test_dead_actions_with_markup_in_vendor_text_are_listed_as_text(tmp_path: Path, store: Store) -> None:
    from datetime import UTC, datetime

    from lifeline_hub.core.models import Action, ActionStatus
    from lifeline_hub.core.outbox import enqueue
    from lifeline_hub.core.store.schema import actions

    now = datetime(2026, 3, 2, tzinfo=UTC)
    with store.begin() as conn:
        enqueue(conn, [Action(idempotency_key="k[/a-z]", tenant="acme", connector="acme.dt", kind="create_task",
                              interview_id="acme.ats/[/iv]", payload={}, due_at=now)], now)
        conn.execute(sa.update(actions).values(status=ActionStatus.dead.value, last_error="user [/b] unknown"))
    config = tmp_path / "plugins.toml"
    config.write_text(ACME.replace("sqlite:///lifeline.db", store.url), encoding="utf-8")
    listed = run_cli("--config", str(config), "dispatch", "--tenant", "acme", "--dead")
    assert listed.returncode == 0, listed.stderr
    assert "k[/a-z]" in listed.stdout and "acme.ats/[/iv]" in listed.stdout and "user [/b] unknown" in listed.stdout


def test_plugins_schema_prints_a_connectors_settings_with_their_defaults() -> None:
    result = run_cli("plugins", "--schema", "dingtalk")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["title"] == "DingTalkSettings" and schema["additionalProperties"] is False
    assert {"corp_id", "agent_id"} <= set(schema["required"])
    defaults = {key: prop["default"] for key, prop in schema["properties"].items() if "default" in prop}
    assert defaults == {key: value for key, value in DingTalkSettings(corp_id="c", agent_id=1).model_dump(
        mode="json").items() if key not in ("corp_id", "agent_id")}


def test_plugins_schema_of_an_unknown_connector_is_one_line_and_exit_2() -> None:
    result = run_cli("plugins", "--schema", "nosuch")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == ["error: unknown connector plugin 'nosuch' (available: aiplatform, "
                                          "aliyun_sms, dingtalk, email, feishu, weaver, wechat, wecom)"]


REACH = """\
[lifeline]
store = "sqlite:///lifeline.db"

[tenants.acme]
timezone = "Asia/Shanghai"

[tenants.acme.policy]
reminder_channels = ["feishu", "sms"]

[tenants.acme.connectors.dt]
plugin = "dingtalk"
connection_id = "ll_dt"
corp_id = "dingemulatorcorp0001"
agent_id = 3000000001
operator_union_id = "unionhr1"

[tenants.acme.connectors.fs]
plugin = "feishu"
connection_id = "ll_fs"

[tenants.acme.connectors.sms]
plugin = "aliyun_sms"
connection_id = "ll_sms"
sign_name = "面试助手"
templates = { reminder_t1d = "SMS_1" }

[tenants.acme.connectors.mail]
plugin = "email"
from_address = "recruiting@hub.example.com"

[tenants.beta]
timezone = "Asia/Shanghai"
"""


def test_check_says_which_channels_reach_each_tenants_candidates_and_staff(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(REACH, encoding="utf-8")
    result = run_cli("--config", str(config), "check", "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("  acme: candidates reachable on: feishu (acme.fs), sms (acme.sms), email (acme.mail), dingtalk (acme.dt); "
            "staff on: acme.dt, acme.fs") in lines(result.stdout), result.stdout
    assert "  beta: candidates reachable on: nothing (no reminders can go out); staff on: nothing" in lines(
        result.stdout)


WECOM = """\
[lifeline]
store = "sqlite:///lifeline.db"

[tenants.acme]
timezone = "Asia/Shanghai"

[tenants.acme.policy]
reminder_channels = ["wecom", "wechat", "sms"]
hr_connector = "wecom"
hr_assignees = ["zhangwei"]

[tenants.acme.connectors.wecom]
plugin = "wecom"
connection_id = "ll_wecom"
corp_id = "ww0123456789abcdef"
agent_id = 1000003

[tenants.acme.connectors.oa]
plugin = "wechat"
connection_id = "ll_oa"
app_id = "wx0123456789abcdef"

[tenants.acme.connectors.sms]
plugin = "aliyun_sms"
connection_id = "ll_sms"
sign_name = "面试助手"
templates = { reminder_t1d = "SMS_1" }
"""


def test_check_names_wecom_and_wechat_among_the_candidate_channels_and_wecom_for_staff(tmp_path: Path) -> None:
    config = tmp_path / "plugins.toml"
    config.write_text(WECOM, encoding="utf-8")
    result = run_cli("--config", str(config), "check", "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("  acme: candidates reachable on: wecom (acme.wecom), wechat (acme.oa), sms (acme.sms); "
            "staff on: acme.wecom") in lines(result.stdout), result.stdout
