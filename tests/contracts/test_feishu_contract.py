"""Vendor contract: every answer the Feishu emulator serves matches the official SDK's model of its API.

One emulated tenant on loopback HTTP is driven through every route it serves, mostly by the connector's
own operations (check, every stream, every action), the rest by direct calls: normal answers, the
handlers' errors, and the gateway's (no token, expired token, missing scope, rate limit, 5xx, unknown
path and method). Then each response in `world.served` is checked against its contract
(`feishu_models`): no key the lark-oapi model lacks, the model's types, the documented required keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from starlette.routing import Route

from lifeline_hub.connectors.feishu.emulator import EmulatorSettings, FeishuWorld, create_app
from lifeline_hub.core.emulator import Faults, LoopbackServer, Served
from tests.contracts.feishu_models import CONTRACTS, EVENTS, contract_for, differences, event_differences
from tests.feishu.feishu_kit import T0, Clock, action, make_connector

HOUR_MS = 3_600_000
NOW_MS = int(T0 * 1000)
PLAIN_503 = b"Service Unavailable"
EXCEPTIONS = {
    "HTTP 503 'Service Unavailable' as plain text": (
        "the 5xx fault on an API whose page documents no server-error code (IM, approval, attendance, auth): an "
        "HTTP front's answer, not the Open Platform's, so no model applies; nothing documents a Feishu envelope "
        "for it, and the client must survive a non-JSON body (reference §2: key off `code` when there is one)"
    ),
}
"""The one kind of answer deliberately outside the SDK contract, with why."""


def served_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path template) of every vendor route the app serves (not `/_emulator`)."""
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        if isinstance(route, Route) and not route.path.startswith("/_emulator"):
            routes.update((method, route.path) for method in route.methods or () if method != "HEAD")
    return routes


def test_every_route_has_a_contract() -> None:
    app = create_app()
    try:
        routes = served_routes(app)
    finally:
        app.state.world.close()
    assert routes == set(CONTRACTS), (
        f"routes without a contract: {sorted(routes - set(CONTRACTS))}; "
        f"contracts without a route: {sorted(set(CONTRACTS) - routes)}"
    )


class Tenant:
    """The emulator on loopback and a connector configured for every stream and action."""

    def __init__(self, url: str, world: Any, clock: Clock) -> None:
        self.url, self.world, self.clock = url, world, clock
        calendar = world.add_calendar("Interviews")
        world.add_approval_definition("RESCHEDULE", "Reschedule")
        self.connector, _ = make_connector(
            url, world, clock, calendar_id=calendar, tasklist_guid="tl-0001-lifeline", approval_codes=("RESCHEDULE",),
            meeting_attendance=True, urgent_sms_allowed=True, urgent_phone_allowed=True,
        )  # fmt: skip
        self.calendar = calendar

    def token(self) -> str:
        tokens = self.connector.client.tokens
        assert tokens is not None
        return tokens.get()

    def call(self, method: str, path: str, token: str | None = "", **kwargs: Any) -> requests.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token or self.token()}"}
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def read(self, stream: str, cursor: dict[str, Any] | None = None) -> list[Any]:
        return list(self.connector.read(stream, cursor or {}))


@pytest.fixture
def tenant() -> Iterator[Tenant]:
    clock = Clock()
    world = FeishuWorld(EmulatorSettings(), now=clock)
    try:
        with LoopbackServer(create_app(world=world)) as server:
            yield Tenant(server.url, world, clock)
    finally:
        world.close()


