"""Reschedule approvals as e-cology workflows (weaver-oa.md §4-§6): create at most once, then poll the result.

Create: `doCreateRequest` (form-encoded; `mainData` a JSON string of `{fieldName, fieldValue}` on the columns the
instance's `workflow.fields` maps) as the originator, left at the creator node (`isnextflow 0`), then
`submitRequest` with `requestId` and `workflowId` (E8: some builds need both). e-cology has no idempotency key
(§4.4): Lifeline's reference (`<key>|<interview>`) goes into the `reference` column and `[<key>]` ends the title,
and before creating again (the outbox says an earlier attempt may have sent: `maybe_sent`; or the create's answer
was lost) the originator's own requests (`getMyWorkflowRequestList`, title contains the key) are searched. A found
draft is submitted; a request already past the creator node is not submitted twice.

Poll (`workflows` stream, §5, §6): the actor's own requests of the workflow created since the last pass
(`getMyWorkflowRequestList`, a bare array, paged; `getMyWorkflowRequestCount`, a bare integer, says whether the
listing is whole) join those `create_approval` handed over; then per open request `getRequestStatus`
(currentNodeType "3" archived = approved), `getRequestLog` (latest `logtype` "3" at the creator node = sent back =
refused) and `getRequestOperatorInfo` (the approvers' `viewType`: the only read receipt, §5 "Read state").
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError

from lifeline_hub.connectors.weaver.client import VENDOR
from lifeline_hub.core.actions import CreateApproval
from lifeline_hub.core.connector import ActionResult, Checkpoint, Malformed, StreamItem, describe_error
from lifeline_hub.core.http import InvalidRequest, NotFound, PermissionDenied, TransientError
from lifeline_hub.core.models import (
    Action,
    Audience,
    Channel,
    DeliveryEvent,
    DeliveryStatus,
    DeliveryType,
    Notification,
    NotificationPurpose,
    RequestStatus,
    RescheduleRequest,
    Role,
    canonical_id,
    utcnow,
)
from lifeline_hub.core.remediation.texts import T

if TYPE_CHECKING:
    from typing import TypeVar

    from lifeline_hub.connectors.weaver.plugin import WeaverConnector

    P = TypeVar("P", bound=BaseModel)

NEW_REQUESTS = "new_requests"
"""Cursor key create_approval hands its request ids to (`[{"id", "at"}]`)."""
ROLE_LABELS = {"ap.candidate": "candidate", "ap.interview": "interview", "ap.reason": "reason", "ap.slots": "slots",
               "ap.evidence": "evidence", "ap.note": "note", "ap.key": "reference"}
ROLES: dict[str, str] = {texts[label]: role for texts in T.values() for label, role in ROLE_LABELS.items()
                         if label in texts}
"""A payload field's label in any of Lifeline's languages -> its form role (`settings.FormRole`)."""
SERVER_ZONE = ZoneInfo("Asia/Shanghai")
"""e-cology writes log dates and times in the server's zone (the sites Lifeline serves run on China Standard Time)."""
VIEWED = {-1, -2}  # viewType: -1 viewed with new feedback, -2 viewed (§5)
SENT_BACK, SUBMIT = "3", "2"


def payload(model: type[P], action: Action) -> P:
    try:
        return model.model_validate(action.payload)
    except ValidationError as exc:
        raise InvalidRequest(f"{action.kind} payload: {describe_error(exc)}", vendor=VENDOR) from None


# ---------------------------------------------------------------- create (once)


def main_data(conn: WeaverConnector, request: CreateApproval, reference: str) -> tuple[list[dict[str, str]], list[str]]:
    """`mainData` rows for the form's mapped columns, and the roles the form leaves unmapped (not sent).

    A payload field is named by its label in Lifeline's texts or by a role name; any other name is refused (the
    form cannot hold what nobody mapped), never silently dropped."""
    form = conn.form
    values: dict[str, str] = {}
    for name, value in request.fields.items():
        role = ROLES.get(name) or (name if name in ROLE_LABELS.values() else None)
        if role is None:
            raise InvalidRequest(f"unknown workflow field {name!r}: not one of Lifeline's approval fields "
                                 f"({', '.join(sorted(set(ROLE_LABELS.values())))})", vendor=VENDOR)
        values[role] = value
    values["reference"] = reference
    rows = [{"fieldName": form.fields[role], "fieldValue": value} for role, value in values.items()
            if role in form.fields]
    return rows, sorted(role for role in values if role not in form.fields)


