"""The e-cology workflow engine of the Weaver emulator (weaver-oa.md §4-§6, §13.4-6): requests made by
doCreateRequest, moved by submitRequest/rejectRequest (or by `Engine` drive methods acting as an approver), read
back through getRequestStatus, getRequestLog, getRequestOperatorInfo and the acting user's lists.

A request starts at the creation node (currentNodeType "0") as a draft with `isnextflow=0`, else flows on to the
next node (log row `logtype "2"` 提交) whose operators get rows `isremark 0`, `viewType 0`; an approver's submit is
`logtype "0"` 批准 and moves it on, the archive node (`"3"`) sets every operator row to `isremark 4`; a send back is
`logtype "3"` 退回: back to the creator (`isbereject "1"`). Viewing sets `viewType -2`; a participant who had viewed
sees `-1` (new feedback) after the next step. There is no idempotency (§4.4): every create makes a request, and
`created`/`duplicates()` count them for the bench.

Choices where the reference is silent (UNCONFIRMED, §15): a value a form column refuses (too long, not a select
option, a file on a column without an upload directory) is `PARAM_ERROR` with `field_<column>` and
`SAVE_MAIN_TABLE_FAIL` (the reference names `field_<name>` for attachment problems); an unknown or deleted requestId
on a read is `NO_PERMISSION`; logs are newest first and complete unless `otherParams` asks for a page; lists are
newest request first.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lifeline_hub.connectors.weaver.emulator_settings import FormField, Json, OaUser, Workflow

if TYPE_CHECKING:
    from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld

PENDING = (0, 1, 8, 9)
"""isremark values of an item still in the user's todo (§5: pending, forwarded, CC)."""


class PaError(Exception):
    """A paService refusal (family B, HTTP 200)."""

    def __init__(self, code: str, err_msg: Json, msg_type: str | None = None) -> None:
        super().__init__(f"{code} {err_msg}")
        self.code, self.err_msg, self.msg_type = code, err_msg, msg_type

    def body(self, operation: bool) -> Json:
        """The answer: an operation's also carries `reqFailMsg` (with `msgType`, §3)."""
        out: Json = {"code": self.code, "errMsg": self.err_msg}
        if operation:
            fail = req_fail_msg()
            if self.msg_type:
                fail["msgType"] = self.msg_type
            out["reqFailMsg"] = fail
        return out


def req_fail_msg() -> Json:
    return {"keyParameters": {}, "msgInfo": {}, "otherParams": {"doAutoApprove": "0"}}


def success(data: Any = None, operation: bool = False) -> Json:
    out: Json = {"code": "SUCCESS", "errMsg": {}}
    if data is not None:
        out["data"] = data
    if operation:
        out["reqFailMsg"] = req_fail_msg()
    return out


@dataclass
class Operator:
    """A workflow_currentoperator row."""

    id: int
    userid: int
    nodeid: int
    node_name: str
    groupid: int
    isremark: int
    received_at: float
    view_type: int = 0
    preisremark: int = 0
    operated_at: float | None = None


@dataclass
class LogRow:
    """A workflow_requestlog row."""

    id: int
    nodeid: int
    node_name: str
    destnodeid: int
    operator: int
    logtype: str
    remark: str
    at: float
    received: list[int]


@dataclass
class WfRequest:
    id: int
    workflow: Workflow
    name: str
    level: str
    creator: int
    created_at: float
    main: dict[str, str]
    details: dict[str, list[dict[str, str]]]
    node: int = 0
    status: str = "创建"
    bereject: bool = False
    operators: list[Operator] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)
    last_at: float = 0.0
    last_operator: int = 0
    deleted: bool = False

    @property
    def node_type(self) -> str:
        return self.workflow.nodes[self.node].kind

    def row_of(self, user: int) -> Operator | None:
        """The user's latest operator row."""
        return next((o for o in reversed(self.operators) if o.userid == user), None)


def parse_json(raw: str | None) -> Any:
    if raw is None or raw == "":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return ValueError


def int_param(raw: str | None) -> int:
    """Java's lenient parse: a non-number is 0."""
    try:
        return int(str(raw).strip())
    except ValueError:
        return 0


