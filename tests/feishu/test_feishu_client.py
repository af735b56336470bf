"""The Feishu client over real HTTP to the emulator: tenant token, envelope, every documented error
code as its typed error, retries, hosts, and no secret in errors or logs."""

from __future__ import annotations

import logging

import pytest
from feishu_kit import Rig, action, connector_class, credentials, rig

from lifeline_hub.connectors.feishu.client import FEISHU_HOST, LARK_HOST, QUOTAS
from lifeline_hub.connectors.feishu.common import FeishuSettings
from lifeline_hub.core import Instance
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import (
    AuthFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TokenExpired,
    TransientError,
)

IM = "/open-apis/im/v1/messages"


def test_token_is_top_level_cached_and_refreshed_once_on_99991663() -> None:
    with rig() as r:
        user = r.world.add_user("Li Lei")
        mid = r.world.add_bot_message(user["chat_id"], "hi")
        client = r.connector.client
        path = f"{IM}/{mid}/read_users"
        for _ in range(3):
            assert client.call("GET", path, "im.message.read_users", params={"user_id_type": "open_id"}) == {
                "items": [],
                "has_more": False,
            }
        assert r.calls("auth.tenant_access_token") == 1
        r.world.expire_tokens()
        client.call("GET", path, "im.message.read_users", params={"user_id_type": "open_id"})
        assert r.calls("auth.tenant_access_token") == 2
        assert client.stats.errors == {}


def test_token_that_stays_refused_fails_after_one_refresh() -> None:
    with rig(emulator={"faults": Faults(expire_token=1.0)}) as r:
        with pytest.raises(TokenExpired) as caught:
            r.connector.client.call("GET", "/open-apis/task/v2/tasks/x", "task.get")
        assert caught.value.code == 99991663
        assert r.calls("auth.tenant_access_token") == 2  # the first token and one refresh


def test_missing_token_and_bad_credentials() -> None:
    with rig() as r:
        with pytest.raises(TokenExpired) as missing:
            r.connector.client.call("GET", "/open-apis/task/v2/tasks/x", "task.get", auth=False)
        assert missing.value.code == 99991661
        world = r.world
        cls = connector_class()
        instance = Instance("acme", "acme.feishu", base_urls={"open": r.url})
        for login, password, code in ((world.settings.app_id, "wrong", 10014), ("cli_other", "x", 10003)):
            creds = credentials(world)
            bad = cls(instance, FeishuSettings(), type(creds)(creds.conn_id, login=login, password=password))
            with pytest.raises(AuthFailed) as caught:
                bad.client.call("GET", "/open-apis/task/v2/tasks/x", "task.get")
            assert caught.value.code == code
            assert "wrong" not in str(caught.value)
            result = bad.check()
            assert not result.ok and "tenant_access_token failed" in result.message


def test_missing_scope_is_permission_denied_naming_the_scopes() -> None:
    with rig(emulator={"scopes": ["task:task:write"]}) as r:
        user = r.world.add_user("Li Lei")
        send = action("send_message", {"recipients": [user["open_id"]], "title": "t", "text": "x"})
        with pytest.raises(PermissionDenied) as caught:
            r.connector.perform(send)
        assert caught.value.code == 99991672 and caught.value.http_status == 400
        assert caught.value.scope == "im:message | im:message:send_as_bot | im:message:send"
        assert "grant the app the permission/scope" in str(caught.value)
        assert r.calls("im.message.create") == 1  # never retried


@pytest.mark.parametrize("status", [429, 400])
def test_rate_limit_waits_for_the_reset_header_and_retries(status: int) -> None:
    tiers = {"task.get": [{"limit": 1, "per_seconds": 1.0}]}
    with rig(emulator={"rate_tiers": tiers, "rate_limit_http_status": status}) as r:
        hr = r.world.add_user("HR")
        created = r.connector.perform(
            action("create_task", {"assignees": [hr["open_id"]], "title": "t", "description": "d"})
        )
        client = r.connector.client
        for _ in range(2):  # task.get has no client-side quota: the second call meets 99991400
            client.call("GET", f"/open-apis/task/v2/tasks/{created.remote_id}", "task.get")
        assert client.stats.rate_limited == 1 and client.stats.retries == 1
        assert r.world.breaches()[r.world.settings.app_id]["task.get"] == 1


def test_rate_limit_error_carries_retry_after() -> None:
    with rig(emulator={"faults": Faults(rate_limit=1.0)}) as r:
        r.connector.client.max_attempts = 1
        with pytest.raises(RateLimited) as caught:
            r.connector.client.call("GET", "/open-apis/task/v2/tasks/x", "task.get")
        assert caught.value.code == 99991400 and caught.value.retry_after == 1.0
        assert caught.value.http_status == 429


