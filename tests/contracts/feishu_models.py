"""The Feishu emulator's routes mapped to the official SDK's response models (lark-oapi), and a checker.

Each emulated route answers either its API's response model (`lark_oapi.api.<service>.<version>.model.
*Response`: the envelope `code`/`msg`/`error` plus `data` of the model's body class) or the error envelope
(`lark_oapi.core.model.BaseResponse` with `lark_oapi.core.model.error.Error`). The tenant token answer is
not wrapped in `data`: the SDK reads it with `lark_oapi.core.token.access_token_response.AccessTokenResponse`.

Wire types from the SDK's `_types`: `str`, `bool`, `float`, lists, nested model classes (i18n objects such
as `I18n {zh_cn, en_us}` are model classes like any other). An SDK `int` is a JSON integer or a string of
digits: the Python SDK declares int64 fields `int` too, and those travel as JSON strings (reference
feishu-api.md §0 and §2, "Numeric IDs and 64-bit timestamps are usually JSON strings"; the official Go SDK
models them as strings).

The SDK marks no field required; `Contract.required` lists what the reference (or the API page it cites)
says every answer holds, as dotted paths with `[]` for "each element".
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jsonschema
from lark_oapi.api.approval.v4.model.create_instance_response import CreateInstanceResponse
from lark_oapi.api.approval.v4.model.get_instance_response import GetInstanceResponse
from lark_oapi.api.approval.v4.model.list_instance_response import ListInstanceResponse
from lark_oapi.api.approval.v4.model.subscribe_approval_response import SubscribeApprovalResponse
from lark_oapi.api.attendance.v1.model.query_user_flow_response import QueryUserFlowResponse
from lark_oapi.api.attendance.v1.model.query_user_task_response import QueryUserTaskResponse
from lark_oapi.api.calendar.v4.model.create_calendar_event_attendee_response import (
    CreateCalendarEventAttendeeResponse,
)
from lark_oapi.api.calendar.v4.model.create_calendar_event_response import CreateCalendarEventResponse
from lark_oapi.api.calendar.v4.model.list_calendar_event_attendee_response import ListCalendarEventAttendeeResponse
from lark_oapi.api.calendar.v4.model.list_calendar_event_response import ListCalendarEventResponse
from lark_oapi.api.calendar.v4.model.p2_calendar_calendar_event_changed_v4 import P2CalendarCalendarEventChangedV4
from lark_oapi.api.calendar.v4.model.patch_calendar_event_response import PatchCalendarEventResponse
from lark_oapi.api.hire.v1.model.get_application_response import GetApplicationResponse
from lark_oapi.api.hire.v1.model.get_by_talent_interview_response import GetByTalentInterviewResponse
from lark_oapi.api.hire.v1.model.list_interview_response import ListInterviewResponse
from lark_oapi.api.hire.v1.model.list_interview_task_response import ListInterviewTaskResponse
from lark_oapi.api.hire.v2.model.get_talent_response import GetTalentResponse
from lark_oapi.api.im.v1.model.create_message_response import CreateMessageResponse
from lark_oapi.api.im.v1.model.p2_im_message_message_read_v1 import P2ImMessageMessageReadV1
from lark_oapi.api.im.v1.model.read_users_message_response import ReadUsersMessageResponse
from lark_oapi.api.im.v1.model.urgent_app_message_response import UrgentAppMessageResponse
from lark_oapi.api.im.v1.model.urgent_phone_message_response import UrgentPhoneMessageResponse
from lark_oapi.api.im.v1.model.urgent_sms_message_response import UrgentSmsMessageResponse
from lark_oapi.api.task.v1.model.p2_task_task_updated_v1 import P2TaskTaskUpdatedV1
from lark_oapi.api.task.v2.model.create_task_response import CreateTaskResponse
from lark_oapi.api.task.v2.model.get_task_response import GetTaskResponse
from lark_oapi.api.task.v2.model.tasks_tasklist_response import TasksTasklistResponse
from lark_oapi.api.vc.v1.model.get_meeting_list_response import GetMeetingListResponse
from lark_oapi.api.vc.v1.model.get_participant_list_response import GetParticipantListResponse
from lark_oapi.core.model import BaseResponse
from lark_oapi.core.model.error import Error
from lark_oapi.core.token.access_token_response import AccessTokenResponse
from lark_oapi.event.context import EventContext, EventHeader
from lark_oapi.ws.model import ClientConfig, Endpoint, EndpointResp

ENVELOPE: dict[str, Any] = {"code": int, "msg": str, "error": Error}
"""`BaseResponse`'s wire fields (it sets them in `__init__`, not in `_types`; `raw` is the SDK's own)."""
TOKEN_FIELDS: dict[str, Any] = {"tenant_access_token": str, "app_access_token": str, "expire": int}
"""`AccessTokenResponse`'s fields next to the envelope."""
DIGITS = re.compile(r"^-?\d+$")