class Engine:
    """Workflows and their requests, under the world's lock."""

    def __init__(self, world: WeaverWorld) -> None:
        self.world = world
        self.requests: dict[int, WfRequest] = {}
        self.created = 0
        self._ids = iter(range(447_473, 10**9))
        self._rows = iter(range(1, 10**9))

    # ---------------------------------------------------------------- create (§4.1-4.3)

    def create(self, user: OaUser, p: dict[str, str]) -> Json:
        workflow_id = int_param(p.get("workflowId"))
        if workflow_id <= 0:
            raise PaError("PARAM_ERROR", {"workflowId": 0})
        if not (p.get("requestName") or "").strip():
            raise PaError("PARAM_ERROR", {"requestName": ""})
        main = parse_json(p.get("mainData"))
        if main is None or main == []:
            raise PaError("PARAM_ERROR", {"mainData": "新建流程主表数据不允许为空"})
        workflow = next((w for w in self.world.settings.workflows if w.id == workflow_id), None)
        if workflow is None:
            raise PaError("PARAM_ERROR", {"msg": f"流程ID[{workflow_id}]不存在或未启用"})
        if not workflow.enabled:
            raise PaError("NO_PERMISSION", {"msg": f"流程[{workflow.name}]已禁用或被锁定"})
        other = parse_json(p.get("otherParams"))
        other = other if isinstance(other, dict) else {}
        if str(other.get("isVerifyPer", "1")) != "0" and workflow.creators is not None \
                and user.id not in workflow.creators:
            raise PaError("NO_PERMISSION", {"msg": f"{user.name}没有创建流程[{workflow.name}]的权限"})
        values = self._main_values(workflow, main, workflow_id)
        details = self._detail_rows(workflow, parse_json(p.get("detailData")))
        now = self.world.now()
        request = WfRequest(next(self._ids), workflow, p["requestName"].strip(), p.get("requestLevel") or "0",
                            user.id, now, values, details, last_at=now, last_operator=user.id)
        self.requests[request.id] = request
        self.created += 1
        self._enter(request, 0)
        if str(other.get("isnextflow", "1")) != "0":
            self._act(request, user.id, "2", p.get("remark") or "", 1)
        return success({"requestid": request.id}, operation=True)

    def _main_values(self, workflow: Workflow, main: Any, workflow_id: int) -> dict[str, str]:
        if main is ValueError or not isinstance(main, list) or not all(
                isinstance(f, dict) and "fieldName" in f for f in main):
            raise PaError("PARAM_ERROR", {"workflowId": workflow_id})  # as confusingly as e-cology (§4.3)
        return self._values(workflow.fields, main, "error_param_", "SAVE_MAIN_TABLE_FAIL")

    def _values(self, columns: list[FormField], given: list[Json], unknown_key: str, msg_type: str) -> dict[str, str]:
        known = {c.name: c for c in columns}
        values: dict[str, str] = {}
        for item in given:
            name, value = str(item.get("fieldName")), item.get("fieldValue")
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) \
                if isinstance(value, list | dict) else "" if value is None else str(value)
            column = known.get(name)
            if column is None:
                raise PaError("PARAM_ERROR", {f"{unknown_key}{name}": text}, msg_type)
            reason = refusal(column, text)
            if reason:
                raise PaError("PARAM_ERROR", {f"field_{name}": reason}, msg_type)
            values[name] = text
        return values

    def _detail_rows(self, workflow: Workflow, detail: Any) -> dict[str, list[dict[str, str]]]:
        if detail is None:
            return {}
        if detail is ValueError or not isinstance(detail, list):
            raise PaError("PARAM_ERROR", {"detailData": "明细表数据格式错误"}, "SAVE_DETAIL_TABLE_FAIL")
        rows: dict[str, list[dict[str, str]]] = {}
        for table in detail:
            name = str(table.get("tableDBName")) if isinstance(table, dict) else ""
            if name not in workflow.detail_tables:
                raise PaError("PARAM_ERROR", {"error_param_detailData_tableName": name}, "SAVE_DETAIL_TABLE_FAIL")
            records = table.get("workflowRequestTableRecords") or []
            if not isinstance(records, list):
                raise PaError("PARAM_ERROR", {"error_param_detailData_tableName": name}, "SAVE_DETAIL_TABLE_FAIL")
            for record in records:
                fields = record.get("workflowRequestTableFields") if isinstance(record, dict) else None
                if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
                    raise PaError("PARAM_ERROR", {"error_param_detailData_tableName": name}, "SAVE_DETAIL_TABLE_FAIL")
                rows.setdefault(name, []).append(
                    self._values(workflow.detail_tables[name], fields, "errParam_detail_", "SAVE_DETAIL_TABLE_FAIL"))
        return rows

    # ---------------------------------------------------------------- moving (§4.5, §13.5)

    def _enter(self, request: WfRequest, node: int) -> None:
        """Put the request at `node`: operator rows for its people, or the archive."""
        request.node = node
        target = request.workflow.nodes[node]
        now = self.world.now()
        if target.kind == "3":
            for row in request.operators:
                row.preisremark, row.isremark = row.isremark, 4
            return
        people = [request.creator] if target.kind == "0" else target.operators
        group = next(self._rows)
        for person in people:
            request.operators.append(Operator(next(self._rows), person, target.id, target.name, group, 0, now))

    def _act(self, request: WfRequest, user: int, logtype: str, remark: str, dest: int) -> None:
        """`user` handles the current node (logtype 2 submit, 0 approve, 3 send back) and the request goes to `dest`."""
        now = self.world.now()
        here = request.workflow.nodes[request.node]
        for row in request.operators:
            if row.nodeid == here.id and row.isremark in PENDING:
                row.preisremark, row.isremark = row.isremark, 2
                if row.userid == user:
                    row.operated_at = now
            elif row.userid != user and row.view_type == -2:
                row.view_type = -1  # viewed, and now there is new feedback
        there = request.workflow.nodes[dest]
        received = [request.creator] if there.kind == "0" else list(there.operators)
        request.log.append(LogRow(next(self._rows), here.id, here.name, there.id, user, logtype, remark, now,
                                  received if there.kind != "3" else []))
        request.last_at, request.last_operator = now, user
        request.bereject = logtype == "3"
        request.status = "退回" if logtype == "3" else f"出口{request.node + 1}"
        self._enter(request, dest)

    def _pending_row(self, request: WfRequest, user: int) -> Operator | None:
        here = request.workflow.nodes[request.node]
        return next((o for o in request.operators if o.userid == user and o.nodeid == here.id
                     and o.isremark in (0, 1)), None)

    def _request(self, request_id: int) -> WfRequest:
        request = self.requests.get(request_id)
        if request is None or request.deleted:
            raise PaError("NO_PERMISSION", {"msg": f"请求[{request_id}]不存在或已被删除"})
        return request

    def submit(self, user: OaUser, p: dict[str, str]) -> Json:
        request_id = int_param(p.get("requestId"))
        if request_id <= 0 or (self.world.settings.submit_needs_workflow_id and int_param(p.get("workflowId")) <= 0):
            raise PaError("PARAM_ERROR", {"errorParam_requestid": 0})
        request = self._request(request_id)
        if self._pending_row(request, user.id) is None:
            row = request.row_of(user.id)
            raise PaError("NO_PERMISSION", {"isremark": row.isremark if row else -1}, "NO_REQUEST_SUBMIT_PERMISSION")
        main = parse_json(p.get("mainData"))
        if main is not None:
            request.main.update(self._main_values(request.workflow, main, request.workflow.id))
        other = parse_json(p.get("otherParams"))
        other = other if isinstance(other, dict) else {}
        if str(other.get("judgeFormMustInput", "0")) == "1":
            missing = [f.name for f in request.workflow.fields if f.mandatory and not request.main.get(f.name)]
            if missing:
                raise PaError("FAIL", {"msg": f"必填字段未填写: {','.join(missing)}"}, "JUDGE_MUST_INPUT")
        if other.get("src") == "save":
            return success(operation=True)
        self._advance(request, user.id, p.get("remark") or "")
        return success(operation=True)

    def _advance(self, request: WfRequest, user: int, remark: str) -> None:
        self._act(request, user, "2" if request.node_type == "0" else "0", remark, request.node + 1)

    def reject(self, user: OaUser, p: dict[str, str]) -> Json:
        request = self._request(int_param(p.get("requestId")))
        if request.node_type == "0" or self._pending_row(request, user.id) is None:
            row = request.row_of(user.id)
            raise PaError("NO_PERMISSION", {"isremark": row.isremark if row else -1,
                                            "takisremark": "", "nodeType": request.node_type},
                          "NO_REQUEST_SUBMIT_PERMISSION")
        self._act(request, user.id, "3", p.get("remark") or "", 0)
        return success(operation=True)

    # ---------------------------------------------------------------- reads (§5)

    def _visible(self, user: OaUser, raw: str | None) -> WfRequest:
        request = self._request(int_param(raw))
        if user.id != request.creator and request.row_of(user.id) is None and user.id != 1:
            raise PaError("NO_PERMISSION", {"msg": f"{user.name}没有查看请求[{request.id}]的权限"})
        return request

    def status(self, user: OaUser, p: dict[str, str]) -> Json:
        request = self._visible(user, p.get("requestId"))
        node, workflow, row = request.workflow.nodes[request.node], request.workflow, request.row_of(user.id)
        rejected_to = str(workflow.nodes[0].id) if request.bereject else ""
        return success({
            "requestId": str(request.id), "requestName": request.name, "workflowId": workflow.id,
            "creatorId": str(request.creator), "currentNodeId": str(node.id), "currentNodeType": node.kind,
            "isremark": row.isremark if row else -1, "status": request.status,
            "currentOperateId": str(row.id) if row else "", "takisremark": "", "rejectToNodeid": rejected_to,
            "submitToNodeid": "",
            "mainTableInfoEntity": {"billid": request.id % 100_000, "tableDbName": workflow.table},
            "workflowBaseInfo": {"workflowId": str(workflow.id), "formId": str(workflow.form_id), "isBill": "1",
                                 "workflowName": workflow.name, "workflowTypeId": str(workflow.type_id),
                                 "workflowTypeName": workflow.type_name}})

    def log(self, user: OaUser, p: dict[str, str]) -> Json:
        request = self._visible(user, p.get("requestId"))
        rows = [self._log_row(r) for r in reversed(request.log)]
        other = parse_json(p.get("otherParams"))
        if isinstance(other, dict) and "pageSize" in other:
            size, number = max(1, int_param(other.get("pageSize"))), max(1, int_param(other.get("pageNumber", 1)))
            rows = rows[(number - 1) * size:number * size]
        return success(rows)

    def _log_row(self, row: LogRow) -> Json:
        at, operator = self.world.stamp(row.at), self.world.user(row.operator)
        names = [u.name for u in map(self.world.user, row.received) if u is not None]
        return {"id": str(row.id), "logid": str(row.id), "nodeid": str(row.nodeid), "nodename": row.node_name,
                "destnodeid": str(row.destnodeid), "operator": str(row.operator),
                "operatorDept": str(operator.department_id) if operator else "",
                "operatedate": at.strftime("%Y-%m-%d"), "operatetime": at.strftime("%H:%M:%S"),
                "logtype": row.logtype, "remarkHtml": row.remark, "receivedPersons": ",".join(names),
                "receivedPersonids": ",".join(map(str, row.received)), "agentorbyagentid": "-1", "agenttype": "0",
                "operatortype": "0", "isbranche": "0"}

    def operators(self, user: OaUser, p: dict[str, str]) -> Json:
        request = self._visible(user, p.get("requestid"))
        return success([self._operator_row(o) for o in request.operators])

    def _operator_row(self, row: Operator) -> Json:
        received, person = self.world.stamp(row.received_at), self.world.user(row.userid)
        operated = self.world.stamp(row.operated_at) if row.operated_at is not None else None
        return {"id": row.id, "userid": row.userid, "userName": person.name if person else "", "userType": 0,
                "nodeid": row.nodeid, "nodeName": row.node_name, "groupid": row.groupid, "isremark": row.isremark,
                "preisremark": row.preisremark, "viewType": row.view_type,
                "receivedate": received.strftime("%Y-%m-%d"), "receivetime": received.strftime("%H:%M:%S"),
                "operatedate": operated.strftime("%Y-%m-%d") if operated else "",
                "operatetime": operated.strftime("%H:%M:%S") if operated else "",
                "agenttype": 0, "agentorbyagentid": -1}

    # ---------------------------------------------------------------- lists (§6, family C)

    def listing(self, user: OaUser, kind: str, p: dict[str, str]) -> list[Json]:
        """One page of the acting user's list `kind` (a key of `LISTS`), newest request first."""
        rows = self._matching(user, kind, p)
        size = int_param(p.get("pageSize")) or 10
        number = max(1, int_param(p.get("pageNo")) or 1)
        page = rows[(number - 1) * size:number * size]
        out = [self._list_row(r, user) for r in page]
        if out and self.world.faults.roll("malformed"):
            out[0] = {k: v for k, v in out[0].items() if k != "requestId"} | {"createTime": "2026-13-45 99:99"}
        if out and self.world.faults.roll("duplicate"):
            out.append(dict(out[-1]))
        return out

    def count(self, user: OaUser, kind: str, p: dict[str, str]) -> int:
        return len(self._matching(user, kind, p))

    def _matching(self, user: OaUser, kind: str, p: dict[str, str]) -> list[WfRequest]:
        belongs = LISTS[kind]
        conditions = parse_json(p.get("conditions"))
        conditions = conditions if isinstance(conditions, dict) else {}
        found = [r for r in self.requests.values() if not r.deleted and belongs(r, user.id)
                 and self._meets(r, conditions)]
        return sorted(found, key=lambda r: r.id, reverse=True)

    def _meets(self, request: WfRequest, conditions: Json) -> bool:
        """The documented `conditions` keys the emulator applies; the others are ignored (UNCONFIRMED, §15)."""
        name = str(conditions.get("requestname") or "")
        if name and name not in request.name:
            return False
        if "nodetype" in conditions and str(conditions["nodetype"]) != request.node_type:
            return False
        archived = str(conditions.get("archivestatus") or "")
        if archived and (archived == "1") != (request.node_type == "3"):
            return False
        if "requestlevel" in conditions and str(conditions["requestlevel"]) != request.level:
            return False
        waiting = str(conditions.get("unophrmid") or "")
        if waiting and not any(str(o.userid) == waiting and o.isremark in (0, 1) for o in request.operators):
            return False
        if str(conditions.get("createdateselect") or "") == "6":
            day = self.world.stamp(request.created_at).strftime("%Y-%m-%d")
            first, last = conditions.get("createdatefrom") or "0000", conditions.get("createdateto") or "9999"
            if not str(first) <= day <= str(last):
                return False
        return True

    def _list_row(self, request: WfRequest, user: OaUser) -> Json:
        node, workflow, row = request.workflow.nodes[request.node], request.workflow, request.row_of(user.id)
        creator, last = self.world.user(request.creator), self.world.user(request.last_operator)

        def at(t: float) -> str:
            return self.world.stamp(t).strftime("%Y-%m-%d %H:%M:%S")

        return {"requestId": str(request.id), "requestName": request.name, "requestLevel": request.level,
                "createTime": at(request.created_at), "creatorId": str(request.creator),
                "creatorName": creator.name if creator else "", "currentNodeId": str(node.id),
                "currentNodeName": node.name, "status": request.status,
                "receiveTime": at(row.received_at) if row else "", "lastOperateTime": at(request.last_at),
                "lastOperatorId": str(request.last_operator), "lastOperatorName": last.name if last else "",
                "sysName": "", "workflowBaseInfo": {"workflowId": str(workflow.id), "workflowName": workflow.name,
                                                    "workflowTypeId": str(workflow.type_id),
                                                    "workflowTypeName": workflow.type_name,
                                                    "formId": str(workflow.form_id)},
                "isremark": str(row.isremark) if row else "", "viewtype": str(row.view_type) if row else "",
                "isbereject": "1" if request.bereject else "0", "currentnodetype": node.kind,
                "nodeid": str(row.nodeid) if row else "", "userid": str(user.id)}

    # ---------------------------------------------------------------- drive (an approver, HR, a test)

    def approve(self, request_id: int, user_id: int | None = None, remark: str = "同意") -> Json:
        """The approver (default: the first pending one) approves: the request moves on (archived after the last
        approval node)."""
        request = self._request(request_id)
        user = self._approver(request, user_id)
        self._advance(request, user, remark)
        return self._state(request)

    def send_back(self, request_id: int, user_id: int | None = None, remark: str = "请补充材料") -> Json:
        """The approver sends the request back to its creator (logtype 3, isbereject 1)."""
        request = self._request(request_id)
        user = self._approver(request, user_id)
        self._act(request, user, "3", remark, 0)
        return self._state(request)

    def resubmit(self, request_id: int, remark: str = "") -> Json:
        """The creator submits a draft or a sent-back request again."""
        request = self._request(request_id)
        if request.node_type != "0":
            raise ValueError(f"request {request_id} is not at its creation node")
        self._advance(request, request.creator, remark)
        return self._state(request)

    def view(self, request_id: int, user_id: int) -> Json:
        """`user_id` opens the request: their rows read `viewType -2` (the only read receipt, §5)."""
        request = self._request(request_id)
        rows = [o for o in request.operators if o.userid == user_id]
        if not rows:
            raise KeyError(f"user {user_id} has no part in request {request_id}")
        for row in rows:
            row.view_type = -2
        return self._state(request)

    def force_archive(self, request_id: int, remark: str = "") -> Json:
        """doForceOver by an administrator: logtype `e`, straight to the archive node."""
        request = self._request(request_id)
        self._act(request, 1, "e", remark, len(request.workflow.nodes) - 1)
        request.status = "强制归档"
        return self._state(request)

    def delete(self, request_id: int) -> Json:
        request = self._request(request_id)
        request.deleted = True
        return self._state(request)

    def _approver(self, request: WfRequest, user_id: int | None) -> int:
        if request.node_type not in ("1", "2"):
            raise ValueError(f"request {request.id} is at no approval node (currentNodeType {request.node_type})")
        here = request.workflow.nodes[request.node]
        pending = [o.userid for o in request.operators if o.nodeid == here.id and o.isremark in (0, 1)]
        user = pending[0] if user_id is None and pending else user_id
        if user is None or user not in pending:
            raise ValueError(f"user {user_id} is no pending operator of request {request.id}; pending: {pending}")
        return user

    def _state(self, request: WfRequest) -> Json:
        return {"requestid": request.id, "currentNodeType": request.node_type, "status": request.status,
                "logtypes": [r.logtype for r in request.log], "deleted": request.deleted}

    # ---------------------------------------------------------------- inspection

    def duplicates(self) -> int:
        refs = Counter(r.main.get(self.world.settings.reference_field) for r in self.requests.values())
        return sum(n - 1 for ref, n in refs.items() if ref)

    def inspect(self) -> list[Json]:
        with self.world.lock:
            return [{**self._state(r), "workflowId": r.workflow.id, "requestName": r.name, "creator": r.creator,
                     "main": dict(r.main), "details": r.details,
                     "operators": [self._operator_row(o) for o in r.operators]} for r in self.requests.values()]

    def summary(self) -> Json:
        live = [r for r in self.requests.values() if not r.deleted]
        return {"requests": len(live), "archived": sum(r.node_type == "3" for r in live),
                "sent_back": sum(r.bereject for r in live)}