def test_server_errors_are_transient_and_reads_are_retried() -> None:
    with rig(emulator={"faults": Faults(server_error=1.0)}) as r:
        client = r.connector.client
        client.max_attempts, client.backoff = 2, 0.01
        with pytest.raises(TransientError) as plain:  # the gateway's 503 text/plain before auth
            client.call("GET", "/open-apis/task/v2/tasks/x", "task.get")
        assert plain.value.http_status == 503
        r.world.faults.configure(Faults())
        hr = r.world.add_user("HR")
        guid = r.connector.perform(action("create_task", {"assignees": [hr["open_id"]], "title": "t",
                                                          "description": "d"})).remote_id  # fmt: skip
        r.world.faults.configure(Faults(server_error=1.0))
        with pytest.raises(TransientError) as task:  # Task v2's own 5xx envelope
            client.call("GET", f"/open-apis/task/v2/tasks/{guid}", "task.get")
        assert (task.value.code, task.value.http_status) == (1470500, 500)
        r.world.faults.configure(Faults(server_error=0.5, seed=3))
        user = r.world.add_user("Li Lei")
        mid = r.world.add_bot_message(user["chat_id"], "hi")
        client.max_attempts = 8
        client.call("GET", f"{IM}/{mid}/read_users", "im.message.read_users", params={"user_id_type": "open_id"})
        assert client.stats.retries >= 1


def test_documented_business_errors_map_to_typed_errors(rig_default: Rig) -> None:
    r, client = rig_default, rig_default.connector.client
    with pytest.raises(NotFound) as missing:
        client.call("GET", "/open-apis/task/v2/tasks/no-such-task", "task.get")
    assert (missing.value.code, missing.value.http_status) == (1470404, 404)
    with pytest.raises(InvalidRequest) as bad:
        client.call("GET", f"{IM}/om_x/read_users", "im.message.read_users")
    assert bad.value.code == 99992402 and "user_id_type" in str(bad.value)
    with pytest.raises(NotFound) as route:
        client.call("GET", "/open-apis/nowhere", "nowhere")
    assert route.value.code == 99991201
    r.world.add_approval_definition("RESCHEDULE", "Reschedule")
    hr = r.world.add_user("HR")
    body = {"approval_code": "RESCHEDULE", "open_id": hr["open_id"], "form": "[]", "uuid": "u-1"}
    client.call("POST", "/open-apis/approval/v4/instances", "approval.instance.create", json=body)
    with pytest.raises(Conflict) as again:
        client.call("POST", "/open-apis/approval/v4/instances", "approval.instance.create", json=body)
    assert again.value.code == 60012
    mid = r.world.add_bot_message(hr["chat_id"], "hi")
    r.clock.advance(8 * 86400)
    with pytest.raises(InvalidRequest) as old:
        client.call("GET", f"{IM}/{mid}/read_users", "im.message.read_users", params={"user_id_type": "open_id"})
    assert old.value.code == 230033
    with pytest.raises(InvalidRequest) as vc:
        client.call("GET", "/open-apis/vc/v1/participant_list", "vc.participant_list.get",
                    params={"meeting_start_time": "1", "meeting_end_time": "2", "meeting_no": "12"})  # fmt: skip
    assert vc.value.code == 126004


def test_vc_meeting_not_found_is_not_found(rig_default: Rig) -> None:
    params = {"meeting_start_time": str(int(rig_default.clock() - 3600)), "meeting_end_time": "1750000000",
              "meeting_no": "123456789"}  # fmt: skip
    with pytest.raises(NotFound) as caught:
        rig_default.connector.client.call("GET", "/open-apis/vc/v1/participant_list", "vc.participant_list.get",
                                          params=params)  # fmt: skip
    assert caught.value.code == 126009


def test_hosts_feishu_lark_and_explicit() -> None:
    cls = connector_class()
    default = Instance("acme", "acme.feishu", base_urls={"open": FEISHU_HOST})
    assert cls(default, FeishuSettings(), None).host_url == FEISHU_HOST
    assert cls(default, FeishuSettings(host="lark"), None).host_url == LARK_HOST
    mirror = Instance("acme", "acme.feishu", base_urls={"open": "http://127.0.0.1:9"})
    assert cls(mirror, FeishuSettings(host="lark"), None).host_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="no connection_id"):
        _ = cls(default, FeishuSettings(), None).client


def test_documented_quotas_and_no_secret_in_logs(rig_default: Rig, caplog: pytest.LogCaptureFixture) -> None:
    assert {q.calls for q in QUOTAS["im.message.read_users"]} == {1000, 50}
    assert [q.calls for q in QUOTAS["task.create"]] == [10]
    caplog.set_level(logging.DEBUG, logger="lifeline.http")
    rig_default.world.faults.configure(Faults(expire_token=0.5, seed=1))
    client = rig_default.connector.client
    for _ in range(4):
        with pytest.raises((NotFound, TokenExpired)):
            client.call("GET", "/open-apis/task/v2/tasks/x", "task.get")
    secret = rig_default.world.settings.app_secret
    token = client.tokens.get() if client.tokens else ""
    assert caplog.records and all(secret not in m and token not in m for m in caplog.messages)


@pytest.fixture
def rig_default() -> Rig:  # type: ignore[misc]
    with rig() as r:
        yield r