def request_name(conn: WeaverConnector, request: CreateApproval, key: str) -> str:
    return f"{conn.form.request_name_prefix}{request.title} [{key}]"


def create_approval(conn: WeaverConnector, action: Action) -> ActionResult:
    """One workflow per outbox row: found again (and submitted if still a draft) rather than created twice."""
    request = payload(CreateApproval, action)
    form, key = conn.form, action.idempotency_key
    workflow_id = int(request.process_code) if request.process_code.isdigit() else form.workflow_id
    interview = request.interview_id or action.interview_id or ""
    rows, unmapped = main_data(conn, request, f"{key}|{interview}")
    user = request.originator
    found = find_request(conn, user, key) if action.maybe_sent else None
    if found is None:
        try:
            created = conn.client.pa("POST", "doCreateRequest", user, {
                "workflowId": str(workflow_id), "requestName": request_name(conn, request, key), "mainData": rows,
                "otherParams": {"isnextflow": "0"}}, idempotent=False)
        except TransientError:
            found = find_request(conn, user, key)  # did the lost call create it?
            if found is None:
                raise
        else:
            found = _request_id(created)
            submit(conn, user, found, workflow_id)
            return _result(found, unmapped, recovered=False)
    if _at_creator_node(conn, found):
        submit(conn, user, found, workflow_id)
    return _result(found, unmapped, recovered=True)


def _request_id(created: Mapping[str, Any]) -> str:
    data = created.get("data")
    rid = data.get("requestid") if isinstance(data, Mapping) else None
    if isinstance(rid, bool) or not isinstance(rid, int | str) or not str(rid).isdigit() or int(rid) <= 0:
        # created (SUCCESS) but unreadable: a retry searches for it by the reference instead of creating again
        raise TransientError(f"doCreateRequest answered SUCCESS without a request id: {created.get('data')!r}"[:300],
                             vendor=VENDOR)
    return str(rid)


def submit(conn: WeaverConnector, user: str, request_id: str, workflow_id: int) -> None:
    """submitRequest from the creator node; "not the current operator" (NO_PERMISSION, isremark 2) after an earlier
    submit whose answer was lost is fine once the status shows it left the creator node."""
    try:
        conn.client.pa("POST", "submitRequest", user, {"requestId": request_id, "workflowId": str(workflow_id)},
                       idempotent=False)
    except PermissionDenied:
        if _at_creator_node(conn, request_id):
            raise
    except TransientError:
        if _at_creator_node(conn, request_id):
            raise


def _at_creator_node(conn: WeaverConnector, request_id: str) -> bool:
    status = conn.client.pa("GET", "getRequestStatus", conn.options.actor_userid, {"requestId": request_id})
    data = status.get("data")
    if not isinstance(data, Mapping) or "currentNodeType" not in data:
        raise TransientError(f"getRequestStatus of {request_id}: no currentNodeType", vendor=VENDOR)
    if str(data["currentNodeType"]) != "0":
        return False
    return not any(str(row.get("logtype")) == SENT_BACK for row in _log(conn, request_id))  # sent back: decided


def find_request(conn: WeaverConnector, user: str, key: str, page_size: int = 50) -> str | None:
    """The originator's request whose title carries `[key]` (getMyWorkflowRequestList, title condition)."""
    page = 1
    while True:
        rows = conn.client.listing("getMyWorkflowRequestList", user, {
            "pageNo": str(page), "pageSize": str(page_size), "conditions": {"requestname": key}})
        for row in rows:
            if not isinstance(row, Mapping):
                raise TransientError("request search met an unreadable row; not creating again before a clean "
                                     "search", vendor=VENDOR)  # might be ours
            if f"[{key}]" in str(row.get("requestName", "")) and str(row.get("requestId", "")).isdigit():
                return str(row["requestId"])
        if len(rows) < page_size:
            return None
        page += 1


def _result(request_id: str, unmapped: list[str], recovered: bool) -> ActionResult:
    detail: dict[str, Any] = {"recovered": True} if recovered else {}
    if unmapped:
        detail["unmapped"] = unmapped
    return ActionResult(request_id, detail,
                        handoff={"workflows": {NEW_REQUESTS: [{"id": request_id, "at": utcnow().isoformat()}]}})