def refusal(column: FormField, text: str) -> str:
    """Why a form column refuses `text` ('' when it takes it)."""
    if column.max_length is not None and len(text) > column.max_length:
        return f"字段[{column.label}]长度超过{column.max_length}"
    if column.choices is not None and text != "" and text not in column.choices:
        return f"字段[{column.label}]的选项值[{text}]不存在"
    if column.kind == "attachment" and text and not column.upload_dir:
        return f"字段[{column.label}]未设置附件上传目录"
    return ""


Belongs = Callable[[WfRequest, int], bool]


def _todo(r: WfRequest, u: int) -> bool:
    return r.node_type != "3" and any(o.userid == u and o.isremark in PENDING for o in r.operators)


def _handled(r: WfRequest, u: int) -> bool:
    return r.node_type != "3" and not _todo(r, u) and any(o.userid == u and o.isremark == 2 for o in r.operators)


LISTS: dict[str, Belongs] = {
    "ToDo": _todo,
    "BeReject": lambda r, u: r.bereject and _todo(r, u),
    "Handled": _handled,
    "Processed": lambda r, u: r.node_type == "3" and (r.creator == u or r.row_of(u) is not None),
    "My": lambda r, u: r.creator == u,
    "All": lambda r, u: r.creator == u or r.row_of(u) is not None,
}
"""The list families served as `get<Kind>WorkflowRequestList` and `…Count` (§6)."""