def drive_connector(t: Tenant) -> None:
    """The connector's own operations: check, each action, each stream."""
    w = t.world
    assert t.connector.check().ok
    hr = w.add_user("HR", user_id="hr0001", email="hr@example.com")
    interviewer = w.add_user("Interviewer", user_id="iv0001")
    # messages (urgent: phone and sms are refused for quota, then in-app) and their receipts
    sent = t.connector.perform(action("send_message", {
        "recipients": [hr["open_id"]], "title": "Feedback due", "text": "Please", "urgent": True,
        "audience": "staff"}))  # fmt: skip
    message_id = sent.detail["message_ids"][0]
    w.mark_read(message_id, hr["open_id"])
    t.read("receipts", {"inbox": sent.handoff["receipts"]["inbox"]})
    # tasks: create, look-up of a maybe-sent one, the stream
    task = {"assignees": [hr["open_id"]], "title": "Call back", "description": "d"}
    key = "ll-task-0001-contract"
    guid = t.connector.perform(action("create_task", task, key=key)).remote_id
    t.connector.perform(action("create_task", task, key=key, maybe_sent=True))
    w.complete_task(guid, hr["open_id"])
    t.read("tasks")
    # approvals: create, a repeat (60012, then get by uuid), the stream
    approval = {"originator": hr["open_id"], "process_code": "RESCHEDULE", "title": "Reschedule", "fields": {"a": "b"}}
    code = t.connector.perform(action("create_approval", approval, key="ll-approval-0001")).remote_id
    t.connector.perform(action("create_approval", approval, key="ll-approval-0001"))
    w.decide_approval(code, "APPROVED", comment="ok")
    t.read("approvals")
    # calendar: create with attendees, reschedule, RSVPs, the meeting's attendance
    event = {
        "organizer": hr["open_id"], "attendees": [interviewer["open_id"]], "summary": "Interview",
        "start_at": datetime.fromtimestamp(T0 + 3600, UTC).isoformat(),
        "end_at": datetime.fromtimestamp(T0 + 7200, UTC).isoformat(), "ical_uid": "iv-42@lifeline", "sequence": 0,
    }  # fmt: skip
    event_id = t.connector.perform(action("create_calendar_event", event, interview_id="acme.hire/42")).remote_id
    moved = {**event, "sequence": 1, "remote_event_id": event_id}
    t.connector.perform(action("update_calendar_event", moved, interview_id="acme.hire/42"))
    guest = w.add_attendee(t.calendar, event_id, email="candidate@example.com")
    w.set_rsvp(t.calendar, event_id, guest, "accept")
    t.read("rsvps")
    meeting = w.hold_meeting("123456789", int(T0) + 3600, int(T0) + 6000, "Interview", organizer=hr["open_id"])
    w.join_meeting(meeting, int(T0) + 3650, int(T0) + 6000, user=interviewer["open_id"])
    w.join_meeting(meeting, int(T0) + 3700, int(T0) + 6000, name="Candidate")
    # Hire: interviews, their applications and talents
    w.add_talent("9001", "Candidate", mobile="13800138000", email="c@example.com")
    w.add_hire_interview("7001", "9001", NOW_MS + HOUR_MS, NOW_MS + 2 * HOUR_MS, [interviewer["open_id"]])
    w.add_hire_interview("7002", "9404", NOW_MS - HOUR_MS, NOW_MS)  # its talent is gone: 1002102
    t.read("interviews")
    t.clock.advance(7300)
    t.read("attendance")


def drive_direct(t: Tenant) -> None:
    """What the connector never calls, and the handlers' own errors."""
    w = t.world
    hr = next(iter(w.users.values()))
    message_id = next(iter(w.messages))
    interview = next(iter(w.interviews.values()))
    w.urgent_quota_left = None
    for kind in ("sms", "phone"):
        t.call("PATCH", f"/open-apis/im/v1/messages/{message_id}/urgent_{kind}", params={"user_id_type": "open_id"},
               json={"user_id_list": [hr.open_id, "ou_nobody"]})  # fmt: skip
    t.call("GET", f"/open-apis/im/v1/messages/{message_id}/read_users")  # user_id_type is required: 99992402
    t.call("POST", "/open-apis/im/v1/messages", params={"receive_id_type": "open_id"},
           json={"receive_id": "ou_nobody", "msg_type": "text", "content": "{}"})  # fmt: skip
    t.call("GET", "/open-apis/task/v2/tasks/no-such-task")
    t.call("GET", "/open-apis/task/v2/tasklists/no-such-list/tasks")
    t.call("POST", "/open-apis/approval/v4/approvals/RESCHEDULE/subscribe")
    t.call("POST", "/open-apis/approval/v4/approvals/NOPE/subscribe")
    t.call("GET", "/open-apis/approval/v4/instances/NO-SUCH-INSTANCE")
    t.call("GET", "/open-apis/hire/v1/interviews/get_by_talent", params={"talent_id": interview.talent_id})
    t.call("GET", "/open-apis/hire/v1/interviews/get_by_talent")
    interviewer = interview.record["interview_record_list"][0]["user_id"]
    for status in (None, 2):
        t.call("GET", "/open-apis/hire/v1/interview_tasks", params={"user_id": interviewer, "activity_status": status})
    t.call("GET", "/open-apis/hire/v1/applications/404404")
    employee = w.users[interviewer].user_id
    w.add_attendance_flow(interviewer, int(T0) - 3600, "HQ")
    w.add_attendance_result(interviewer, 20250615, check_in_time=int(T0) - 3600, check_out_time=int(T0))
    flows = {"user_ids": [employee], "check_time_from": str(int(T0) - 86400), "check_time_to": str(int(T0) + 86400)}
    t.call("POST", "/open-apis/attendance/v1/user_flows/query", params={"employee_type": "employee_id"}, json=flows)
    tasks = {"user_ids": [employee, "nobody"], "check_date_from": 20250601, "check_date_to": 20250630}
    t.call("POST", "/open-apis/attendance/v1/user_tasks/query",
           params={"employee_type": "employee_id", "ignore_invalid_users": "true"}, json=tasks)  # fmt: skip
    t.call("POST", "/open-apis/attendance/v1/user_tasks/query", params={"employee_type": "employee_id"}, json=tasks)
    t.call("GET", "/open-apis/vc/v1/meeting_list", params={"start_time": "x", "end_time": "1"})
    t.call("GET", "/open-apis/vc/v1/participant_list", params={"meeting_no": "12"})
    t.call("POST", "/open-apis/calendar/v4/calendars/nope/events", json={})
    t.call("GET", "/open-apis/hire/v1/interviews")  # no filter: 1002002
    t.call("POST", "/open-apis/auth/v3/tenant_access_token/internal", token=None,
           json={"app_id": w.settings.app_id, "app_secret": "wrong"})  # fmt: skip
    for secret in (w.settings.app_secret, "wrong"):  # the long connection's endpoint (lark_oapi ws client)
        t.call("POST", "/callback/ws/endpoint", token=None, json={"AppID": w.settings.app_id, "AppSecret": secret})