# ---------------------------------------------------------------- poll


def read_workflows(conn: WeaverConnector, cursor: Mapping[str, Any]) -> Iterator[StreamItem]:
    """State, log and operators of the workflows Lifeline started, until decided and `lookback_days` old.

    Cursor `{"requests": {id: {"at": iso, "state": status, "views": {userid: viewType}}}, "listed_since": date}`.
    The watermark is the pass's start once the listing was whole (as many rows as the count) and every open
    request was read; else none (unchanged). A request whose state
    cannot be read (an answer without `currentNodeType`, or refused as deleted/unknown) is quarantined with the
    vendor's words and stays open: its result is never guessed. A failed call (expired token twice, an HTML page,
    an error object where an array belongs) raises: nothing of this pass is committed, the cursor stays.
    """
    started = utcnow()
    known: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (cursor.get("requests") or {}).items()}
    for entry in cursor.get(NEW_REQUESTS) or []:
        if isinstance(entry, Mapping) and str(entry.get("id", "")).isdigit():
            known.setdefault(str(entry["id"]), {"at": str(entry.get("at") or started.isoformat()),
                                                "state": RequestStatus.submitted.value, "views": {}})
    horizon = started - timedelta(days=conn.options.lookback_days)
    whole = True
    since = str(cursor.get("listed_since") or horizon.astimezone(SERVER_ZONE).date().isoformat())
    today = started.astimezone(SERVER_ZONE).date().isoformat()
    if conn.options.workflow is not None:
        listed, whole = yield from _listed(conn, since, today)
        for request_id, at in listed.items():
            known.setdefault(request_id, {"at": at.isoformat(), "state": RequestStatus.submitted.value,
                                          "views": {}})
    for request_id, entry in known.items():
        if entry["state"] != RequestStatus.submitted.value:
            continue
        known[request_id] = yield from _poll(conn, request_id, entry)
    kept = {k: v for k, v in known.items()
            if v["state"] == RequestStatus.submitted.value or datetime.fromisoformat(v["at"]) >= horizon}
    yield Checkpoint({"requests": kept, "listed_since": today}, watermark=started if whole else None)


PAGE = 50


def _listed(conn: WeaverConnector, since: str, today: str
            ) -> Generator[StreamItem, None, tuple[dict[str, datetime], bool]]:
    """The actor's requests of the workflow created from `since` to `today` (server dates, whole days, so a
    pass re-reads its first day): id -> creation time, and whether the listing was whole."""
    actor, workflow_id = conn.options.actor_userid, str(conn.form.workflow_id)
    conditions = {"createdateselect": "6", "createdatefrom": since, "createdateto": today}
    total = conn.client.count("getMyWorkflowRequestCount", actor, {"conditions": conditions})
    found: dict[str, datetime] = {}
    seen, page, bad = 0, 1, 0
    while True:
        rows = conn.client.listing("getMyWorkflowRequestList", actor, {
            "pageNo": str(page), "pageSize": str(PAGE), "conditions": conditions})
        seen += len(rows)
        for row in rows:
            info = row.get("workflowBaseInfo") if isinstance(row, Mapping) else None
            rid = row.get("requestId") if isinstance(row, Mapping) else None
            created = _when(*str(row.get("createTime", "")).partition(" ")[::2]) if isinstance(row, Mapping) \
                else None
            if not (isinstance(rid, str) and rid.isdigit() and isinstance(info, Mapping) and created is not None):
                yield Malformed("getMyWorkflowRequestList row without requestId, workflowBaseInfo or createTime",
                                row, str(rid) if isinstance(rid, str | int) else None)
                bad += 1
                continue
            if str(info.get("workflowId")) == workflow_id:
                found[rid] = created
        if len(rows) < PAGE:
            return found, seen >= total and not bad
        page += 1


