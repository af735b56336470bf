"""The emulator's VC meeting reports (`vc/v1/meeting_list`, `vc/v1/participant_list`): shapes, time
format, ID types, paging and the documented error codes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from feishu_kit import T0, Rig, rig

MEETINGS = "/open-apis/vc/v1/meeting_list"
PARTICIPANTS = "/open-apis/vc/v1/participant_list"
START = int(T0) - 7200


@pytest.fixture
def r() -> Iterator[Rig]:
    with rig() as running:
        yield running


def get(r: Rig, path: str, **params: Any) -> requests.Response:
    token = r.connector.client.tokens.get() if r.connector.client.tokens else ""
    return requests.get(r.url + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def held(r: Rig, guests: int = 0) -> dict[str, str]:
    host = r.world.add_user("Host", user_id="host01", email="host@example.com")
    meeting = r.world.hold_meeting("123456789", START, START + 1800, "Interview", organizer=host["open_id"])
    r.world.join_meeting(meeting, START, START + 1800, user=host["open_id"], leave_reason="主持人结束会议")
    for i in range(guests):
        r.world.join_meeting(meeting, START + 60 + i, START + 900, name=f"Guest {i}")
    return host


def test_meeting_list_shape_and_filters(r: Rig) -> None:
    host = held(r)
    r.world.hold_meeting("987654321", START + 60, None)  # still running: not an ended meeting
    body = get(r, MEETINGS, start_time=START - 60, end_time=int(T0), user_id_type="user_id").json()
    assert body["code"] == 0 and body["data"]["has_more"] is False and "page_token" not in body["data"]
    (meeting,) = body["data"]["meeting_list"]
    assert meeting["meeting_id"] == "123456789" and meeting["user_id"] == "host01"
    assert meeting["meeting_start_time"] == "2025.06.15 21:06:40 (GMT+08:00)"
    assert meeting["meeting_end_time"] == "2025.06.15 21:36:40 (GMT+08:00)"
    assert (meeting["meeting_duration"], meeting["number_of_participants"]) == ("00:30:00", "1")
    running = get(r, MEETINGS, start_time=START - 60, end_time=int(T0), meeting_status=1).json()["data"]
    assert [m["meeting_id"] for m in running["meeting_list"]] == ["987654321"]
    by_user = get(r, MEETINGS, start_time=START - 60, end_time=int(T0), user_id=host["open_id"]).json()
    assert len(by_user["data"]["meeting_list"]) == 1


def test_participants_shape_ids_and_paging(r: Rig) -> None:
    host = held(r, guests=25)
    params = {"meeting_start_time": START, "meeting_end_time": START + 1800, "meeting_no": "123456789"}
    first = get(r, PARTICIPANTS, **params).json()["data"]
    assert first["has_more"] is True and len(first["participants"]) == 20
    host_row = first["participants"][0]
    assert host_row["user_id"] == host["open_id"] and host_row["email"] == "host@example.com"
    assert host_row["join_time"] == "2025.06.15 21:06:40 (GMT+08:00)" and host_row["time_in_meeting"] == "00:30:00"
    assert host_row["leave_reason"] == "主持人结束会议"
    assert first["participants"][1]["user_id"] == "" and first["participants"][1]["participant_name"] == "Guest 0"
    rest = get(r, PARTICIPANTS, **params, page_token=first["page_token"]).json()["data"]
    assert rest["has_more"] is False and len(rest["participants"]) == 6 and "page_token" not in rest
    as_user_id = get(r, PARTICIPANTS, **params, user_id_type="union_id").json()["data"]["participants"][0]
    assert as_user_id["user_id"] == host["union_id"]
    minute = get(r, PARTICIPANTS, **{**params, "meeting_start_time": START + 19}).json()
    assert minute["code"] == 0  # matched to the minute


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        (PARTICIPANTS, {"meeting_end_time": "1", "meeting_no": "123456789"}, 121003),
        (PARTICIPANTS, {"meeting_start_time": START, "meeting_end_time": START + 1, "meeting_no": "12345"}, 126004),
        (PARTICIPANTS, {"meeting_start_time": START, "meeting_end_time": START + 1, "meeting_no": "-12345678"},
         126003),
        (PARTICIPANTS, {"meeting_start_time": int(T0) + 600, "meeting_end_time": int(T0) + 900,
                        "meeting_no": "123456789"}, 126005),
        (PARTICIPANTS, {"meeting_start_time": START, "meeting_end_time": START + 86401, "meeting_no": "123456789"},
         126006),
        (PARTICIPANTS, {"meeting_start_time": START, "meeting_end_time": START + 60, "meeting_no": "123456789",
                        "user_id": "ou_x", "room_id": "omm_x"}, 126007),
        (PARTICIPANTS, {"meeting_start_time": START + 120, "meeting_end_time": START + 1800,
                        "meeting_no": "123456789"}, 126009),
        (PARTICIPANTS, {"meeting_start_time": START, "meeting_end_time": START + 1800, "meeting_no": "123456789",
                        "page_size": 10}, 121003),
        (MEETINGS, {"start_time": START, "end_time": START - 1}, 126006),
        (MEETINGS, {"start_time": START, "end_time": START + 1, "meeting_no": "123456789", "user_id": "ou_x"}, 126008),
    ],
)  # fmt: skip
def test_documented_errors(r: Rig, path: str, params: dict[str, Any], code: int) -> None:
    held(r)
    answer = get(r, path, **params)
    assert (answer.status_code, answer.json()["code"]) == (400, code)


def test_vc_reports_need_the_historical_scope() -> None:
    with rig(emulator={"scopes": ["im:message"]}) as r:
        denied = get(r, MEETINGS, start_time=START, end_time=START + 60).json()
        assert denied["code"] == 99991672 and "vc:room:readonly" in denied["msg"]
