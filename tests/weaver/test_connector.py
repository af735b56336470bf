"""The `weaver` connector over loopback HTTP against the e-cology emulator, on a fake clock: the auth handshake
(regist once and persisted, applytoken, encrypted userid, token expiry), reschedule approvals as workflows created
once, their results and read state polled, unified todos and message-center notices, and the bad inputs."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response

from lifeline_hub.connectors.weaver import client as weaver_client
from lifeline_hub.connectors.weaver.testing import APPROVER, Emulated
from lifeline_hub.core.api import cassette
from lifeline_hub.core.conformance import SuiteClock
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.connector import ActionResult, Checkpoint, Malformed, StreamItem
from lifeline_hub.core.emulator import Faults, LoopbackServer
from lifeline_hub.core.http import InvalidRequest, TokenExpired, TransientError
from lifeline_hub.core.models import (
    Action,
    DeliveryEvent,
    DeliveryType,
    Notification,
    RequestStatus,
    RescheduleRequest,
    utcnow,
)
from lifeline_hub.core.remediation.texts import T

ZH = T["zh-CN"]
FIELDS = {ZH["ap.candidate"]: "张三 138****0000", ZH["ap.interview"]: "技术面试 2026-06-01 10:00",
          ZH["ap.reason"]: "出差", ZH["ap.slots"]: "1. 06-02 10:00", ZH["ap.evidence"]: "06-01 09:00 请求改期",
          ZH["ap.note"]: ZH["ap.note"], ZH["ap.key"]: "rr-1"}


@pytest.fixture(autouse=True)
def fresh_process() -> Iterator[None]:
    """Every test starts like a new process: no token or registration cached in memory."""
    weaver_client._SITES.clear()
    yield
    weaver_client._SITES.clear()


def approval(key: str = "ll-approval-1", **fields: str) -> Action:
    now = utcnow()
    return Action(idempotency_key=key, tenant="acme", connector="acme.weaver", kind="create_approval",
                  interview_id="acme.ats/iv-1", due_at=now, attempts=1, handed_at=now, payload={
                      "originator": "101", "process_code": "1001", "title": "面试改期申请：张三",
                      "fields": {**FIELDS, **fields}, "interview_id": "acme.ats/iv-1"})


def again(action: Action) -> Action:
    return action.model_copy(update={"attempts": action.attempts + 1, "maybe_sent": True})


def read(wv: Emulated, cursor: Mapping[str, Any]) -> tuple[list[StreamItem], dict[str, Any]]:
    items = list(wv.connector().read("workflows", cursor))
    last = items[-1]
    assert isinstance(last, Checkpoint)
    return items[:-1], dict(last.cursor)


def handed(cursor: Mapping[str, Any], *results: ActionResult) -> dict[str, Any]:
    merged = dict(cursor)
    for result in results:
        for key, entries in result.handoff.get("workflows", {}).items():
            merged[key] = [*merged.get(key, []), *entries]
    return merged


def requests(wv: Emulated) -> list[dict[str, Any]]:
    state = wv.world.engine.inspect()
    assert isinstance(state, list)
    return state


# ---------------------------------------------------------------- auth


def test_regist_happens_once_and_is_kept_for_the_next_process(wv: Emulated) -> None:
    assert wv.connector().check().ok
    path = wv.state_dir / "registration.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    weaver_client._SITES.clear()  # a new process: nothing in memory
    result = wv.connector().check()
    assert result.ok, result.message
    assert wv.world.regist_calls == 1
    assert wv.world.applytoken_calls == 2


def test_a_rotated_registration_is_registered_again_and_persisted(wv: Emulated) -> None:
    assert wv.connector().check().ok
    stale = (wv.state_dir / "registration.json").read_text()
    weaver_client._SITES.clear()
    wv.world.regist(wv.world.settings.appids[0], "another-client")  # someone else's regist rotates the pair
    assert wv.connector().check().ok
    assert wv.world.regist_calls == 3
    assert (wv.state_dir / "registration.json").read_text() != stale


def test_a_pair_registered_by_hand_comes_from_the_connection(wv: Emulated) -> None:
    appid = wv.world.settings.appids[0]
    pair = wv.world.regist(appid, "an-administrators-key")
    credentials = Credentials(conn_id="weaver_emulator", conn_type="weaver", login=appid,
                              extra={"spk": pair["spk"], "secret": pair["secrit"]})
    assert wv.connector(credentials).check().ok
    assert wv.world.regist_calls == 1 and not (wv.state_dir / "registration.json").exists()


def test_check_fails_cleanly_for_an_unregistered_appid(wv: Emulated) -> None:
    result = wv.connector(Credentials(conn_id="x", conn_type="weaver", login="not-registered")).check()
    assert not result.ok
    assert "认证信息错误" in result.message


def test_an_expired_token_is_applied_again_once_mid_poll(wv: Emulated) -> None:
    created = wv.connector().perform(approval())
    cursor = handed({}, created)
    wv.world.expire_tokens()
    items, _ = read(wv, cursor)
    assert any(isinstance(i, RescheduleRequest) for i in items)
    wv.world.fail_next("token_expired", times=2, api="getRequestStatus")
    with pytest.raises(TokenExpired) as info:
        read(wv, cursor)
    assert "token不存在或者超时" in str(info.value)
    assert "-" not in str(info.value).split("token不存在或者超时")[1][:3]  # the token itself is not echoed


def test_not_logged_in_is_an_expired_token(wv: Emulated) -> None:
    created = wv.connector().perform(approval())
    wv.world.fail_next("not_logged_in", times=1, api="getRequestStatus")
    items, _ = read(wv, handed({}, created))
    assert [i.status for i in items if isinstance(i, RescheduleRequest)] == [RequestStatus.submitted]


def test_no_cookie_is_kept_between_calls(wv: Emulated) -> None:
    """A JSESSIONID the site sets is never sent back (it could override the userid header, §2.3)."""
    app = FastAPI()

    @app.get("/api/echo")
    def echo(request: Request, response: Response) -> dict[str, Any]:
        response.set_cookie("JSESSIONID", "session-of-someone-else")
        return {"status": True, "code": 0, "cookie": request.headers.get("cookie")}

    client = wv.connector().client
    with LoopbackServer(app) as server:
        first = client.request("GET", f"{server.url}/api/echo", api="echo", auth=False)
        second = client.request("GET", f"{server.url}/api/echo", api="echo", auth=False)
    assert first["cookie"] is None and second["cookie"] is None
    assert len(client.session.cookies) == 0


# ---------------------------------------------------------------- approvals


def test_an_approval_is_created_submitted_and_carries_the_mapped_form(wv: Emulated) -> None:
    result = wv.connector().perform(approval())
    [request] = requests(wv)
    assert str(request["requestid"]) == result.remote_id
    main = request["main"]
    assert main["candidate"] == FIELDS[ZH["ap.candidate"]]
    assert main["proposed_times"] == FIELDS[ZH["ap.slots"]]
    assert main["lifeline_ref"] == "ll-approval-1|acme.ats/iv-1"
    assert "[ll-approval-1]" in request["requestName"]
    assert request["currentNodeType"] == "1"  # submitted on to HR
    assert result.detail == {"unmapped": ["note"]}


def test_a_retry_after_a_lost_answer_finds_the_workflow_instead_of_creating_another(wv: Emulated) -> None:
    wv.world.stall_next(1.0, api="doCreateRequest")  # created at the vendor, the answer lost (still a draft)
    action = approval()
    result = wv.connector().perform(action)
    assert result.detail.get("recovered") is True
    assert wv.world.workflows_created() == 1 and wv.world.duplicate_workflows() == 0
    [request] = requests(wv)
    assert request["currentNodeType"] == "1"  # the found draft was submitted
    repeat = wv.connector().perform(again(action))
    assert repeat.remote_id == result.remote_id and wv.world.workflows_created() == 1


def test_unknown_field_names_are_refused_before_anything_is_sent(wv: Emulated) -> None:
    with pytest.raises(InvalidRequest, match="unknown workflow field 'Salary'"):
        wv.connector().perform(approval(Salary="1"))
    assert wv.world.workflows_created() == 0


def test_a_column_the_form_lacks_is_the_vendors_error(wv: Emulated) -> None:
    form = {"workflow_id": 1001, "fields": {"candidate": "no_such_column", "reference": "lifeline_ref"}}
    with pytest.raises(InvalidRequest, match="error_param_no_such_column"):
        wv.connector(workflow=form).perform(approval())
    assert wv.world.workflows_created() == 0


def test_a_value_the_form_rejects_is_a_typed_error_with_the_vendors_message(wv: Emulated) -> None:
    with pytest.raises(InvalidRequest, match="SAVE_MAIN_TABLE_FAIL"):
        wv.connector().perform(approval(**{ZH["ap.candidate"]: "x" * 300}))
    assert wv.world.workflows_created() == 0


def test_approval_send_back_and_read_receipts_are_polled(wv: Emulated) -> None:
    connector = wv.connector()
    first, second = connector.perform(approval("ll-a")), connector.perform(approval("ll-b"))
    items, cursor = read(wv, handed({}, first, second))
    states = {i.remote_id: i.status for i in items if isinstance(i, RescheduleRequest)}
    assert states == {f"approval:{first.remote_id}": RequestStatus.submitted,
                      f"approval:{second.remote_id}": RequestStatus.submitted}
    notes = [i for i in items if isinstance(i, Notification)]
    assert [n.recipient for n in notes] == [str(APPROVER), str(APPROVER)]
    assert not any(isinstance(i, DeliveryEvent) for i in items)
    wv.world.view(int(first.remote_id), APPROVER)
    wv.world.approve(int(first.remote_id))
    wv.world.send_back(int(second.remote_id))
    items, cursor = read(wv, cursor)
    states = {i.remote_id: i.status for i in items if isinstance(i, RescheduleRequest)}
    assert states == {f"approval:{first.remote_id}": RequestStatus.approved,
                      f"approval:{second.remote_id}": RequestStatus.refused}
    reads = [i for i in items if isinstance(i, DeliveryEvent)]
    assert {r.remote_id for r in reads} >= {f"workflow:{first.remote_id}:{APPROVER}:read"}
    assert all(r.type is DeliveryType.read for r in reads)
    items, _ = read(wv, cursor)
    assert items == []  # decided: not polled again


def test_the_listing_finds_a_workflow_whose_handoff_was_lost(wv: Emulated) -> None:
    created = wv.connector().perform(approval())
    wv.world.approve(int(created.remote_id))
    items, cursor = read(wv, {})
    assert [(i.remote_id, i.status) for i in items if isinstance(i, RescheduleRequest)] == [
        (f"approval:{created.remote_id}", RequestStatus.approved)]
    assert cursor["listed_since"]


def test_a_corrupt_list_row_is_quarantined_and_holds_the_watermark(wv: Emulated) -> None:
    wv.connector().perform(approval())
    wv.world.configure_faults(Faults(malformed=1.0))
    items = list(wv.connector().read("workflows", {}))
    assert any(isinstance(i, Malformed) and "requestId" in i.reason for i in items)
    checkpoint = items[-1]
    assert isinstance(checkpoint, Checkpoint) and checkpoint.watermark is None


def test_an_unreadable_result_stays_open_and_is_reported(wv: Emulated) -> None:
    created = wv.connector().perform(approval())
    wv.world.delete_request(int(created.remote_id))
    items, cursor = read(wv, handed({}, created))
    assert [type(i) for i in items] == [Malformed]
    assert cursor["requests"][created.remote_id]["state"] == "submitted"
    items, _ = read(wv, cursor)
    assert [type(i) for i in items] == [Malformed]  # asked again next pass, never guessed


def test_a_500_page_is_a_transient_error_of_the_poll(wv: Emulated) -> None:
    created = wv.connector().perform(approval())
    wv.world.fail_next("html_500", times=5, api="getRequestStatus")
    with pytest.raises(TransientError, match="HTTP 500"):
        read(wv, handed({}, created))


def test_an_error_object_instead_of_an_array_creates_nothing_twice(wv: Emulated) -> None:
    action = approval()
    wv.connector().perform(action)
    wv.world.fail_next("list_error", times=5, api="getMyWorkflowRequestList")
    with pytest.raises(TransientError, match="SYSTEM_INNER_ERROR"):
        wv.connector().perform(again(action))  # the search failed: no second create
    assert wv.world.workflows_created() == 1


def test_a_failed_pass_leaves_the_cursor_as_it_was(wv: Emulated) -> None:
    created = wv.connector().perform(approval())
    cursor = handed({}, created)
    wv.world.fail_next("html_500", times=5, api="getRequestOperatorInfo")
    stream = wv.connector().read("workflows", cursor)
    with pytest.raises(TransientError):
        list(stream)  # no checkpoint was yielded: the sync keeps the old cursor
    items, _ = read(wv, cursor)
    assert any(isinstance(i, RescheduleRequest) for i in items)


# ---------------------------------------------------------------- todos and notices


def task(key: str = "ll-task-1") -> Action:
    now = utcnow()
    return Action(idempotency_key=key, tenant="acme", connector="acme.weaver", kind="create_task", due_at=now,
                  attempts=1, handed_at=now, interview_id="acme.ats/iv-1", payload={
                      "assignees": ["wangfang"], "title": "请联系候选人", "description": "候选人未参加面试 & 需要跟进",
                      "links": [{"label": "案例", "url": "https://lifeline.test/c/1?a=1&b=2"}]})


def test_a_task_is_one_unified_todo_per_receiver_even_when_repeated(wv: Emulated) -> None:
    connector = wv.connector(recipient_id_type="loginIdList")
    action = task()
    first = connector.perform(action)
    second = connector.perform(again(action))
    assert first.remote_id == second.remote_id == "ll-task-1"
    todos = wv.world.ofs.inspect()
    assert len(todos) == 1 and todos[0]["receiver"] == "wangfang" and str(todos[0]["isremark"]) == "0"
    assert todos[0]["fields"]["pcurl"] == "https://lifeline.test/c/1?a=1&b=2"
    notices = [n for n in wv.world.messages.inspect() if not n["deleted"]]
    assert len(notices) == 1 and "需要跟进" in notices[0]["context"]
    assert [n.remote_id for n in first.records] == ["todo:ll-task-1:wangfang"]


def test_a_closed_case_marks_the_todo_handled(wv: Emulated) -> None:
    connector = wv.connector(recipient_id_type="loginIdList")
    connector.perform(task())
    now = utcnow()
    connector.perform(Action(idempotency_key="ll-close-1", tenant="acme", connector="acme.weaver", kind="close_task",
                             due_at=now, payload={"task_id": "ll-task-1", "assignees": ["wangfang"],
                                                      "title": "请联系候选人", "links": task().payload["links"]}))
    [todo] = wv.world.ofs.inspect()
    assert str(todo["isremark"]) == "2"
    [notice] = wv.world.messages.inspect()
    assert str(notice["bizState"]) == "1"


def test_a_todo_without_a_link_needs_the_instances_todo_url(wv: Emulated) -> None:
    action = task().model_copy(update={"payload": {**task().payload, "links": []}})
    with pytest.raises(InvalidRequest, match="todo_url"):
        wv.connector().perform(action)
    wv.connector(todo_url="https://lifeline.test/cases", recipient_id_type="loginIdList").perform(action)
    [todo] = wv.world.ofs.inspect()
    assert todo["fields"]["pcurl"] == "https://lifeline.test/cases"


def test_a_message_goes_to_the_message_center_with_a_target_id(wv: Emulated) -> None:
    now = utcnow()
    action = Action(idempotency_key="ll-msg-1", tenant="acme", connector="acme.weaver", kind="send_message",
                    due_at=now, attempts=1, handed_at=now, payload={
                        "recipients": ["102", "103"], "title": "明天面试", "text": "10:00 三号会议室",
                        "audience": "staff", "purpose": "reminder_t1d"})
    result = wv.connector().perform(action)
    assert result.remote_id == "559|ll-msg-1"
    wv.connector().perform(again(action))  # an earlier attempt may have sent: withdrawn, then sent once
    live = [n for n in wv.world.messages.inspect() if not n.get("deleted")]
    assert len(live) == 1 and live[0]["targetId"] == "559|ll-msg-1"
    notes = [n for n in result.records if isinstance(n, Notification)]
    assert {n.recipient for n in notes} == {"102", "103"} and len(notes) == 2


def test_the_registered_secrit_and_the_token_never_reach_a_cassette(wv: Emulated) -> None:
    with cassette(wv.state_dir, "check", record=True):
        assert wv.connector().check().ok
    recorded = (wv.state_dir / "check.yaml").read_text(encoding="utf-8")
    [keys] = wv.world.keys.values()
    [token] = wv.world.tokens
    assert "secrit" in recorded and keys.secrit not in recorded
    assert token not in recorded


def test_a_late_retry_of_the_task_does_not_reopen_a_closed_todo(wv: Emulated, clock: SuiteClock) -> None:
    """ofs keeps the push with the larger `receivets`: a create retried after the close carries its first
    hand-over's instant, older than the close's, so the todo stays handled."""
    connector = wv.connector(recipient_id_type="loginIdList")
    action = task()
    connector.perform(action)
    clock.advance(600)
    now = utcnow()
    close = {"task_id": "ll-task-1", "assignees": ["wangfang"], "title": "请联系候选人",
             "links": action.payload["links"]}
    connector.perform(Action(idempotency_key="ll-close-2", tenant="acme", connector="acme.weaver", kind="close_task",
                             due_at=now, handed_at=now, payload=close))
    clock.advance(600)
    connector.perform(again(action))
    [todo] = wv.world.ofs.inspect()
    assert str(todo["isremark"]) == "2"
