"""The Feishu emulator over real HTTP: wire shapes, documented errors, dedupe windows, rate tiers,
paging, faults, callbacks and the control endpoints."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from fastapi import FastAPI, Request

from lifeline_hub.connectors.feishu.crypto import CallbackRejected, FeishuEventCrypto, challenge_answer
from lifeline_hub.connectors.feishu.emulator import EmulatorSettings, FeishuWorld, create_app
from lifeline_hub.core.emulator import Faults, LoopbackServer

T0 = 1_750_000_000.0
IM = "/open-apis/im/v1/messages"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


class Emu:
    """A running emulator plus a tiny client that knows the token dance."""

    def __init__(self, world: FeishuWorld, url: str, clock: Clock) -> None:
        self.world, self.url, self.clock = world, url, clock
        self._token: str | None = None

    def get_token(self, secret: str | None = None) -> requests.Response:
        body = {"app_id": self.world.settings.app_id, "app_secret": secret or self.world.settings.app_secret}
        return requests.post(f"{self.url}/open-apis/auth/v3/tenant_access_token/internal", json=body, timeout=5)

    def call(
        self, method: str, path: str, token: str | None = None, timeout: float = 5, **kwargs: Any
    ) -> requests.Response:
        if token is None:
            self._token = self._token or self.get_token().json()["tenant_access_token"]
            token = self._token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.url + path, headers=headers, timeout=timeout, **kwargs)

    def send(
        self, receive_id: str, uuid: str | None = None, token: str | None = None, timeout: float = 5
    ) -> requests.Response:
        payload = {"receive_id": receive_id, "msg_type": "text", "content": json.dumps({"text": "hi"})}
        if uuid is not None:
            payload["uuid"] = uuid
        return self.call("POST", IM, token, timeout, params={"receive_id_type": "open_id"}, json=payload)


@pytest.fixture
def start() -> Iterator[Callable[..., Emu]]:
    with ExitStack() as stack:

        def run(**settings: Any) -> Emu:
            clock = Clock()
            world = FeishuWorld(EmulatorSettings(**settings), now=clock)
            stack.callback(world.close)
            server = stack.enter_context(LoopbackServer(create_app(world=world)))
            return Emu(world, server.url, clock)

        yield run


@pytest.fixture
def emu(start: Callable[..., Emu]) -> Emu:
    return start()


def error_of(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["code"]


# -- auth and envelope ------------------------------------------------------------------------------


def test_tenant_token_shape_reuse_and_overlap(emu: Emu) -> None:
    first = emu.get_token().json()
    assert set(first) == {"code", "msg", "tenant_access_token", "expire"}
    assert first["code"] == 0 and first["expire"] == 7200 and first["tenant_access_token"].startswith("t-")
    emu.clock.t += 3600
    again = emu.get_token().json()
    assert again["tenant_access_token"] == first["tenant_access_token"] and again["expire"] == 3600
    emu.clock.t += 1900  # < 30 min left: a fresh token, the old one keeps working until it expires
    fresh = emu.get_token().json()
    assert fresh["tenant_access_token"] != first["tenant_access_token"] and fresh["expire"] == 7200
    user = emu.world.add_user("Li Lei")
    assert emu.send(user["open_id"], token=first["tenant_access_token"]).json()["code"] == 0
    emu.clock.t += 1800
    assert error_of(emu.send(user["open_id"], token=first["tenant_access_token"])) == (400, 99991663)
    assert emu.send(user["open_id"], token=fresh["tenant_access_token"]).json()["code"] == 0
    assert error_of(emu.get_token("wrong")) == (400, 10014)


def test_token_errors_and_envelope(emu: Emu) -> None:
    user = emu.world.add_user("Han Meimei")
    missing = emu.call("POST", IM, token="", params={"receive_id_type": "open_id"}, json={})
    assert error_of(missing) == (400, 99991661)
    assert missing.headers["X-Tt-Logid"] == missing.json()["error"]["log_id"]
    assert error_of(emu.call("POST", IM, token="u-user-token")) == (400, 99991671)
    assert error_of(emu.call("POST", IM, token="t-unknown")) == (400, 99991663)
    sent = emu.send(user["open_id"]).json()
    assert sent["code"] == 0 and sent["msg"] == "success"
    data = sent["data"]
    assert data["message_id"].startswith("om_") and data["chat_id"] == user["chat_id"]
    assert data["create_time"] == str(int(T0 * 1000)) and data["body"]["content"] == '{"text": "hi"}'
    assert data["sender"] == {
        "id": emu.world.settings.app_id,
        "id_type": "app_id",
        "sender_type": "app",
        "tenant_key": emu.world.settings.tenant_key,
    }
    emu.world.expire_tokens()
    assert error_of(emu.send(user["open_id"])) == (400, 99991663)
    assert error_of(emu.call("GET", "/open-apis/nowhere", token="")) == (404, 99991201)
    bad = emu.call("POST", IM, params={"receive_id_type": "phone"}, token=emu.get_token().json()["tenant_access_token"])
    assert error_of(bad) == (400, 99992402) and bad.json()["error"]["field_violations"][0]["field"] == "receive_id_type"


def test_missing_scope_is_99991672(start: Callable[..., Emu]) -> None:
    emu = start(scopes=["im:message:readonly"])
    user = emu.world.add_user("Li Lei")
    denied = emu.send(user["open_id"])
    assert error_of(denied) == (400, 99991672)
    assert denied.json()["msg"].startswith("Access denied. One of the following scopes is required")
    subjects = {v["subject"] for v in denied.json()["error"]["permission_violations"]}
    assert subjects == {"im:message", "im:message:send_as_bot", "im:message:send"}
    emu.world.grant_scopes(None)
    assert emu.send(user["open_id"]).json()["code"] == 0
    calendar = emu.world.add_calendar("Interviews")
    event = emu.world.add_calendar_event(calendar, "Interview", 1750010000, 1750013600)
    emu.world.grant_scopes(["calendar:calendar:readonly"])
    patch = emu.call("PATCH", f"/open-apis/calendar/v4/calendars/{calendar}/events/{event}", json={"summary": "x"})
    assert error_of(patch) == (400, 99991672)  # calendar-event/patch: calendar:calendar | calendar.event:update


# -- IM ---------------------------------------------------------------------------------------------


def test_message_uuid_dedupes_within_the_hour(emu: Emu) -> None:
    user = emu.world.add_user("Li Lei")
    first = emu.send(user["open_id"], uuid="remind-42").json()["data"]["message_id"]
    assert emu.send(user["open_id"], uuid="remind-42").json()["data"]["message_id"] == first
    assert len(emu.world.messages) == 1
    emu.clock.t += 3601
    emu.world.advance(0)
    token = emu.get_token().json()["tenant_access_token"]
    later = emu.send(user["open_id"], uuid="remind-42", token=token).json()["data"]["message_id"]
    assert later != first and len(emu.world.messages) == 2
    assert error_of(emu.send(user["open_id"], uuid="x" * 51, token=token)) == (400, 99992402)
    assert error_of(emu.send("ou_nobody", token=token)) == (400, 99992351)


def test_read_users_pages_converts_ids_and_keeps_the_7_day_window(emu: Emu) -> None:
    world = emu.world
    members = [world.add_user(f"user{i}") for i in range(5)]
    chat = world.add_chat("interviewers", [m["open_id"] for m in members])
    sent = emu.call(
        "POST",
        IM,
        params={"receive_id_type": "chat_id"},
        json={"receive_id": chat, "msg_type": "text", "content": '{"text":"reminder"}'},
    ).json()["data"]
    mid = sent["message_id"]
    for i, member in enumerate(members):
        world.mark_read(mid, member["open_id"], at_ms=int(T0 * 1000) + i)
    path = f"{IM}/{mid}/read_users"
    seen, token_ = [], None
    while True:
        params = {"user_id_type": "user_id", "page_size": 2, **({"page_token": token_} if token_ else {})}
        data = emu.call("GET", path, params=params).json()["data"]
        seen += data["items"]
        if not data["has_more"]:
            assert "page_token" not in data
            break
        token_ = data["page_token"]
    assert [i["user_id"] for i in seen] == [m["user_id"] for m in members]
    assert seen[0] == {
        "user_id_type": "user_id",
        "user_id": members[0]["user_id"],
        "timestamp": str(int(T0 * 1000)),
        "tenant_key": world.settings.tenant_key,
    }
    assert error_of(emu.call("GET", path)) == (400, 99992402)
    assert error_of(emu.call("GET", path, params={"user_id_type": "open_id", "page_token": "junk"})) == (400, 230001)
    foreign = world.add_user_message(members[0]["open_id"], chat, "hello")
    assert error_of(emu.call("GET", f"{IM}/{foreign}/read_users", params={"user_id_type": "open_id"})) == (400, 230012)
    world.advance(7 * 86400 + 1)
    token = emu.get_token().json()["tenant_access_token"]
    old = emu.call("GET", path, token=token, params={"user_id_type": "open_id"})
    assert error_of(old) == (400, 230033)


def test_urgent_reports_invalid_ids_and_the_paid_quota(start: Callable[..., Emu]) -> None:
    emu = start(urgent_paid_quota=1)
    reader, stranger = emu.world.add_user("Li Lei"), emu.world.add_user("Stranger")
    mid = emu.send(reader["open_id"]).json()["data"]["message_id"]
    buzz = emu.call(
        "PATCH",
        f"{IM}/{mid}/urgent_app",
        params={"user_id_type": "open_id"},
        json={"user_id_list": [reader["open_id"], stranger["open_id"]]},
    )
    assert buzz.json() == {"code": 0, "msg": "success", "data": {"invalid_user_id_list": [stranger["open_id"]]}}
    only_invalid = emu.call(
        "PATCH",
        f"{IM}/{mid}/urgent_app",
        params={"user_id_type": "open_id"},
        json={"user_id_list": [stranger["open_id"]]},
    )
    assert error_of(only_invalid) == (400, 230001)
    sms = {"params": {"user_id_type": "user_id"}, "json": {"user_id_list": [reader["user_id"]]}}
    assert emu.call("PATCH", f"{IM}/{mid}/urgent_sms", **sms).json()["code"] == 0
    assert error_of(emu.call("PATCH", f"{IM}/{mid}/urgent_phone", **sms)) == (400, 230024)
    assert [(c["kind"], c["user_ids"]) for c in emu.world.urgent_calls()] == [
        ("app", [reader["open_id"]]),
        ("sms", [reader["open_id"]]),
    ]


# -- rate limits --------------------------------------------------------------------------------------


def test_rate_tiers_answer_99991400_with_headers_and_count_breaches(emu: Emu) -> None:
    user = emu.world.add_user("Li Lei")
    mid = emu.send(user["open_id"]).json()["data"]["message_id"]
    path, params = f"{IM}/{mid}/read_users", {"user_id_type": "open_id"}
    codes = [emu.call("GET", path, params=params).status_code for _ in range(50)]
    assert codes == [200] * 50
    refused = emu.call("GET", path, params=params)
    assert error_of(refused) == (429, 99991400)
    assert refused.json()["msg"] == "request trigger frequency limit"
    assert refused.headers["x-ogw-ratelimit-limit"] == "50" and refused.headers["x-ogw-ratelimit-reset"] == "1"
    app = emu.world.settings.app_id
    assert emu.world.breaches()[app] == {"im.message.read_users": 1}
    assert emu.world.call_counts()[app]["im.message.read_users"] == 51
    assert emu.world.quota_breaches() == 1 and emu.world.api_calls() == sum(emu.world.call_counts()[app].values())
    emu.clock.t += 1
    assert emu.call("GET", path, params=params).status_code == 200


def test_messages_to_one_user_are_limited_to_5_qps(start: Callable[..., Emu]) -> None:
    emu = start(rate_limit_http_status=400)
    one, other = emu.world.add_user("One"), emu.world.add_user("Other")
    assert [emu.send(one["open_id"]).status_code for _ in range(5)] == [200] * 5
    assert error_of(emu.send(one["open_id"])) == (400, 99991400)
    assert emu.send(other["open_id"]).status_code == 200
    assert emu.world.breaches()[emu.world.settings.app_id] == {"im.message.create": 1}


# -- Task v2 ------------------------------------------------------------------------------------------


def test_task_client_token_window_get_and_completion(emu: Emu) -> None:
    hr = emu.world.add_user("HR")
    body = {
        "summary": "Reschedule interview",
        "client_token": "lifeline-key-0001",
        "extra": "corr-1",
        "due": {"timestamp": "1750003600000", "is_all_day": False},
        "members": [{"id": hr["user_id"], "type": "user", "role": "assignee"}],
    }
    created = emu.call("POST", "/open-apis/task/v2/tasks", params={"user_id_type": "user_id"}, json=body).json()
    task = created["data"]["task"]
    assert task["completed_at"] == "0" and task["status"] == "todo" and task["extra"] == "corr-1"
    assert task["members"] == [{"id": hr["user_id"], "type": "user", "role": "assignee", "name": "HR"}]
    again = emu.call("POST", "/open-apis/task/v2/tasks", params={"user_id_type": "user_id"}, json=body).json()
    assert again["data"]["task"]["guid"] == task["guid"] and len(emu.world.tasks) == 1
    emu.world.complete_task(task["guid"], user=hr["open_id"])
    got = emu.call("GET", f"/open-apis/task/v2/tasks/{task['guid']}").json()["data"]["task"]
    assert got["status"] == "done" and got["completed_at"] == str(int(T0 * 1000))
    assert [c.event_type for c in emu.world.callbacks] == ["task.task.updated_v1"]
    emu.world.advance(301)
    token = emu.get_token().json()["tenant_access_token"]
    later = emu.call("POST", "/open-apis/task/v2/tasks", token=token, params={"user_id_type": "user_id"}, json=body)
    assert later.json()["data"]["task"]["guid"] != task["guid"]
    assert error_of(emu.call("GET", "/open-apis/task/v2/tasks/nope", token=token)) == (404, 1470404)
    no_summary = emu.call("POST", "/open-apis/task/v2/tasks", token=token, json={"client_token": "x" * 12})
    assert error_of(no_summary) == (400, 1470400)


def test_task_tasklist_listing_pages_with_an_empty_last_token(emu: Emu) -> None:
    for i in range(3):
        body = {"summary": f"t{i}", "tasklists": [{"tasklist_guid": "tl-1"}]}
        emu.call("POST", "/open-apis/task/v2/tasks", json=body)
    path = "/open-apis/task/v2/tasklists/tl-1/tasks"
    first = emu.call("GET", path, params={"page_size": 2}).json()["data"]
    assert first["has_more"] and len(first["items"]) == 2
    last = emu.call("GET", path, params={"page_size": 2, "page_token": first["page_token"]}).json()["data"]
    assert not last["has_more"] and last["page_token"] == "" and [t["summary"] for t in last["items"]] == ["t2"]
    assert error_of(emu.call("GET", "/open-apis/task/v2/tasklists/unknown/tasks")) == (404, 1470404)


def test_concurrent_duplicate_client_token_gets_1470422(start: Callable[..., Emu]) -> None:
    emu = start(faults=Faults(timeout=1.0, timeout_seconds=0.6))
    body = {"summary": "Call the candidate", "client_token": "lifeline-key-0002"}
    token = emu.get_token().json()["tenant_access_token"]
    results: list[requests.Response] = []
    first = threading.Thread(
        target=lambda: results.append(emu.call("POST", "/open-apis/task/v2/tasks", token=token, json=body))
    )
    first.start()
    time.sleep(0.2)
    second = emu.call("POST", "/open-apis/task/v2/tasks", token=token, json=body)
    first.join()
    assert error_of(second) == (400, 1470422)
    assert results[0].json()["code"] == 0 and len(emu.world.tasks) == 1


# -- Approval v4 --------------------------------------------------------------------------------------


def test_approval_uuid_conflict_get_by_uuid_list_and_status_event(emu: Emu) -> None:
    world = emu.world
    hr, boss = world.add_user("HR"), world.add_user("Boss")
    world.add_approval_definition("APPROVAL-RESCHEDULE", "Interview reschedule")
    assert emu.call("POST", "/open-apis/approval/v4/approvals/APPROVAL-RESCHEDULE/subscribe").json() == {
        "code": 0, "msg": "success", "data": {}}  # fmt: skip
    again = emu.call("POST", "/open-apis/approval/v4/approvals/APPROVAL-RESCHEDULE/subscribe")
    assert error_of(again) == (400, 1390007)  # "subscription existed"
    body = {
        "approval_code": "APPROVAL-RESCHEDULE",
        "open_id": hr["open_id"],
        "uuid": "lifeline-a-1",
        "form": json.dumps([{"id": "reason", "type": "input", "value": "no-show"}]),
        "node_approver_open_id_list": [{"key": "manager", "value": [boss["open_id"]]}],
    }
    code = emu.call("POST", "/open-apis/approval/v4/instances", json=body).json()["data"]["instance_code"]
    assert error_of(emu.call("POST", "/open-apis/approval/v4/instances", json=body)) == (400, 60012)
    by_uuid = emu.call("GET", "/open-apis/approval/v4/instances/lifeline-a-1").json()["data"]
    assert by_uuid["instance_code"] == code and by_uuid["status"] == "PENDING" and by_uuid["end_time"] == "0"
    assert by_uuid["task_list"][0]["open_id"] == boss["open_id"] and by_uuid["task_list"][0]["status"] == "PENDING"
    start_ms = int(T0 * 1000)
    window = {"approval_code": "APPROVAL-RESCHEDULE", "start_time": start_ms - 1000, "end_time": start_ms + 1000}
    listed = emu.call("GET", "/open-apis/approval/v4/instances", params=window).json()["data"]
    assert listed == {"instance_code_list": [code], "has_more": False, "page_token": ""}
    too_wide = {**window, "end_time": start_ms + 11 * 3600 * 1000}
    assert error_of(emu.call("GET", "/open-apis/approval/v4/instances", params=too_wide)) == (400, 1390001)
    world.decide_approval(code, "REJECTED", comment="candidate withdrew")
    got = emu.call("GET", f"/open-apis/approval/v4/instances/{code}").json()["data"]
    assert got["status"] == "REJECTED" and got["task_list"][0]["status"] == "REJECTED"
    envelope = world.callbacks[-1].envelope
    assert envelope["type"] == "event_callback" and envelope["event"]["status"] == "REJECTED"
    assert envelope["event"]["instance_code"] == code
    assert error_of(emu.call("GET", "/open-apis/approval/v4/instances/nope")) == (400, 1390003)
    unknown = {**body, "approval_code": "NOPE", "uuid": "lifeline-a-2"}
    assert error_of(emu.call("POST", "/open-apis/approval/v4/instances", json=unknown)) == (400, 1390002)


# -- Calendar v4 --------------------------------------------------------------------------------------


def test_calendar_idempotency_patch_and_attendees(emu: Emu) -> None:
    world = emu.world
    cal = world.add_calendar("Interviews")
    candidate = world.add_user("Candidate")
    path = f"/open-apis/calendar/v4/calendars/{cal}/events"
    body = {
        "summary": "Interview",
        "start_time": {"timestamp": "1750010000", "timezone": "Asia/Shanghai"},
        "end_time": {"timestamp": "1750013600", "timezone": "Asia/Shanghai"},
        "vchat": {"vc_type": "vc"},
    }
    first = emu.call("POST", path, params={"idempotency_key": "appt-1-seq-0"}, json=body).json()["data"]["event"]
    again = emu.call("POST", path, params={"idempotency_key": "appt-1-seq-0"}, json=body).json()["data"]["event"]
    assert again["event_id"] == first["event_id"] and len(world.calendar_events) == 1
    assert first["status"] == "confirmed" and first["vchat"] == {"vc_type": "vc"}  # a Feishu meeting shows no URL
    moved = {"start_time": {"timestamp": "1750020000"}, "end_time": {"timestamp": "1750023600"}}
    patched = emu.call("PATCH", f"{path}/{first['event_id']}", json=moved).json()["data"]["event"]
    assert patched["event_id"] == first["event_id"] and patched["start_time"]["timestamp"] == "1750020000"
    attendees = {
        "attendees": [
            {"type": "user", "user_id": candidate["open_id"]},
            {"type": "third_party", "third_party_email": "cand@example.com"},
        ]
    }
    added = emu.call("POST", f"{path}/{first['event_id']}/attendees", json=attendees).json()["data"]["attendees"]
    world.set_rsvp(cal, first["event_id"], added[0]["attendee_id"], "accept")
    listed = emu.call("GET", f"{path}/{first['event_id']}/attendees", params={"page_size": 5}).json()["data"]
    assert [(a["rsvp_status"], a["is_external"]) for a in listed["items"]] == [
        ("accept", False),
        ("needs_action", True),
    ]
    assert listed["items"][0]["user_id"] == candidate["open_id"] and not listed["has_more"]
    assert error_of(emu.call("POST", "/open-apis/calendar/v4/calendars/none/events", json=body)) == (404, 191000)
    assert error_of(emu.call("POST", path, json={"summary": "no times"})) == (400, 190002)
    assert {c.event_type for c in world.callbacks} == {"calendar.calendar.event.changed_v4"}


def test_calendar_list_time_window_paging_and_sync_token(emu: Emu) -> None:
    world = emu.world
    cal = world.add_calendar("Interviews")
    ids = [world.add_calendar_event(cal, f"e{i}", 1750000000 + i * 3600, 1750001800 + i * 3600) for i in range(60)]
    path = f"/open-apis/calendar/v4/calendars/{cal}/events"
    window = emu.call("GET", path, params={"start_time": 1750000000, "end_time": 1750007200}).json()["data"]
    assert [e["event_id"] for e in window["items"]] == ids[:2] and window["has_more"] is False
    page = emu.call("GET", path, params={"page_size": 50}).json()["data"]
    assert len(page["items"]) == 50 and page["has_more"] and "sync_token" not in page
    world.update_calendar_event(cal, ids[0], status="cancelled")  # while paging: nothing shifts or is lost
    rest = emu.call("GET", path, params={"page_size": 50, "page_token": page["page_token"]}).json()["data"]
    assert [e["event_id"] for e in rest["items"]] == ids[50:] and "page_token" not in rest
    changes = emu.call("GET", path, params={"sync_token": rest["sync_token"]}).json()["data"]
    assert [(e["event_id"], e["status"]) for e in changes["items"]] == [(ids[0], "cancelled")]
    quiet = emu.call("GET", path, params={"sync_token": changes["sync_token"]}).json()["data"]
    assert quiet["items"] == [] and not quiet["has_more"]
    assert error_of(emu.call("GET", path, params={"page_size": 10})) == (400, 190002)
    mixed = {"sync_token": changes["sync_token"], "anchor_time": 1}
    assert error_of(emu.call("GET", path, params=mixed)) == (400, 190009)
    assert error_of(emu.call("GET", path, params={"page_token": "junk"})) == (400, 190008)


# -- Hire and attendance -------------------------------------------------------------------------------


def test_hire_interviews_by_window_application_and_talent(emu: Emu) -> None:
    world = emu.world
    interviewer = world.add_user("Interviewer")
    base = int(T0 * 1000)
    ids = [
        world.add_hire_interview(
            f"app-{i % 2}",
            "talent-1",
            base + i * 3_600_000,
            base + i * 3_600_000 + 1_800_000,
            interviewers=[interviewer["open_id"]],
        )
        for i in range(3)
    ]
    path = "/open-apis/hire/v1/interviews"
    page = emu.call(
        "GET",
        path,
        params={"start_time": base, "end_time": base + 3 * 3_600_000, "page_size": 2, "user_id_type": "user_id"},
    ).json()["data"]
    assert [i["id"] for i in page["items"]] == ids[:2] and page["has_more"]
    item = page["items"][0]
    assert isinstance(item["begin_time"], int) and item["begin_time"] == base
    assert item["stage"]["name"] == {"zh_cn": "面试", "en_us": "Interview"}  # i18n objects, as the SDK's I18n
    assert item["talent_time_zone"] == {"code": "Asia/Shanghai",
                                        "name": {"zh_cn": "中国标准时间", "en_us": "China Standard Time"}}  # fmt: skip
    assert item["interview_record_list"][0]["user_id"] == interviewer["user_id"]
    by_app = emu.call("GET", path, params={"application_id": "app-1"}).json()["data"]
    assert [i["id"] for i in by_app["items"]] == [ids[1]] and "page_token" not in by_app
    assert error_of(emu.call("GET", path)) == (400, 1002002)
    talent = emu.call("GET", f"{path}/get_by_talent", params={"talent_id": "talent-1"}).json()["data"]
    assert {t["application_id"]: len(t["interview_list"]) for t in talent["items"]} == {"app-0": 2, "app-1": 1}
    world.record_feedback(ids[0], interviewer["open_id"], conclusion=5)
    tasks = emu.call("GET", "/open-apis/hire/v1/interview_tasks", params={"user_id": interviewer["open_id"]}).json()[
        "data"
    ]["items"]
    assert [(t["id"], t["activity_status"]) for t in tasks] == [(ids[0], 3), (ids[1], 1), (ids[2], 1)]


def test_attendance_flows_are_half_open_and_tasks_report_invalid_users(emu: Emu) -> None:
    world = emu.world
    worker = world.add_user("Worker", user_id="emp001", employee_no="E-1")
    world.add_attendance_flow(worker["open_id"], 1750000000)
    world.add_attendance_flow(worker["open_id"], 1750003600)
    world.add_attendance_result(worker["open_id"], 20250615, check_in_result="Late", check_in_time=1750000000)
    flows = emu.call(
        "POST",
        "/open-apis/attendance/v1/user_flows/query",
        params={"employee_type": "employee_no"},
        json={"user_ids": ["E-1"], "check_time_from": "1750000000", "check_time_to": "1750003600"},
    )
    results = flows.json()["data"]["user_flow_results"]
    assert [(r["user_id"], r["check_time"]) for r in results] == [("E-1", "1750000000")]
    query = {"user_ids": ["emp001", "ghost"], "check_date_from": 20250601, "check_date_to": 20250630}
    tasks_path = "/open-apis/attendance/v1/user_tasks/query"
    strict = emu.call("POST", tasks_path, params={"employee_type": "employee_id"}, json=query)
    assert error_of(strict) == (400, 1220004)
    lenient = emu.call(
        "POST", tasks_path, params={"employee_type": "employee_id", "ignore_invalid_users": "true"}, json=query
    ).json()["data"]
    assert lenient["invalid_user_ids"] == ["ghost"]
    assert lenient["user_task_results"][0]["records"][0]["check_in_result"] == "Late"
    assert error_of(emu.call("POST", tasks_path, json=query)) == (400, 99992402)


# -- faults -----------------------------------------------------------------------------------------


def listing(emu: Emu, readers: int = 6) -> tuple[str, list[str]]:
    members = [emu.world.add_user(f"u{i}")["open_id"] for i in range(readers)]
    chat = emu.world.add_chat("g", members)
    mid = emu.call(
        "POST",
        IM,
        params={"receive_id_type": "chat_id"},
        json={"receive_id": chat, "msg_type": "text", "content": "{}"},
    ).json()["data"]["message_id"]
    for i, member in enumerate(members):
        emu.world.mark_read(mid, member, at_ms=i)
    return f"{IM}/{mid}/read_users", members


def test_injected_rate_limit_server_error_and_expired_token(emu: Emu) -> None:
    path, _ = listing(emu)
    params = {"user_id_type": "open_id"}
    emu.world.faults.configure(Faults(rate_limit=1.0))
    limited = emu.call("GET", path, params=params)
    assert error_of(limited) == (429, 99991400) and "x-ogw-ratelimit-reset" in limited.headers
    assert emu.world.breaches() == {}
    emu.world.faults.configure(Faults(server_error=1.0))
    assert emu.call("GET", path, params=params).status_code == 503
    assert error_of(emu.call("GET", "/open-apis/task/v2/tasks/x")) == (500, 1470500)
    emu.world.faults.configure(Faults(expire_token=1.0))
    assert error_of(emu.call("GET", path, params=params)) == (400, 99991663)
    assert emu.world.faults.injected == {"rate_limit": 1, "server_error": 2, "expire_token": 1}


def test_injected_stall_answers_late_after_doing_the_work(emu: Emu) -> None:
    user = emu.world.add_user("Li Lei")
    emu.get_token()
    token = emu.get_token().json()["tenant_access_token"]
    emu.world.faults.configure(Faults(timeout=1.0, timeout_seconds=0.5))
    with pytest.raises(requests.ReadTimeout):
        emu.send(user["open_id"], uuid="stalled-1", token=token, timeout=0.2)
    assert len(emu.world.messages) == 1
    began = time.monotonic()
    assert emu.send(user["open_id"], uuid="stalled-1", token=token).json()["code"] == 0
    assert time.monotonic() - began >= 0.5 and len(emu.world.messages) == 1


def test_malformed_and_duplicate_records_in_listings(emu: Emu) -> None:
    path, members = listing(emu)
    params = {"user_id_type": "open_id"}
    emu.world.faults.configure(Faults(malformed=1.0, seed=3))
    items = emu.call("GET", path, params=params).json()["data"]["items"]
    broken = [i for i in items if not (isinstance(i.get("user_id"), str) and str(i.get("timestamp", "")).isdigit())]
    assert len(items) == len(members) and len(broken) == 1
    emu.world.faults.configure(Faults(duplicate=1.0, seed=3))
    items = emu.call("GET", path, params=params).json()["data"]["items"]
    assert len(items) == len(members) + 1 and len({i["user_id"] for i in items}) == len(members)
    assert next(iter(emu.world.messages.values())).reads == {m: i for i, m in enumerate(members)}


def test_faults_are_deterministic_by_seed(start: Callable[..., Emu]) -> None:
    def outcomes() -> list[int]:
        emu = start(faults=Faults(rate_limit=0.3, server_error=0.3, seed=11))
        user = emu.world.add_user("Li Lei")
        token = emu.get_token().json()["tenant_access_token"]
        return [emu.send(user["open_id"], token=token).status_code for _ in range(12)]

    first = outcomes()
    assert first == outcomes() and {429, 503, 200} <= set(first)


# -- callbacks -------------------------------------------------------------------------------------------


class Receiver:
    """A callback endpoint that opens requests with the crypto and can be told to fail."""

    def __init__(self, crypto: FeishuEventCrypto) -> None:
        self.events: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.fail_next = 0
        self.app = FastAPI()

        @self.app.post("/feishu/events")
        async def receive(request: Request) -> Any:
            try:
                envelope = crypto.open(dict(request.headers), await request.body())
            except CallbackRejected as exc:
                self.rejected.append(exc.reason)
                return {"msg": exc.reason}
            if (answer := challenge_answer(envelope)) is not None:
                return answer
            if self.fail_next:
                self.fail_next -= 1
                raise RuntimeError("receiver down")
            self.events.append(envelope)
            return {"msg": "success"}


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    crypto = FeishuEventCrypto("cb-key", "cb-token")
    hook = Receiver(crypto)
    with LoopbackServer(hook.app) as server:
        yield hook, f"{server.url}/feishu/events"


def test_signed_encrypted_callbacks_retry_and_duplicate(start: Callable[..., Emu], receiver: Any) -> None:
    hook, url = receiver
    emu = start(callback_url=url, encrypt_key="cb-key", verification_token="cb-token", deliver_in_background=False)
    world = emu.world
    assert world.verify_callback_url()
    user = world.add_user("Candidate")
    mid = emu.send(user["open_id"]).json()["data"]["message_id"]
    world.mark_read(mid, user["open_id"])
    hook.fail_next = 1
    assert world.deliver_pending_events() == 0
    assert world.callbacks[0].status == "pending" and world.callbacks[0].attempts == 1
    assert world.deliver_pending_events() == 0  # the first retry waits 5 s of world time
    world.advance(5)
    assert world.deliver_pending_events() == 1 and world.callbacks[0].status == "delivered"
    event = hook.events[0]
    assert event["header"]["event_type"] == "im.message.message_read_v1"
    assert event["event"]["message_id_list"] == [mid]
    assert event["event"]["reader"]["reader_id"]["open_id"] == user["open_id"]
    world.faults.configure(Faults(duplicate=1.0))
    task = emu.call("POST", "/open-apis/task/v2/tasks", json={"summary": "s"}).json()["data"]["task"]
    world.complete_task(task["guid"])
    assert world.deliver_pending_events() == 1
    assert [e["header"]["event_id"] for e in hook.events[1:]] == [world.callbacks[1].event_id] * 2
    assert hook.rejected == []


def test_callbacks_are_pushed_from_a_background_thread(start: Callable[..., Emu], receiver: Any) -> None:
    hook, url = receiver
    emu = start(callback_url=url, encrypt_key="cb-key", verification_token="cb-token")
    user = emu.world.add_user("Candidate")
    mid = emu.send(user["open_id"]).json()["data"]["message_id"]
    emu.world.mark_read(mid, user["open_id"])
    deadline = time.monotonic() + 5
    while not hook.events and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hook.events and hook.events[0]["event"]["message_id_list"] == [mid]


def test_callbacks_with_a_wrong_key_are_rejected_by_the_receiver(start: Callable[..., Emu], receiver: Any) -> None:
    hook, url = receiver
    emu = start(callback_url=url, encrypt_key="other-key", verification_token="cb-token", deliver_in_background=False)
    user = emu.world.add_user("Candidate")
    emu.world.mark_read(emu.send(user["open_id"]).json()["data"]["message_id"], user["open_id"])
    emu.world.deliver_pending_events()
    assert hook.events == [] and hook.rejected == ["bad signature"]  # the raw body is verified before decryption


# -- control endpoints ----------------------------------------------------------------------------------


def test_control_endpoints_drive_and_inspect_over_http(emu: Emu) -> None:
    drive = f"{emu.url}/_emulator/drive"
    user = requests.post(f"{drive}/add_user", json={"name": "Li Lei", "mobile": "13812345678"}, timeout=5).json()
    user = user["result"]
    mid = emu.send(user["open_id"]).json()["data"]["message_id"]
    requests.post(f"{drive}/mark_read", json={"message_id": mid, "user": user["open_id"]}, timeout=5)
    assert requests.post(f"{drive}/advance", json={"seconds": 60}, timeout=5).json() == {"result": T0 + 60}
    faults = requests.put(f"{emu.url}/_emulator/faults", json={"rate_limit": 1.0, "seed": 5}, timeout=5)
    assert faults.json()["rate_limit"] == 1.0 and emu.world.faults.faults.seed == 5
    state = requests.get(f"{emu.url}/_emulator/state", timeout=5).json()
    assert state["now"] == T0 + 60 and state["users"][0]["mobile"] == "138****5678"
    assert state["messages"][0]["reads"] == {user["open_id"]: int(T0 * 1000)}
    assert state["calls"][emu.world.settings.app_id]["im.message.create"] == 1
    assert state["api_calls"] == emu.world.api_calls() > 0 and state["quota_breaches"] == 0
    assert state["callbacks"][0]["event_type"] == "im.message.message_read_v1"
    assert requests.post(f"{drive}/snapshot", json={}, timeout=5).status_code == 404
    assert requests.post(f"{drive}/mark_read", json={"message_id": "om_x", "user": "u"}, timeout=5).status_code == 400
    assert requests.put(f"{emu.url}/_emulator/faults", json={"bogus": 1}, timeout=5).status_code == 422