Rule = Callable[[Any], Iterator[str]]


@dataclass(frozen=True)
class Contract:
    """What one route answers: `model` on success (code 0), the error envelope otherwise.

    `documented` adds fields the API's own page lists that the SDK model lacks; `rules` are the page's
    conditions on values (which fields a variant carries); `source` cites both."""

    model: type[Any]
    required: tuple[str, ...] = ()
    source: str = ""
    documented: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()


def _events(body: Any) -> Iterator[tuple[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return
    if isinstance(data.get("event"), dict):
        yield "$.data.event", data["event"]
    for i, item in enumerate(data.get("items") or []):
        yield f"$.data.items[{i}]", item


def vchat_link_only_for_links(body: Any) -> Iterator[str]:
    """`vchat.meeting_url` belongs to `vc_type` third_party only: a Feishu meeting (`vc`) takes and shows no
    other vchat field (calendar-v4/calendar-event/create, `vchat.vc_type` enum: "vc: 飞书视频会议。取该类型时，
    vchat 内的其他字段均无效"; "third_party: 仅生效 vchat 内的 icon_type、description、meeting_url"; issue 14 (b):
    real events carry `vc_type` and no `meeting_url`)."""
    for path, event in _events(body):
        vchat = event.get("vchat") if isinstance(event, dict) else None
        if isinstance(vchat, dict) and "meeting_url" in vchat and vchat.get("vc_type") != "third_party":
            yield f"{path}.vchat.meeting_url: only a third_party vchat carries one (vc_type {vchat.get('vc_type')!r})"


CALENDAR_PAGE = (
    "; calendar-v4/calendar-event/create (https://open.feishu.cn/document/server-docs/calendar-v4/"
    "calendar-event/create), `vchat`"
)
LISTING = ("data.has_more",)


class WsClientConfig(ClientConfig):
    _types: ClassVar[dict[str, Any]] = dict.fromkeys(
        ("ReconnectCount", "ReconnectInterval", "ReconnectNonce", "PingInterval"), int)


class WsEndpoint(Endpoint):
    _types: ClassVar[dict[str, Any]] = {"URL": str, "ClientConfig": WsClientConfig}


class WsEndpointResp(EndpointResp):
    """The long connection's endpoint answer: the SDK's `lark_oapi/ws/model.py` classes set these fields
    in `__init__` (its `_types` name only the nested classes)."""

    _types: ClassVar[dict[str, Any]] = {"data": WsEndpoint}


CONTRACTS: dict[tuple[str, str], Contract] = {
    ("POST", "/open-apis/auth/v3/tenant_access_token/internal"): Contract(
        AccessTokenResponse, ("tenant_access_token", "expire"), "reference §1"),
    ("POST", "/callback/ws/endpoint"): Contract(
        WsEndpointResp, ("data.URL", "data.ClientConfig.PingInterval"), "lark_oapi/ws/client.py, ws/model.py",
        {"code": int, "msg": str}),
    ("POST", "/open-apis/im/v1/messages"): Contract(
        CreateMessageResponse, ("data.message_id", "data.create_time", "data.chat_id"), "reference §3.1"),
    ("GET", "/open-apis/im/v1/messages/{message_id}/read_users"): Contract(
        ReadUsersMessageResponse, (*LISTING, "data.items[].user_id", "data.items[].timestamp"), "reference §3.2"),
    ("PATCH", "/open-apis/im/v1/messages/{message_id}/urgent_app"): Contract(
        UrgentAppMessageResponse, ("data.invalid_user_id_list",), "reference §3.4"),
    ("PATCH", "/open-apis/im/v1/messages/{message_id}/urgent_sms"): Contract(
        UrgentSmsMessageResponse, ("data.invalid_user_id_list",), "reference §3.4"),
    ("PATCH", "/open-apis/im/v1/messages/{message_id}/urgent_phone"): Contract(
        UrgentPhoneMessageResponse, ("data.invalid_user_id_list",), "reference §3.4"),
    ("POST", "/open-apis/task/v2/tasks"): Contract(
        CreateTaskResponse, ("data.task.guid", "data.task.summary", "data.task.completed_at"), "reference §4.1"),
    ("GET", "/open-apis/task/v2/tasks/{task_guid}"): Contract(
        GetTaskResponse, ("data.task.guid", "data.task.completed_at"), "reference §4"),
    ("GET", "/open-apis/task/v2/tasklists/{tasklist_guid}/tasks"): Contract(
        TasksTasklistResponse, (*LISTING, "data.page_token", "data.items[].guid"), "reference §4 (pagination)"),
    ("POST", "/open-apis/approval/v4/instances"): Contract(
        CreateInstanceResponse, ("data.instance_code",), "reference §6.1"),
    ("GET", "/open-apis/approval/v4/instances"): Contract(
        ListInstanceResponse, (*LISTING, "data.instance_code_list"), "reference §6"),
    ("GET", "/open-apis/approval/v4/instances/{instance_id}"): Contract(
        GetInstanceResponse, ("data.instance_code", "data.status", "data.start_time", "data.uuid"), "reference §6"),
    ("POST", "/open-apis/approval/v4/approvals/{approval_code}/subscribe"): Contract(
        SubscribeApprovalResponse, (), "approval-v4/event/event-interface/subscribe (https://open.feishu.cn/document/"
        "server-docs/approval-v4/event/event-interface/subscribe): the response table lists `data` (type '-'), "
        "its example `\"data\": {}`; the SDK model has no `data`", documented={"data": dict}),
    ("POST", "/open-apis/calendar/v4/calendars/{calendar_id}/events"): Contract(
        CreateCalendarEventResponse, ("data.event.event_id", "data.event.start_time", "data.event.vchat.vc_type"),
        "reference §5" + CALENDAR_PAGE, rules=(vchat_link_only_for_links,)),
    ("GET", "/open-apis/calendar/v4/calendars/{calendar_id}/events"): Contract(
        ListCalendarEventResponse, (*LISTING, "data.items[].event_id", "data.items[].status"),
        "reference §5" + CALENDAR_PAGE, rules=(vchat_link_only_for_links,)),
    ("PATCH", "/open-apis/calendar/v4/calendars/{calendar_id}/events/{event_id}"): Contract(
        PatchCalendarEventResponse, ("data.event.event_id",), "reference §5" + CALENDAR_PAGE,
        rules=(vchat_link_only_for_links,)),
    ("POST", "/open-apis/calendar/v4/calendars/{calendar_id}/events/{event_id}/attendees"): Contract(
        CreateCalendarEventAttendeeResponse, ("data.attendees[].attendee_id",), "reference §5"),
    ("GET", "/open-apis/calendar/v4/calendars/{calendar_id}/events/{event_id}/attendees"): Contract(
        ListCalendarEventAttendeeResponse, (*LISTING, "data.items[].attendee_id", "data.items[].rsvp_status"),
        "reference §5"),
    ("GET", "/open-apis/hire/v1/interviews"): Contract(
        ListInterviewResponse, (*LISTING, "data.items[].id", "data.items[].begin_time", "data.items[].end_time",
                                "data.items[].application_id"), "reference §8.1"),
    ("GET", "/open-apis/hire/v1/interviews/get_by_talent"): Contract(
        GetByTalentInterviewResponse, ("data.items[].application_id", "data.items[].interview_list"),
        "reference §8.2"),
    ("GET", "/open-apis/hire/v1/applications/{application_id}"): Contract(
        GetApplicationResponse, ("data.application.id", "data.application.talent_id"), "reference §8.3"),
    ("GET", "/open-apis/hire/v2/talents/{talent_id}"): Contract(
        GetTalentResponse, ("data.talent_id", "data.basic_info"), "reference §8.3"),
    ("GET", "/open-apis/hire/v1/interview_tasks"): Contract(
        ListInterviewTaskResponse, (*LISTING, "data.items[].id", "data.items[].activity_status"), "reference §8.2"),
    ("POST", "/open-apis/attendance/v1/user_flows/query"): Contract(
        QueryUserFlowResponse, ("data.user_flow_results[].user_id", "data.user_flow_results[].check_time"),
        "reference §7.1"),
    ("POST", "/open-apis/attendance/v1/user_tasks/query"): Contract(
        QueryUserTaskResponse, ("data.user_task_results[].user_id", "data.user_task_results[].day",
                                "data.invalid_user_ids"), "reference §7.2"),
    ("GET", "/open-apis/vc/v1/meeting_list"): Contract(
        GetMeetingListResponse, (*LISTING, "data.meeting_list[].meeting_id",
                                 "data.meeting_list[].meeting_start_time"),
        "vc-v1/meeting_list/get (official page cited in the emulator)"),
    ("GET", "/open-apis/vc/v1/participant_list"): Contract(
        GetParticipantListResponse, (*LISTING, "data.participants[].participant_name",
                                     "data.participants[].join_time"),
        "vc-v1/participant_list/get (official page cited in the emulator)"),
}  # fmt: skip
ERROR = Contract(BaseResponse, ("code", "msg"), "reference §2 (envelope; `error` per the SDK's Error)")
"""Every failure, on any route (and the gateway's answer to a path or method no route serves)."""


def contract_for(method: str, route: str, body: Any) -> Contract | None:
    """The contract a served body answers to: the route's model when `code` is 0, else the envelope."""
    if isinstance(body, dict) and body.get("code") == 0:
        return CONTRACTS.get((method, route))
    return ERROR


def fields_of(model: type[Any], documented: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A model class's wire fields and their SDK types (the event envelope's classes set theirs in
    `__init__`, all strings but `header` and `event`)."""
    if issubclass(model, EventContext):
        return {**dict.fromkeys(("challenge", "ts", "uuid", "token", "type", "schema"), str), "header": EventHeader,
                "event": model._types.get("event", dict)}  # fmt: skip
    if model is EventHeader:
        return dict.fromkeys(vars(EventHeader()), str)
    if issubclass(model, BaseResponse):
        extra = TOKEN_FIELDS if issubclass(model, AccessTokenResponse) else {}
        return {**ENVELOPE, **extra, **model._types, **(documented or {})}
    return {**model._types, **(documented or {})}


def differences(contract: Contract, body: Any) -> list[str]:
    """Every way `body` departs from the contract: keys the model lacks, wrong types, missing required keys."""
    found = list(_check(body, contract.model, "$", contract.documented))
    found += [difference for rule in contract.rules for difference in rule(body)]
    found += [f"{path}: required but missing" for path in contract.required if not _present(body, path.split("."))]
    return found


def _check(value: Any, kind: Any, path: str, documented: Mapping[str, Any] | None = None) -> Iterator[str]:
    if value is None:
        yield f"{path}: null (the SDK models no nullable fields; an absent key is how Feishu says 'none')"
        return
    origin = typing.get_origin(kind)
    if origin is list:
        if not isinstance(value, list):
            yield f"{path}: {type(value).__name__}, the model has a list"
            return
        (item,) = typing.get_args(kind) or (Any,)
        for i, element in enumerate(value):
            yield from _check(element, item, f"{path}[{i}]")
    elif origin is dict or kind is dict:
        if not isinstance(value, dict):
            yield f"{path}: {type(value).__name__}, the model has an object"
    elif kind is Any:
        return
    elif isinstance(kind, type) and hasattr(kind, "_types"):
        if not isinstance(value, dict):
            yield f"{path}: {type(value).__name__}, the model has an object ({kind.__name__})"
            return
        known = fields_of(kind, documented)
        for key, inner in value.items():
            if key not in known:
                yield f"{path}.{key}: not in {kind.__name__}"
            else:
                yield from _check(inner, known[key], f"{path}.{key}")
    elif kind is bool:
        if not isinstance(value, bool):
            yield f"{path}: {type(value).__name__} {value!r}, the model has bool"
    elif kind is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and DIGITS.match(value))):
            yield f"{path}: {type(value).__name__} {value!r}, the model has int"
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            yield f"{path}: {type(value).__name__} {value!r}, the model has float"
    elif kind is str:
        if not isinstance(value, str):
            yield f"{path}: {type(value).__name__} {value!r}, the model has str"
    else:
        yield f"{path}: the model's type {kind!r} is not understood by this checker"


def _present(value: Any, steps: list[str]) -> bool:
    if not steps:
        return True
    step, rest = steps[0], steps[1:]
    each = step.endswith("[]")
    key = step.removesuffix("[]")
    if not isinstance(value, dict) or key not in value:
        return False
    inner = value[key]
    if each:
        return isinstance(inner, list) and all(_present(element, rest) for element in inner)
    return _present(inner, rest)


# -- callbacks the emulator pushes --------------------------------------------------------------------------

EVENTS: dict[str, type[EventContext]] = {
    "im.message.message_read_v1": P2ImMessageMessageReadV1,
    "task.task.updated_v1": P2TaskTaskUpdatedV1,
    "calendar.calendar.event.changed_v4": P2CalendarCalendarEventChangedV4,
}
"""Schema-2.0 events and the SDK's model of each (`lark_oapi.api.*.model.p2_*`)."""
EVENT_REQUIRED = ("schema", "header.event_id", "header.event_type", "header.create_time", "header.token",
                  "header.app_id", "header.tenant_key", "event")  # fmt: skip
"""The 2.0 envelope (reference §9)."""
APPROVAL_INSTANCE_V1: dict[str, Any] = {
    "$comment": "approval_instance (v1 schema). The SDK has no model: it takes this event as a p1 customized event "
    "(register_p1_customized_event). Fields and types from the event page, https://open.feishu.cn/document/"
    "server-docs/approval-v4/event/common-event/approval-instance-event ('事件体'); operate_time is an int64 "
    "when a REVERTED status is pushed, a string otherwise.",
    "type": "object",
    "additionalProperties": False,
    "required": ["ts", "uuid", "token", "type", "event"],
    "properties": {
        "ts": {"type": "string", "pattern": r"^\d+(\.\d+)?$"},
        "uuid": {"type": "string"},
        "token": {"type": "string"},
        "type": {"const": "event_callback"},
        "event": {
            "type": "object",
            "additionalProperties": False,
            "required": ["app_id", "tenant_key", "type", "approval_code", "instance_code", "status", "operate_time",
                         "instance_operate_time"],
            "properties": {
                "app_id": {"type": "string"},
                "tenant_key": {"type": "string"},
                "type": {"const": "approval_instance"},
                "approval_code": {"type": "string"},
                "instance_code": {"type": "string"},
                "status": {"enum": ["PENDING", "APPROVED", "REJECTED", "CANCELED", "DELETED", "REVERTED",
                                    "OVERTIME_CLOSE", "OVERTIME_RECOVER"]},
                "operate_time": {"type": ["string", "integer"], "pattern": r"^\d+$"},
                "instance_operate_time": {"type": "string", "pattern": r"^\d+$"},
                "uuid": {"type": "string"},
            },
        },
    },
}  # fmt: skip


def event_differences(envelope: Any) -> list[str]:
    """How one pushed event departs from its official model (or, for v1 approval events, the page's schema)."""
    if isinstance(envelope, dict) and envelope.get("schema") == "2.0":
        kind = (envelope.get("header") or {}).get("event_type")
        model = EVENTS.get(str(kind))
        if model is None:
            return [f"event type {kind!r}: no contract"]
        return differences(Contract(model, EVENT_REQUIRED), envelope)
    kind = (envelope.get("event") or {}).get("type") if isinstance(envelope, dict) else None
    if kind != "approval_instance":
        return [f"v1 event type {kind!r}: no contract"]
    validator = jsonschema.Draft202012Validator(APPROVAL_INSTANCE_V1)
    return [f"$.{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(envelope)]
