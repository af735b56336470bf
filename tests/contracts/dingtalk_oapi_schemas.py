"""JSON Schemas of the old host's answers (`oapi.dingtalk.com`), which no official Python model covers,
and of both hosts' error envelopes. Written from /work/shared/reference/dingtalk-api.md; each schema
names its source next to it (S2 = the official TOP Java SDK `Oapi*Response.java`, `@ApiField` names
and Java types: `Long` a JSON integer, `Date` epoch milliseconds on these routes).

No schema allows a key it does not name (`additionalProperties: false`) or a JSON null.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
STRING: Schema = {"type": "string"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
MILLIS: Schema = {"type": "integer", "minimum": 0}


def obj(required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STRINGS = array(STRING)


def ok(topapi: bool, required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    """A success answer: `errcode` 0, `errmsg` "ok" (+ `request_id` on `topapi/*`) and the business keys."""
    envelope: Schema = {"errcode": {"const": 0}, "errmsg": {"const": "ok"}}
    if topapi:
        envelope["request_id"] = STRING
    keys = ("errcode", "errmsg", *(("request_id",) if topapi else ()), *required)
    return obj(keys, **envelope, **properties)


# ---------------------------------------------------------------- error envelopes (reference §2)

OAPI_ERROR = obj(("errcode", "errmsg"), errcode={"type": "integer", "not": {"const": 0}}, errmsg=STRING,
                 sub_code=STRING, sub_msg=STRING)
"""Old host, non-`topapi` routes: HTTP 200 `{errcode != 0, errmsg}`; gateway errors add string `sub_code`/`sub_msg`
(reference §2, OBSERVED S11, S12)."""

TOPAPI_ERROR = obj(("errcode", "errmsg", "request_id"), errcode={"type": "integer", "not": {"const": 0}},
                   errmsg=STRING, sub_code=STRING, sub_msg=STRING, request_id=STRING)
"""`topapi/*`: the same plus `request_id` (reference §2, OBSERVED S11)."""

API_ERROR = obj(("requestid", "code", "message"), requestid=STRING, code=STRING, message=STRING,
                description=STRING, accessdenieddetail={"type": "object"})
"""New host: HTTP 4xx/5xx `{requestid, code, message}` (reference §2, OBSERVED S11); the official SDK's gateway
(alibabacloud_gateway_dingtalk/client.py `modify_response`) reads exactly these keys, plus `description` and
`accessdenieddetail`, from an error answer it asserts to be a JSON object."""

# ---------------------------------------------------------------- success answers, by emulator route

TOKEN = ok(False, ("access_token", "expires_in"), access_token=STRING, expires_in=INTEGER)
"""GET /gettoken: reference §1a (S2 OapiGettokenResponse, OBSERVED S11); no `request_id` on this route."""

ASYNCSEND = ok(True, ("task_id",), task_id=INTEGER)
"""topapi/message/corpconversation/asyncsend_v2: reference §4a (S2 OapiMessageCorpconversationAsyncsendV2Response)."""

PROGRESS = ok(True, ("progress",), progress=obj(("progress_in_percent", "status"), progress_in_percent=INTEGER,
                                                status=INTEGER))
"""getsendprogress: reference §4b (S2 OapiMessageCorpconversationGetsendprogressResponse)."""

SEND_RESULT = ok(True, ("send_result",), send_result=obj(
    invalid_user_id_list=STRINGS, forbidden_user_id_list=STRINGS, failed_user_id_list=STRINGS,
    read_user_id_list=STRINGS, unread_user_id_list=STRINGS, invalid_dept_id_list=array(INTEGER),
    forbidden_list=array(obj(("code", "count", "userid"), code=STRING, count=INTEGER, userid=STRING))))
"""getsendresult: reference §4c (S2 OapiMessageCorpconversationGetsendresultResponse: `AsyncSendResult` lists of
String, `invalid_dept_id_list` of Long, `forbidden_list` of `SendForbiddenModel{code String, count Long, userid
String}`). Empty lists may be omitted (reference §4c), so none is required."""

RECALL = ok(True)
"""topapi/message/corpconversation/recall: reference §4d (S2 OapiMessageCorpconversationRecallResponse)."""

PROCESS_CREATE = ok(True, ("process_instance_id",), process_instance_id=STRING)
"""topapi/processinstance/create: reference §8b (S2 OapiProcessinstanceCreateResponse)."""

_LOCAL_TIME = {"type": "string", "pattern": r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})?$"}
PROCESS_GET = ok(True, ("process_instance",), process_instance=obj(
    ("title", "create_time", "originator_userid", "status", "form_component_values"),
    title=STRING, create_time=_LOCAL_TIME, finish_time=_LOCAL_TIME, originator_userid=STRING,
    originator_dept_id=STRING, originator_dept_name=STRING, status=STRING, result=STRING, business_id=STRING,
    biz_action=STRING, approver_userids=STRINGS, cc_userids=STRINGS, attached_process_instance_ids=STRINGS,
    main_process_instance_id=STRING,
    form_component_values=array(obj(("name",), name=STRING, value=STRING, id=STRING, component_type=STRING,
                                    ext_value=STRING)),
    operation_records=array(obj(userid=STRING, date=_LOCAL_TIME, operation_type=STRING, operation_result=STRING,
                                remark=STRING, attachments=array(obj(file_id=STRING, file_name=STRING,
                                                                     file_size=STRING, file_type=STRING)))),
    tasks=array(obj(userid=STRING, task_status=STRING, task_result=STRING, create_time=_LOCAL_TIME,
                    finish_time=_LOCAL_TIME, taskid=STRING, activity_id=STRING, url=STRING))))
"""topapi/processinstance/get: reference §8b (S2 OapiProcessinstanceGetResponse `ProcessInstanceTopVo`: every
field a String or a list of String/objects, `Date`s as "yyyy-MM-dd HH:mm:ss" here (reference §14.7); `taskid` a
String; `activity_id` per reference §8b)."""

_RECORD = {"recordresult": array(obj(
    ("id", "userId", "checkType", "timeResult", "baseCheckTime", "userCheckTime", "workDate"),
    id=INTEGER, recordId=INTEGER, userId=STRING, corpId=STRING, groupId=INTEGER, planId=INTEGER, workDate=MILLIS,
    checkType={"enum": ["OnDuty", "OffDuty"]}, timeResult=STRING, locationResult=STRING, baseCheckTime=MILLIS,
    userCheckTime=MILLIS, sourceType=STRING, procInstId=STRING, approveId=INTEGER))}
ATTENDANCE_LIST = ok(False, ("hasMore", "recordresult"), hasMore=BOOLEAN, **_RECORD)
"""attendance/list: reference §6a (S2 OapiAttendanceListResponse `Recordresult`: `approveId`, `groupId`, `id`,
`planId`, `recordId` Long; times `Date` = epoch ms; `corpId` seen in real output though not in the model, S12)."""

_PUNCH = obj(
    ("id", "userId", "checkType", "userCheckTime"),
    id=INTEGER, recordId=INTEGER, userId=STRING, corpId=STRING, groupId=INTEGER, planId=INTEGER, workDate=MILLIS,
    checkType={"enum": ["OnDuty", "OffDuty"]}, timeResult=STRING, locationResult=STRING, baseCheckTime=MILLIS,
    userCheckTime=MILLIS, sourceType=STRING, procInstId=STRING, approveId=INTEGER, planCheckTime=MILLIS,
    isLegal={"enum": ["Y", "N"]}, userAddress=STRING, deviceId=STRING, deviceSN=STRING, userSsid=STRING,
    userMacAddr=STRING, baseAddress=STRING, invalidRecordType=STRING, invalidRecordMsg=STRING, outsideRemark=STRING,
    gmtCreate=MILLIS, gmtModified=MILLIS, bizId=STRING, classId=INTEGER,
    userLatitude={"type": ["string", "number"]}, userLongitude={"type": ["string", "number"]},
    userAccuracy={"type": ["string", "number"]})
ATTENDANCE_RECORDS = ok(False, ("recordresult",), recordresult=array(_PUNCH))
"""attendance/listRecord: reference §6b (S2 OapiAttendanceListRecordResponse; latitude/longitude/accuracy typed
String in the SDK, numbers in the doc example: both accepted)."""

ATTENDANCE_DAY = ok(True, ("result",), success=BOOLEAN, result=obj(
    ("userid", "work_date", "attendance_result_list", "check_record_list", "approve_list"),
    userid=STRING, corpId=STRING, work_date=MILLIS,
    attendance_result_list=array(obj(
        record_id=INTEGER, check_type=STRING, time_result=STRING, location_result=STRING, plan_check_time=MILLIS,
        user_check_time=MILLIS, source_type=STRING, class_id=INTEGER, plan_id=INTEGER, group_id=INTEGER,
        location_method=STRING, user_address=STRING, outside_remark=STRING, procInst_id=STRING)),
    check_record_list=array(obj(
        record_id=INTEGER, user_check_time=MILLIS, source_type=STRING, valid_matched=BOOLEAN,
        user_accuracy=STRING, user_latitude=STRING, user_longitude=STRING, user_mac_addr=STRING, user_ssid=STRING,
        invalid_record_type=STRING, invalid_record_msg=STRING, base_address=STRING, base_accuracy=STRING)),
    approve_list=array(obj(
        procInst_id=STRING, biz_type=INTEGER, begin_time=MILLIS, end_time=MILLIS,
        duration={"type": ["string", "number"]}, duration_unit=STRING, sub_type=STRING, tag_name=STRING,
        gmt_finished=MILLIS)),
    class_setting_info=obj(rest_time_vo_list=array(obj(rest_begin_time=MILLIS, rest_end_time=MILLIS)))))
"""topapi/attendance/getupdatedata: reference §6c (S2 OapiAttendanceGetupdatedataResponse; dates epoch ms as in the
TOP doc example, S8 37307)."""

USER_GET = ok(True, ("result",), result=obj(
    ("userid", "unionid", "name"), userid=STRING, unionid=STRING, name=STRING, mobile=STRING, job_number=STRING,
    title=STRING, dept_id_list=array(INTEGER), active=BOOLEAN, admin=BOOLEAN, boss=BOOLEAN, manager_userid=STRING,
    hired_date=MILLIS, org_email=STRING))
"""topapi/v2/user/get: reference §11 (S2 OapiV2UserGetResponse `UserGetResponse`)."""

USER_BY_UNION = ok(True, ("result",), result=obj(("userid", "contact_type"), userid=STRING,
                                                 contact_type=INTEGER))
"""topapi/user/getbyunionid: reference §11 (S2 OapiUserGetbyunionidResponse)."""

USER_BY_MOBILE = ok(True, ("result",), result=obj(("userid",), userid=STRING,
                                                  exclusive_account_userid_list=STRINGS))
"""topapi/v2/user/getbymobile: reference §11 (S2 OapiV2UserGetbymobileResponse)."""

MSG = "/topapi/message/corpconversation"
OAPI: dict[str, Schema] = {
    "GET /gettoken": TOKEN,
    f"POST {MSG}/asyncsend_v2": ASYNCSEND,
    f"POST {MSG}/getsendprogress": PROGRESS,
    f"POST {MSG}/getsendresult": SEND_RESULT,
    f"POST {MSG}/recall": RECALL,
    "POST /topapi/processinstance/create": PROCESS_CREATE,
    "POST /topapi/processinstance/get": PROCESS_GET,
    "POST /attendance/list": ATTENDANCE_LIST,
    "POST /attendance/listRecord": ATTENDANCE_RECORDS,
    "POST /topapi/attendance/getupdatedata": ATTENDANCE_DAY,
    "POST /topapi/v2/user/get": USER_GET,
    "POST /topapi/user/getbyunionid": USER_BY_UNION,
    "POST /topapi/v2/user/getbymobile": USER_BY_MOBILE,
}
"""`METHOD /path` of each old-host route -> the schema of its success answer."""