def drive_gateway(t: Tenant) -> None:
    """The gateway's answers on every route: no token, an expired one, a missing scope, 429, 5xx."""
    w = t.world
    paths = [(method, route.replace("{", "").replace("}", "")) for method, route in sorted(CONTRACTS)]
    for method, path in paths:
        t.call(method, path, token=None)
        t.call(method, path, token="t-expired")
    w.grant_scopes([])
    for method, path in paths:
        t.call(method, path)
    w.grant_scopes(None)
    for faults in (Faults(rate_limit=1.0), Faults(server_error=1.0)):
        token = t.token()
        w.configure_faults(faults)
        for method, path in paths:
            t.call(method, path, token=token)
        w.configure_faults(Faults())
    t.call("GET", "/open-apis/no/such/api")
    t.call("DELETE", "/open-apis/im/v1/messages")


def test_every_served_response_matches_the_official_model(tenant: Tenant) -> None:
    drive_connector(tenant)
    drive_direct(tenant)
    drive_gateway(tenant)
    served: list[Served] = list(tenant.world.served)
    found: list[str] = []
    checked = 0
    for answer in served:
        if not isinstance(answer.body, dict):
            assert (answer.status, answer.body) == (503, PLAIN_503), f"{answer.method} {answer.route}: not JSON"
            continue  # the listed exception
        contract = contract_for(answer.method, answer.route, answer.body)
        assert contract is not None, f"{answer.method} {answer.route}: no contract"
        checked += 1
        found += [f"{answer.method} {answer.route} {answer.status}: {d}" for d in differences(contract, answer.body)]
    assert found == [], "\n".join(sorted(set(found)))
    ok = {(a.method, a.route) for a in served if isinstance(a.body, dict) and a.body.get("code") == 0}
    failed = {(a.method, a.route) for a in served if isinstance(a.body, dict) and a.body.get("code") != 0}
    assert set(CONTRACTS) - ok == set(), "routes never answered successfully"
    assert set(CONTRACTS) - failed == set(), "routes never answered with an error envelope"
    assert checked > 200


def test_every_callback_matches_the_official_event_model(tenant: Tenant) -> None:
    """The events the emulator pushes: read receipts, task and calendar changes (SDK models), approval
    instance changes (v1, no SDK model: the event page's JSON Schema)."""
    drive_connector(tenant)
    drive_direct(tenant)  # subscribes to RESCHEDULE
    w = tenant.world
    hr = next(iter(w.users.values()))
    approval = {"originator": hr.open_id, "process_code": "RESCHEDULE", "title": "Reschedule", "fields": {}}
    for status in ("REJECTED", "CANCELED"):
        code = tenant.connector.perform(action("create_approval", approval)).remote_id
        w.decide_approval(code, status)
    pushed = list(w.callbacks)
    assert {e.event_type for e in pushed} == {*EVENTS, "approval_instance"}
    found = [f"{e.event_type}: {d}" for e in pushed for d in event_differences(e.envelope)]
    assert found == [], "\n".join(found)


def test_the_checker_catches_what_it_is_for() -> None:
    """A key the model lacks, a wrong type, an i18n object sent as a string, a missing required key."""
    contract = CONTRACTS[("GET", "/open-apis/hire/v1/interviews")]
    good = {"code": 0, "msg": "ok", "data": {"has_more": False, "items": [
        {"id": "1", "begin_time": 1, "end_time": 2, "application_id": "3", "stage": {"id": "4", "name": {
            "zh_cn": "面试", "en_us": "Interview"}}}]}}  # fmt: skip
    assert differences(contract, good) == []
    item = good["data"]["items"][0]  # type: ignore[index]
    bad = {**good, "data": {"items": [{**item, "stage": {"id": "4", "name": "面试"}, "extra": 1, "round": "one"}]}}
    assert sorted(differences(contract, bad)) == [
        "$.data.items[0].extra: not in InterviewExtend",
        "$.data.items[0].round: str 'one', the model has int",
        "$.data.items[0].stage.name: str, the model has an object (I18n)",
        "data.has_more: required but missing",
    ]
    bad_event = {"ts": "1.5", "uuid": "u", "token": "t", "type": "event_callback",
                 "event": {"type": "approval_instance", "status": "DONE", "extra": 1}}  # fmt: skip
    found = "\n".join(event_differences(bad_event))
    for wrong in ("'extra' was unexpected", "'DONE' is not one of", "'app_id' is a required property"):
        assert wrong in found
