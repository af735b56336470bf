"""Settings of the Weaver e-cology 9 emulator: the OA users (hrmresource), the workflows with their forms and nodes,
the appids, message sources and unified-todo systems an administrator configures (weaver-oa.md §1)."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.core.emulator import Faults

Json = dict[str, Any]
BEIJING = timezone(timedelta(hours=8))
"""e-cology answers times in the server's zone (the sites this emulates run on China Standard Time)."""


class OaUser(BaseModel):
    """A row of hrmresource: the numeric id the `userid` header carries, and the identities ofs and message push
    map (login id, workcode, display name)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    loginid: str
    workcode: str = ""
    department: str = "人力资源部"
    department_id: int = 11
    active: bool = True
    """False: a disabled or abnormal account ("该账号存在异常,单点登录失败", §2.4)."""


class FormField(BaseModel):
    """A column of a workflow's form table, named by its database column (§4.1)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    label: str
    kind: Literal["text", "textarea", "select", "attachment"] = "text"
    max_length: int | None = Field(None, description="varchar length: a longer value is refused (SAVE_MAIN_TABLE_FAIL)")
    choices: list[str] | None = Field(None, description="a select field's option values: any other value is refused")
    mandatory: bool = Field(False, description="judged by submitRequest with otherParams.judgeFormMustInput=1")
    upload_dir: bool = Field(True, description="an attachment field without one refuses files (`field_<name>`)")


class Node(BaseModel):
    """A workflow node: `kind` is currentNodeType (0 creation, 1 approval, 2 processing, 3 archive, §5)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    kind: Literal["0", "1", "2", "3"]
    operators: list[int] = Field(default_factory=list, description="OA user ids (the creation node: the creator)")


class Workflow(BaseModel):
    """A workflow (流程) with its form: main-table columns, detail tables, nodes from creation to archive."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    type_id: int = 5
    type_name: str = "人事流程"
    form_id: int = -101
    fields: list[FormField]
    detail_tables: dict[str, list[FormField]] = Field(default_factory=dict, description="tableDBName -> columns")
    nodes: list[Node]
    creators: list[int] | None = Field(None, description="who may create it (None: everyone)")
    enabled: bool = True

    @property
    def table(self) -> str:
        return f"formtable_main_{abs(self.form_id)}"


def reschedule_workflow() -> Workflow:
    """The default form an administrator would build for Lifeline's reschedule approvals."""
    return Workflow(
        id=1001, name="面试改期审批", fields=[
            FormField(name="candidate", label="候选人", max_length=100),
            FormField(name="interview", label="面试", max_length=200),
            FormField(name="reason", label="改期原因", kind="textarea", max_length=2000),
            FormField(name="proposed_times", label="建议时间", kind="textarea", max_length=1000),
            FormField(name="evidence", label="证据记录", kind="textarea"),
            FormField(name="lifeline_ref", label="Lifeline编号", max_length=100),
            FormField(name="urgency", label="紧急程度", kind="select", choices=["0", "1", "2"]),
            FormField(name="attachment", label="附件", kind="attachment", upload_dir=False),
        ],
        detail_tables={"formtable_main_101_dt1": [FormField(name="slot_start", label="开始时间", max_length=20),
                                                  FormField(name="slot_end", label="结束时间", max_length=20)]},
        nodes=[Node(id=10011, name="申请人", kind="0"), Node(id=10012, name="HR审批", kind="1", operators=[102]),
               Node(id=10013, name="归档", kind="3")])


def default_users() -> list[OaUser]:
    return [OaUser(id=1, name="系统管理员", loginid="sysadmin", workcode="0001", department="信息部", department_id=1),
            OaUser(id=101, name="Lifeline接口", loginid="lifeline", workcode="9101", department="信息部",
                   department_id=1),
            OaUser(id=102, name="王芳", loginid="wangfang", workcode="1002"),
            OaUser(id=103, name="李强", loginid="liqiang", workcode="1003", department="研发部", department_id=12),
            OaUser(id=104, name="张伟", loginid="zhangwei", workcode="1004"),
            OaUser(id=199, name="赵六", loginid="zhaoliu", workcode="1099", active=False)]


class EmulatorSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appids: list[str] = Field(default_factory=lambda: ["7c9e6679-7425-40de-944b-e07fc1f90ae7"],
                              description="rows of ECOLOGY_BIZ_EC (§1)")
    users: list[OaUser] = Field(default_factory=default_users)
    workflows: list[Workflow] = Field(default_factory=lambda: [reschedule_workflow()])
    reference_field: str = Field("lifeline_ref", description=(
        "the form column carrying Lifeline's reference: two workflows with one value are a duplicate"))
    token_ttl_seconds: int = Field(1800, ge=1, description="a token's life without a `time` header (UNCONFIRMED)")
    regist_rotates: bool = Field(True, description="a second regist of an appid makes a new spk/secrit pair")
    submit_needs_workflow_id: bool = Field(True, description=(
        "submitRequest without workflowId answers PARAM_ERROR errorParam_requestid:0 (E8: some builds)"))
    message_source_codes: list[int] = Field(default_factory=lambda: [559], description="消息来源 codes (§1.4)")
    ofs_systems: dict[str, str] = Field(default_factory=lambda: {"lifeline": "Lifeline"},
                                        description="unified todo 异构系统: syscode -> short name (sysName)")
    ofs_allowed_ips: list[str] | None = Field(None, description="the ofs caller IP allow-list (None: any)")
    ofs_identity: Literal["loginid", "workcode", "id"] = Field("loginid", description="人员转换规则 for ofs")
    faults: Faults = Field(default_factory=Faults)