def _poll(conn: WeaverConnector, request_id: str, entry: dict[str, Any]
          ) -> Generator[StreamItem, None, dict[str, Any]]:
    actor = conn.options.actor_userid
    try:
        status = conn.client.pa("GET", "getRequestStatus", actor, {"requestId": request_id})
    except (InvalidRequest, NotFound, PermissionDenied) as exc:  # deleted, unknown, or not visible to the actor
        yield Malformed(f"workflow {request_id}: status unreadable, left open: {exc}", {"requestId": request_id},
                        f"approval:{request_id}")
        return entry
    data = status.get("data")
    node_type = str(data.get("currentNodeType")) if isinstance(data, Mapping) and "currentNodeType" in data else None
    if not isinstance(data, Mapping) or node_type not in ("0", "1", "2", "3"):
        yield Malformed(f"workflow {request_id}: getRequestStatus without a currentNodeType, left open",
                        {"requestId": request_id, "data": data}, f"approval:{request_id}")
        return entry
    log = _log(conn, request_id)
    latest = max(log, key=_log_order, default=None)
    if node_type == "3":
        state = RequestStatus.approved
    elif node_type == "0" and latest is not None and str(latest.get("logtype")) == SENT_BACK:
        state = RequestStatus.refused
    else:
        state = RequestStatus.submitted
    at = _created_at(log) or datetime.fromisoformat(entry["at"])
    yield conn.parse(RescheduleRequest, {"requestId": request_id, "currentNodeType": node_type},
                     remote_id=f"approval:{request_id}", status=state, requested_by=Role.candidate, occurred_at=at)
    views = dict(entry.get("views") or {})
    creator = str(data.get("creatorId", ""))
    for row in conn.client.rows("getRequestOperatorInfo", actor, {"requestid": request_id}):
        if not (isinstance(row, Mapping) and str(row.get("userid")) == creator):  # the originator reads no request
            yield from _operator(conn, request_id, row, at, views)
    return {"at": entry["at"], "state": state.value, "views": views}


def _log(conn: WeaverConnector, request_id: str) -> list[Mapping[str, Any]]:
    rows = conn.client.rows("getRequestLog", conn.options.actor_userid, {"requestId": request_id})
    return [row for row in rows if isinstance(row, Mapping)]


def _log_order(row: Mapping[str, Any]) -> tuple[str, str, int]:
    ident = str(row.get("logid") or row.get("id") or "0")
    return (str(row.get("operatedate", "")), str(row.get("operatetime", "")), int(ident) if ident.isdigit() else 0)


def _when(date: Any, clock: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(f"{date}T{clock}").replace(tzinfo=SERVER_ZONE)
    except (TypeError, ValueError):
        return None


def _created_at(log: list[Mapping[str, Any]]) -> datetime | None:
    times = [_when(r.get("operatedate"), r.get("operatetime")) for r in log if str(r.get("logtype")) == SUBMIT]
    found = [t for t in times if t is not None]
    return min(found) if found else None


def _operator(conn: WeaverConnector, request_id: str, row: Any, at: datetime,
              views: dict[str, Any]) -> Iterator[StreamItem]:
    """An approver's assignment as a staff notification; their first view (viewType -1/-2) as its read."""
    user = row.get("userid") if isinstance(row, Mapping) else None
    view = row.get("viewType") if isinstance(row, Mapping) else None
    if isinstance(user, bool) or not isinstance(user, int | str) or not str(user).isdigit() \
            or not isinstance(view, int | str) or not str(view).lstrip("-").isdigit():
        yield Malformed(f"workflow {request_id}: operator row without userid/viewType", row)
        return
    user, view = str(user), int(view)
    note = f"workflow:{request_id}:{user}"
    received = _when(row.get("receivedate"), row.get("receivetime")) or at
    if user not in views:
        yield conn.parse(Notification, row, remote_id=note, occurred_at=received, purpose=NotificationPurpose.hr_task,
                         channel=Channel("weaver"), recipient=user, audience=Audience.staff,
                         status=DeliveryStatus.delivered, status_raw=f"isremark {row.get('isremark')}")
    if view in VIEWED and views.get(user) not in VIEWED:
        seen = _when(row.get("operatedate"), row.get("operatetime")) or utcnow()
        yield conn.parse(DeliveryEvent, row, remote_id=f"{note}:read",
                         notification_id=canonical_id(conn.instance.name, note), type=DeliveryType.read,
                         channel=Channel("weaver"), code=f"viewType {view}", status_raw=str(row.get("isremark")),
                         occurred_at=seen)
    views[user] = view

