"""The Weaver emulator's message center (weaver-oa.md §7) and unified todo, ofs (§8).

Message center: `sendCustomMessageSingle` needs a configured source `code` and one recipient list (`userIdList`,
`loginIdList`, `workCodeList` or `lastNameList`, comma-separated); it records the message under its `targetId`,
which `alterCustomMessageSingle` (a new `bizState`) and `deleteCustomMessageSingle` match (+ recipients, + `code`
when given). The answer body is UNCONFIRMED (§7.1): `{"code":0,"msg":…,"status":true}`, a refusal
`{"code":-1,"msg":…,"status":false}`. A repeated `targetId` is taken (UNCONFIRMED, §10) and counted; recipients no
rule resolves are dropped silently ("added to the cache"), a list nobody in it resolves is refused.

ofs: no token; `syscode` (+ the IP allow-list) decides. One row per (`syscode`, `flowid`, `receiver`); a push
whose `receivets` is smaller than the row's is answered `operResult "1"` and not applied (the larger wins). Failure
texts are UNCONFIRMED (§15); a delete of nothing succeeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lifeline_hub.connectors.weaver.emulator_settings import Json, OaUser

if TYPE_CHECKING:
    from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld

RECIPIENT_LISTS = ("userIdList", "loginIdList", "workCodeList", "lastNameList")
BIZ_STATES = ("0", "1", "2", "3", "27", "34", "35")
OFS_FIELDS = ("syscode", "flowid", "requestname", "workflowname", "nodename", "pcurl", "creator", "createdatetime",
              "receiver", "receivedatetime", "receivets")
OFS_ISREMARK = {"ReceiveTodoRequestByJson": "0", "ProcessDoneRequestByJson": "2", "ProcessOverRequestByJson": "4"}


class Refused(Exception):
    """A message-center or ofs refusal: the body to answer (HTTP 200)."""

    def __init__(self, body: Json) -> None:
        super().__init__(str(body))
        self.body = body


def push_answer(ok: bool, msg: str) -> Json:
    return {"code": 0 if ok else -1, "msg": msg, "status": ok}


def identity(user: OaUser, recipient_list: str) -> str:
    """How a recipient list names `user`."""
    return {"userIdList": str(user.id), "loginIdList": user.loginid, "workCodeList": user.workcode,
            "lastNameList": user.name}[recipient_list]


@dataclass
class Notice:
    target_id: str
    code: str
    recipients: list[int]
    title: str
    context: str
    link_url: str
    link_mobile_url: str
    biz_state: str
    at: float
    creater: str = ""
    deleted: bool = False
    states: list[str] = field(default_factory=list)


class MessageCenter:
    """Custom messages pushed to OA users (§7)."""

    def __init__(self, world: WeaverWorld) -> None:
        self.world = world
        self.notices: list[Notice] = []
        self.repeated_targets = 0

    def _recipients(self, p: dict[str, str]) -> list[int]:
        listed = next(((name, p[name]) for name in RECIPIENT_LISTS if (p.get(name) or "").strip()), None)
        if listed is None:
            raise Refused(push_answer(False, "接收人不能为空"))
        name, raw = listed
        users = self.world.settings.users
        by_key: dict[str, OaUser] = {identity(u, name): u for u in users if u.active}
        found = [by_key[v.strip()].id for v in raw.split(",") if v.strip() in by_key]
        if not found:
            raise Refused(push_answer(False, "接收人不存在"))
        return list(dict.fromkeys(found))

    def _code(self, p: dict[str, str], required: bool) -> str:
        code = (p.get("code") or "").strip()
        if not code and not required:
            return ""
        if not code.isdigit() or int(code) not in self.world.settings.message_source_codes:
            raise Refused(push_answer(False, f"消息来源[{code}]不存在"))
        return code

    def send(self, p: dict[str, str]) -> Json:
        code = self._code(p, required=True)
        recipients = self._recipients(p)
        target = (p.get("targetId") or "").strip()
        if target and any(n.target_id == target for n in self.notices):
            self.repeated_targets += 1
        state = (p.get("bizState") or "0").strip()
        self.notices.append(Notice(target, code, recipients, p.get("title") or "", p.get("context") or "",
                                   p.get("linkUrl") or "", p.get("linkMobileUrl") or "", state, self.world.now(),
                                   p.get("creater") or "", states=[state]))
        return push_answer(True, "推送成功")

    def _matching(self, p: dict[str, str]) -> list[Notice]:
        target = (p.get("targetId") or "").strip()
        if not target:
            raise Refused(push_answer(False, "targetId不能为空"))
        code = self._code(p, required=False)
        recipients = set(self._recipients(p))
        found = [n for n in self.notices if n.target_id == target and not n.deleted
                 and (not code or n.code == code) and recipients & set(n.recipients)]
        if not found:
            raise Refused(push_answer(False, f"消息[{target}]不存在"))
        return found

    def alter(self, p: dict[str, str]) -> Json:
        state = (p.get("bizState") or "").strip()
        if state not in BIZ_STATES:
            raise Refused(push_answer(False, f"bizState[{state}]不正确"))
        for notice in self._matching(p):
            notice.biz_state = state
            notice.states.append(state)
        return push_answer(True, "修改成功")

    def delete(self, p: dict[str, str]) -> Json:
        for notice in self._matching(p):
            notice.deleted = True
        return push_answer(True, "删除成功")

    def inspect(self) -> list[Json]:
        with self.world.lock:
            return [{"targetId": n.target_id, "code": n.code, "recipients": n.recipients, "title": n.title,
                     "context": n.context, "linkUrl": n.link_url, "linkMobileUrl": n.link_mobile_url,
                     "bizState": n.biz_state, "states": n.states, "deleted": n.deleted, "creater": n.creater}
                    for n in self.notices]

    def summary(self) -> Json:
        return {"notices": len(self.notices), "notices_deleted": sum(n.deleted for n in self.notices),
                "repeated_target_ids": self.repeated_targets}


@dataclass
class Todo:
    """One ofs row: an item of `syscode`'s flow `flowid` in `receiver`'s OA todo list."""

    fields: dict[str, str]
    isremark: str
    receivets: int
    viewtype: str = "0"
    pushes: int = 1


class UnifiedTodo:
    """Unified todo rows pushed by heterogeneous systems (§8)."""

    def __init__(self, world: WeaverWorld) -> None:
        self.world = world
        self.rows: dict[tuple[str, str, str], Todo] = {}
        self.stale = 0

    def _answer(self, syscode: str, ok: bool, message: str = "", data_type: str = "WfData",
                oper_type: str = "AutoNew") -> Json:
        return {"syscode": syscode, "dataType": data_type, "operType": oper_type, "operResult": "1" if ok else "0",
                "message": message}

    def _system(self, body: Json, client_ip: str) -> str:
        syscode = str(body.get("syscode") or "")
        if syscode not in self.world.settings.ofs_systems:
            raise Refused(self._answer(syscode, False, f"异构系统[{syscode}]不存在或未启用", "OtherSys", "Check"))
        allowed = self.world.settings.ofs_allowed_ips
        if allowed is not None and client_ip not in allowed:
            raise Refused(self._answer(syscode, False, f"IP[{client_ip}]不在允许范围内", "OtherSys", "Check"))
        return syscode

    def _receiver_known(self, receiver: str) -> bool:
        rule = self.world.settings.ofs_identity
        return any(u.active and receiver == (u.loginid if rule == "loginid" else u.workcode if rule == "workcode"
                                             else str(u.id)) for u in self.world.settings.users)

    def receive(self, endpoint: str, body: Json, client_ip: str) -> Json:
        """ReceiveRequestInfoByJson (its own `isremark`) and the Todo/Done/Over variants: upsert one row."""
        syscode = self._system(body, client_ip)
        values = {k: str(v) for k, v in body.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}
        missing = [name for name in OFS_FIELDS if not values.get(name, "").strip()]
        isremark = OFS_ISREMARK.get(endpoint, values.get("isremark", ""))
        if isremark not in ("0", "2", "4"):
            missing.append("isremark")
        if missing:
            return self._answer(syscode, False, f"参数[{','.join(missing)}]不能为空或不正确")
        if not values["receivets"].isdigit():
            return self._answer(syscode, False, "receivets必须是毫秒时间戳")
        if not self._receiver_known(values["receiver"]):
            return self._answer(syscode, False, f"接收人[{values['receiver']}]转换失败")
        key, stamp = (syscode, values["flowid"], values["receiver"]), int(values["receivets"])
        row = self.rows.get(key)
        if row is None:
            self.rows[key] = Todo(values, isremark, stamp, values.get("viewtype", "0"))
            return self._answer(syscode, True)
        row.pushes += 1
        if stamp < row.receivets:
            self.stale += 1
        else:
            row.fields, row.isremark, row.receivets = values, isremark, stamp
            row.viewtype = values.get("viewtype", row.viewtype)
        return self._answer(syscode, True, oper_type="AutoEdit")

    def delete_user(self, body: Json, client_ip: str) -> Json:
        syscode = self._system(body, client_ip)
        flowid, userid = str(body.get("flowid") or ""), str(body.get("userid") or "")
        if not flowid or not userid:
            return self._answer(syscode, False, "参数[flowid,userid]不能为空", oper_type="Del")
        self.rows.pop((syscode, flowid, userid), None)
        return self._answer(syscode, True, oper_type="Del")

    def delete_flow(self, body: Json, client_ip: str) -> Json:
        syscode = self._system(body, client_ip)
        flowid = str(body.get("flowid") or "")
        if not flowid:
            return self._answer(syscode, False, "参数[flowid]不能为空", oper_type="Del")
        for key in [k for k in self.rows if k[:2] == (syscode, flowid)]:
            del self.rows[key]
        return self._answer(syscode, True, oper_type="Del")

    def view(self, syscode: str, flowid: str, receiver: str) -> None:
        """The receiver opens the item in the OA (its own view state; nothing goes back to the pushing system)."""
        with self.world.lock:
            self.rows[(syscode, flowid, receiver)].viewtype = "1"

    def inspect(self) -> list[Json]:
        with self.world.lock:
            return [{"syscode": s, "flowid": f, "receiver": r, "isremark": t.isremark, "viewtype": t.viewtype,
                     "receivets": t.receivets, "pushes": t.pushes, "fields": t.fields}
                    for (s, f, r), t in self.rows.items()]

    def summary(self) -> Json:
        return {"ofs_rows": len(self.rows), "ofs_stale_pushes": self.stale}
