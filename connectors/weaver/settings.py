"""Settings of a `weaver` instance: the keys of its `plugins.toml` table (secrets live in the connection).

Connection: `login` = the registered APPID (table ECOLOGY_BIZ_EC); optional extras `spk` and `secret` (its
`secrit`) when the administrator registered by hand (otherwise Lifeline calls regist once and keeps the pair in
`registration_file`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

FormRole = Literal["candidate", "interview", "reason", "slots", "evidence", "note", "reference"]
"""What a reschedule approval's form carries (the payload's fields, whatever the tenant's language calls them)."""


class WorkflowForm(BaseModel):
    """The e-cology workflow Lifeline starts for reschedule requests, and its form table's columns."""

    model_config = ConfigDict(extra="forbid")

    workflow_id: int = Field(ge=1, description="workflowId of the reschedule-approval workflow (流程 id)")
    fields: dict[FormRole, str] = Field(
        description="form role -> database column name of the main form table (fieldName, e.g. `hxr`, not the "
                    "label); `reference` is required: it carries Lifeline's reference, searched before any retry")
    request_name_prefix: str = Field("", max_length=40, description="put before the title (requestName)")

    @field_validator("fields")
    @classmethod
    def _has_reference(cls, fields: dict[str, str]) -> dict[str, str]:
        if "reference" not in fields:
            raise ValueError("name the `reference` column (Lifeline's reference, searched before a retry)")
        return fields


class WeaverSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor_userid: str = Field(
        pattern=r"^[0-9]+$", description="numeric OA user id (hrmresource.id) the reads run as: it must see the "
                                         "workflows Lifeline starts (e.g. the originator or a monitor)")
    workflow: WorkflowForm | None = Field(None, description="the reschedule-approval workflow (create_approval)")
    ofs_syscode: str | None = Field(None, min_length=1, description="unified todo (统一待办): the heterogeneous "
                                                                    "system's syscode (create_task)")
    ofs_workflow_name: str = Field("Lifeline", min_length=1, description="todo type name (workflowname) in the OA")
    ofs_creator: str = Field("lifeline", min_length=1, description="todo creator, per the syscode's 人员转换规则")
    todo_url: str | None = Field(None, min_length=1, description="todo link (pcurl/appurl) when the task carries "
                                                                  "none, e.g. the hub's case list")
    message_source_code: str | None = Field(
        None, pattern=r"^[0-9]+$", description="message center: the 消息来源 code (send_message)")
    recipient_id_type: Literal["userIdList", "loginIdList", "workCodeList"] = Field(
        "userIdList", description="what send_message recipients are: OA user ids, login ids or workcodes")
    registration_file: str = Field(
        "var/weaver-registration.json", min_length=1,
        description="where the regist pair (spk, secrit) is kept (mode 0600) so it is registered once")
    token_seconds: int = Field(3600, ge=300, le=86400, description="token lifetime asked of applytoken (`time`)")
    calls_per_second: float = Field(2.0, gt=0, le=20, description="calls per second to this site at most (the "
                                                                  "customer's server carries them)")
    lookback_days: int = Field(7, ge=1, le=60, description="how long a workflow Lifeline started is polled")
    http_timeout_seconds: float = Field(30.0, gt=0, description="read timeout (doCreateRequest runs node rules)")
