"""The Weaver e-cology emulator over real HTTP on loopback, as weaver-oa.md describes the vendor: the EC dev-auth
handshake with real RSA (the emulator decrypts; ciphertexts are never compared), the four answer families, the
workflow engine's states and read receipts, lists, message center, ofs, and every fault."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from lifeline_hub.connectors.weaver.emulator import create_app
from lifeline_hub.connectors.weaver.emulator_settings import EmulatorSettings
from lifeline_hub.connectors.weaver.emulator_state import WeaverWorld
from lifeline_hub.core.emulator import Faults, LoopbackServer
from tests.contracts.weaver_api import PA, Api, main_data, rsa_b64, todo

START = 1_780_000_000.0
"""2026-05-28T20:26:40Z, any fixed instant: only the test moves the world's clock."""


@pytest.fixture
def world() -> Iterator[WeaverWorld]:
    world = WeaverWorld(now=lambda: START)
    yield world
    world.close()


@pytest.fixture
def server(world: WeaverWorld) -> Iterator[str]:
    with LoopbackServer(create_app(world=world)) as running:
        yield running.url


@pytest.fixture
def api(world: WeaverWorld, server: str) -> Api:
    return Api(server, world.settings.appids[0]).login()


# -- auth (§2) ---------------------------------------------------------------------------------------


def test_regist_gives_an_rsa_1024_spk_and_a_secrit_and_applytoken_decrypts_the_secret(world: WeaverWorld,
                                                                                      server: str) -> None:
    api = Api(server, world.settings.appids[0])
    body = api.regist()
    assert body["status"] is True and body["code"] == 0 and body["msg"] == "ok"
    spk = load_der_public_key(base64.b64decode(body["spk"]))
    assert body["spk"].startswith("MIGfMA0G") and isinstance(spk, rsa.RSAPublicKey) and spk.key_size == 1024
    first, second = rsa_b64(api.spk, api.secrit), rsa_b64(api.spk, api.secrit)
    assert first != second  # PKCS#1 v1.5 is randomized: the emulator must decrypt
    tokens = {api.applytoken(first)["token"], api.applytoken(second)["token"]}
    assert len(tokens) == 2 and world.applytoken_calls == 2
    refused = api.applytoken(rsa_b64(api.spk, "not-the-secrit"))
    assert refused == {"msg": "secret解密失败,请检查加密内容.", "code": -1, "msgShowType": "none", "status": False}
    assert api.applytoken("bm90IHJzYQ==")["status"] is False
    assert Api(server, "00000000-0000-0000-0000-000000000000").regist()["status"] is False
    assert api.regist(cpk="")["status"] is False


def test_a_second_regist_rotates_the_pair_and_the_old_secrit_fails(world: WeaverWorld, server: str) -> None:
    api = Api(server, world.settings.appids[0])
    api.regist()
    old_spk, old_secrit = api.spk, api.secrit
    api.regist()
    assert (api.spk, api.secrit) != (old_spk, old_secrit)
    assert api.applytoken(rsa_b64(old_spk, old_secrit))["msg"] == "secret解密失败,请检查加密内容."
    assert api.applytoken()["status"] is True


def test_a_token_lives_for_its_time_header_then_answers_the_token_body(world: WeaverWorld, api: Api) -> None:
    assert api.applytoken(lifetime="600")["status"] is True
    assert isinstance(api.post("getMyWorkflowRequestCount"), int)
    world.advance(601)
    assert api.post("getMyWorkflowRequestCount") == {
        "msg": f"token不存在或者超时：{api.token}", "code": -1, "msgShowType": "none", "status": False}
    api.applytoken()  # no `time`: the default lifetime
    world.advance(world.settings.token_ttl_seconds - 1)
    assert isinstance(api.post("getMyWorkflowRequestCount"), int)


def test_business_calls_without_auth_or_with_a_bad_token_answer_family_a(world: WeaverWorld, api: Api) -> None:
    bare = api.raw("POST", f"{PA}/doCreateRequest", headers={}).json()
    assert bare == {"msg": "登录信息超时", "errorCode": "002", "status": False}
    unknown = api.raw("POST", f"{PA}/doCreateRequest", headers={**api.headers(), "token": "nope"}).json()
    assert unknown["code"] == -1 and unknown["msg"] == "token不存在或者超时：nope"
    upper = {k.upper(): v for k, v in api.headers().items()}  # headers are case-insensitive
    assert isinstance(api.raw("POST", f"{PA}/getMyWorkflowRequestCount", headers=upper).json(), int)
    assert world.expire_tokens() == 1  # mid-poll: the token the client holds is gone
    assert api.post("getMyWorkflowRequestCount")["msg"].startswith("token不存在或者超时：")
    api.applytoken()
    world.fail_next("not_logged_in")
    assert api.post("getMyWorkflowRequestCount") == {"msg": "登录信息超时", "errorCode": "002", "status": False}
    world.fail_next("token_expired", api="getRequestStatus")
    assert isinstance(api.post("getMyWorkflowRequestCount"), int)  # forced for another API only
    assert api.get("getRequestStatus", requestId=1)["code"] == -1


def test_the_userid_header_is_decrypted_to_the_acting_oa_user(world: WeaverWorld, api: Api) -> None:
    created = api.create("LL-U", user="102")
    request = world.engine.requests[created["data"]["requestid"]]
    assert request.creator == 102
    for who in ("4242", "199"):  # unknown, disabled
        assert api.create("LL-X", user=who)["code"] == "USER_EXCEPTION"
        assert api.post("getMyWorkflowRequestList", user=who)["msg"] == "该账号存在异常,单点登录失败"
    garbled = api.raw("POST", f"{PA}/doCreateRequest", headers={**api.headers(), "userid": "MTAx"}).json()
    assert garbled["code"] == "USER_EXCEPTION"
    assert world.workflows_created() == 1


def test_the_expire_token_fault_answers_a_valid_token_as_expired(world: WeaverWorld, api: Api) -> None:
    world.configure_faults(Faults(expire_token=1.0))
    assert api.post("getMyWorkflowRequestCount")["msg"] == f"token不存在或者超时：{api.token}"
    assert world.faults.injected["expire_token"] == 1


# -- doCreateRequest (§4) ------------------------------------------------------------------------------


def test_create_answers_a_numeric_requestid_and_flows_on_to_the_approver(world: WeaverWorld, api: Api) -> None:
    created = api.create("LL-1")
    assert created == {"code": "SUCCESS", "errMsg": {}, "data": {"requestid": created["data"]["requestid"]},
                       "reqFailMsg": {"keyParameters": {}, "msgInfo": {}, "otherParams": {"doAutoApprove": "0"}}}
    rid = created["data"]["requestid"]
    status = api.get("getRequestStatus", requestId=rid)["data"]
    assert (status["requestId"], status["currentNodeType"], status["currentNodeId"], status["workflowId"]) == (
        str(rid), "1", "10012", 1001)
    [log] = api.get("getRequestLog", requestId=rid)["data"]
    assert (log["logtype"], log["operator"], log["receivedPersonids"]) == ("2", "101", "102")
    operators = api.get("getRequestOperatorInfo", requestid=rid)["data"]
    approver = next(o for o in operators if o["userid"] == 102)
    assert (approver["isremark"], approver["viewType"], approver["operatedate"]) == (0, 0, "")
    assert world.engine.requests[rid].main["lifeline_ref"] == "LL-1"


def test_create_takes_a_json_body_and_detail_rows(world: WeaverWorld, api: Api) -> None:
    fields = [{"fieldName": "slot_start", "fieldValue": "2026-06-01 10:00"},
              {"fieldName": "slot_end", "fieldValue": "2026-06-01 11:00"}]
    detail = [{"tableDBName": "formtable_main_101_dt1",
               "workflowRequestTableRecords": [{"recordOrder": 0, "workflowRequestTableFields": fields}]}]
    body = {"workflowId": 1001, "requestName": "面试改期 LL-J", "mainData": main_data(lifeline_ref="LL-J"),
            "detailData": detail, "otherParams": {"isnextflow": "0"}}
    answer = api.raw("POST", f"{PA}/doCreateRequest", json=body).json()
    request = world.engine.requests[answer["data"]["requestid"]]
    assert request.details == {"formtable_main_101_dt1": [{"slot_start": "2026-06-01 10:00",
                                                            "slot_end": "2026-06-01 11:00"}]}
    assert request.node_type == "0"  # isnextflow 0: a draft at the creation node
    assert world.resubmit(request.id)["currentNodeType"] == "1"


@pytest.mark.parametrize(("form", "code", "err_msg", "msg_type"), [
    ({"workflowId": "0"}, "PARAM_ERROR", {"workflowId": 0}, None),
    ({"requestName": " "}, "PARAM_ERROR", {"requestName": ""}, None),
    ({"mainData": ""}, "PARAM_ERROR", {"mainData": "新建流程主表数据不允许为空"}, None),
    ({"mainData": "[]"}, "PARAM_ERROR", {"mainData": "新建流程主表数据不允许为空"}, None),
    ({"mainData": "{not json"}, "PARAM_ERROR", {"workflowId": 1001}, None),
    ({"mainData": main_data(xm="张三")}, "PARAM_ERROR", {"error_param_xm": "张三"}, "SAVE_MAIN_TABLE_FAIL"),
    ({"mainData": main_data(requestname="x")}, "PARAM_ERROR", {"error_param_requestname": "x"}, "SAVE_MAIN_TABLE_FAIL"),
    ({"mainData": main_data(urgency="9")}, "PARAM_ERROR", {"field_urgency": "字段[紧急程度]的选项值[9]不存在"},
     "SAVE_MAIN_TABLE_FAIL"),
    ({"mainData": main_data(candidate="张" * 101)}, "PARAM_ERROR", {"field_candidate": "字段[候选人]长度超过100"},
     "SAVE_MAIN_TABLE_FAIL"),
    ({"mainData": main_data(attachment='[{"filePath":"base64:aGk=","fileName":"a.txt"}]')}, "PARAM_ERROR",
     {"field_attachment": "字段[附件]未设置附件上传目录"}, "SAVE_MAIN_TABLE_FAIL"),
    ({"detailData": '[{"tableDBName":"formtable_main_101_dt9","workflowRequestTableRecords":[]}]'}, "PARAM_ERROR",
     {"error_param_detailData_tableName": "formtable_main_101_dt9"}, "SAVE_DETAIL_TABLE_FAIL"),
    ({"detailData": '[{"tableDBName":"formtable_main_101_dt1","workflowRequestTableRecords":[{"recordOrder":0,'
                    '"workflowRequestTableFields":[{"fieldName":"room","fieldValue":"A1"}]}]}]'}, "PARAM_ERROR",
     {"errParam_detail_room": "A1"}, "SAVE_DETAIL_TABLE_FAIL"),
    ({"workflowId": "4040"}, "PARAM_ERROR", {"msg": "流程ID[4040]不存在或未启用"}, None),
])
def test_create_refuses_what_the_form_refuses_as_the_reference_says(world: WeaverWorld, api: Api, form: dict[str, str],
                                                                     code: str, err_msg: dict[str, object],
                                                                     msg_type: str | None) -> None:
    base = {"workflowId": "1001", "requestName": "面试改期 LL-E", "mainData": main_data(lifeline_ref="LL-E")}
    answer = api.post("doCreateRequest", **{**base, **form})
    assert (answer["code"], answer["errMsg"], answer["reqFailMsg"].get("msgType")) == (code, err_msg, msg_type)
    assert "data" not in answer and world.workflows_created() == 0


def test_a_disabled_workflow_or_a_user_without_create_permission_is_no_permission(world: WeaverWorld,
                                                                                   api: Api) -> None:
    workflow = world.settings.workflows[0]
    workflow.creators = [102]
    refused = api.create("LL-P")
    assert refused["code"] == "NO_PERMISSION" and "没有创建流程" in refused["errMsg"]["msg"]
    assert api.post("doCreateRequest", workflowId=1001, requestName="x", mainData=main_data(lifeline_ref="LL-P"),
                    otherParams='{"isVerifyPer":"0"}')["code"] == "SUCCESS"
    workflow.enabled = False
    assert api.create("LL-D", user="102")["code"] == "NO_PERMISSION"


def test_no_idempotency_two_creates_make_two_workflows_counted_as_a_duplicate(world: WeaverWorld, api: Api) -> None:
    first, second = api.create("LL-7"), api.create("LL-7")
    assert first["data"]["requestid"] != second["data"]["requestid"]
    api.create("LL-8")
    assert (world.workflows_created(), world.duplicate_workflows()) == (3, 1)
    assert world.summary()["duplicate_workflows"] == 1


def test_otherparams_keys_with_the_sample_trailing_space_are_ignored(world: WeaverWorld, api: Api) -> None:
    answer = api.post("doCreateRequest", workflowId=1001, requestName="LL-S", mainData=main_data(lifeline_ref="LL-S"),
                      otherParams='{"isnextflow ":"0"}')
    assert world.engine.requests[answer["data"]["requestid"]].node_type == "1"


# -- moving and reading (§4.5, §5) -----------------------------------------------------------------------


def test_approval_archives_and_the_log_and_operators_say_so(world: WeaverWorld, api: Api) -> None:
    rid = api.create("LL-A")["data"]["requestid"]
    world.view(rid, 102)
    viewed = next(o for o in api.get("getRequestOperatorInfo", requestid=rid)["data"] if o["userid"] == 102)
    assert (viewed["viewType"], viewed["isremark"]) == (-2, 0)
    assert api.post("submitRequest", requestId=rid, workflowId=1001)["errMsg"]["isremark"] == 2  # not the approver
    world.advance(1800)
    assert api.post("submitRequest", user="102", requestId=rid, workflowId=1001, remark="同意")["code"] == "SUCCESS"
    status = api.get("getRequestStatus", requestId=rid)["data"]
    assert status["currentNodeType"] == "3" and status["currentNodeId"] == "10013"
    logs = api.get("getRequestLog", requestId=rid)["data"]
    assert [r["logtype"] for r in logs] == ["0", "2"] and logs[0]["operatetime"] == "04:56:40"  # newest first
    assert api.get("getRequestLog", requestId=rid, otherParams='{"pageSize":1,"pageNumber":2}')["data"][0][
        "logtype"] == "2"
    operators = api.get("getRequestOperatorInfo", requestid=rid)["data"]
    assert {o["isremark"] for o in operators} == {4}
    assert next(o for o in operators if o["userid"] == 102)["operatedate"] == "2026-05-29"
    again = api.post("submitRequest", user="102", requestId=rid, workflowId=1001)
    assert (again["code"], again["errMsg"], again["reqFailMsg"]["msgType"]) == (
        "NO_PERMISSION", {"isremark": 4}, "NO_REQUEST_SUBMIT_PERMISSION")


def test_submit_without_workflow_id_blames_requestid(api: Api) -> None:
    rid = api.create("LL-W")["data"]["requestid"]
    assert api.post("submitRequest", user="102", requestId=rid)["errMsg"] == {"errorParam_requestid": 0}
    assert api.post("submitRequest", user="102", requestId="abc", workflowId=1001)["errMsg"] == {
        "errorParam_requestid": 0}


def test_send_back_returns_to_the_creator_and_a_viewer_sees_new_feedback(world: WeaverWorld, api: Api) -> None:
    rid = api.create("LL-B")["data"]["requestid"]
    world.view(rid, 101)
    world.send_back(rid, remark="时间冲突")
    status = api.get("getRequestStatus", requestId=rid)["data"]
    assert (status["currentNodeType"], status["rejectToNodeid"]) == ("0", "10011")
    assert api.get("getRequestLog", requestId=rid)["data"][0]["logtype"] == "3"
    [row] = api.post("getToDoWorkflowRequestList")
    assert (row["requestId"], row["isbereject"], row["currentnodetype"], row["viewtype"]) == (str(rid), "1", "0", "0")
    assert api.post("getBeRejectWorkflowRequestList") == [row] and api.post("getBeRejectWorkflowRequestCount") == 1
    assert world.engine.requests[rid].operators[0].view_type == -1  # viewed, then new feedback
    assert api.post("submitRequest", requestId=rid, workflowId=1001)["code"] == "SUCCESS"  # the creator resubmits
    assert world.approve(rid)["currentNodeType"] == "3"


def test_reject_request_by_the_approver_and_not_by_anyone_else(world: WeaverWorld, api: Api) -> None:
    rid = api.create("LL-R")["data"]["requestid"]
    refused = api.post("rejectRequest", user="103", requestId=rid)
    assert refused["code"] == "NO_PERMISSION" and refused["errMsg"]["nodeType"] == "1"
    assert api.post("rejectRequest", user="102", requestId=rid, remark="请改时间")["code"] == "SUCCESS"
    assert api.get("getRequestStatus", requestId=rid)["data"]["currentNodeType"] == "0"


def test_judge_form_must_input_and_save_only(world: WeaverWorld, api: Api) -> None:
    world.settings.workflows[0].fields[2].mandatory = True  # reason
    rid = api.post("doCreateRequest", workflowId=1001, requestName="LL-M", mainData=main_data(lifeline_ref="LL-M"),
                   otherParams='{"isnextflow":"0"}')["data"]["requestid"]
    refused = api.post("submitRequest", requestId=rid, workflowId=1001, otherParams='{"judgeFormMustInput":1}')
    assert (refused["code"], refused["reqFailMsg"]["msgType"]) == ("FAIL", "JUDGE_MUST_INPUT")
    saved = api.post("submitRequest", requestId=rid, workflowId=1001, mainData=main_data(reason="出差"),
                     otherParams='{"src":"save"}')
    assert saved["code"] == "SUCCESS" and world.engine.requests[rid].node_type == "0"
    assert api.post("submitRequest", requestId=rid, workflowId=1001,
                    otherParams='{"judgeFormMustInput":1}')["code"] == "SUCCESS"


def test_unknown_deleted_or_foreign_requests_are_no_permission(world: WeaverWorld, api: Api) -> None:
    rid = api.create("LL-G")["data"]["requestid"]
    assert api.get("getRequestStatus", requestId=rid + 1000)["code"] == "NO_PERMISSION"
    assert api.get("getRequestStatus", requestId=rid, user="103")["code"] == "NO_PERMISSION"
    world.delete_request(rid)
    gone = api.get("getRequestStatus", requestId=rid)
    assert gone["code"] == "NO_PERMISSION" and "reqFailMsg" not in gone
    assert api.get("getRequestOperatorInfo", requestId=rid)["code"] == "NO_PERMISSION"  # requestid is lower-case
    assert api.post("getMyWorkflowRequestList") == []


def test_force_archive(world: WeaverWorld, api: Api) -> None:
    rid = api.create("LL-F")["data"]["requestid"]
    assert world.force_archive(rid)["logtypes"] == ["2", "e"]
    assert api.get("getRequestStatus", requestId=rid)["data"]["currentNodeType"] == "3"
    with pytest.raises(ValueError, match="no approval node"):
        world.approve(rid)


# -- lists (§6, family C) --------------------------------------------------------------------------------


def test_lists_are_bare_arrays_and_counts_bare_integers_paged_and_filtered(world: WeaverWorld, api: Api) -> None:
    ids = [api.create(f"LL-{n}")["data"]["requestid"] for n in range(1, 13)]
    world.approve(ids[0])
    first = api.raw("POST", f"{PA}/getMyWorkflowRequestList", data={"pageNo": "1", "pageSize": "5"})
    assert first.headers["content-type"].startswith("application/json") and isinstance(first.json(), list)
    pages = [api.post("getMyWorkflowRequestList", pageNo=n, pageSize=5) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [r["requestId"] for p in pages for r in p] == [str(i) for i in sorted(ids, reverse=True)]
    assert api.post("getMyWorkflowRequestCount") == 12
    assert len(api.post("getMyWorkflowRequestList")) == 10  # default page size
    found = api.post("getMyWorkflowRequestList", conditions=json.dumps({"requestname": "LL-11"}))
    assert [r["requestName"] for r in found] == ["面试改期 LL-11"]
    assert api.post("getMyWorkflowRequestCount", conditions='{"archivestatus":"1"}') == 1
    assert api.post("getMyWorkflowRequestCount", conditions='{"nodetype":"1"}') == 11
    assert api.post("getMyWorkflowRequestCount", conditions='{"unophrmid":"102"}') == 11
    that_day = {"createdateselect": "6", "createdatefrom": "2026-05-29", "createdateto": "2026-05-29"}
    assert api.post("getMyWorkflowRequestCount", conditions=json.dumps(that_day)) == 12
    assert api.post("getToDoWorkflowRequestCount", user="102") == 11
    assert api.post("getProcessedWorkflowRequestCount", user="102") == 1
    assert api.post("getHandledWorkflowRequestCount") == 11
    assert api.post("getAllWorkflowRequestCount", user="103") == 0
    row = api.post("getToDoWorkflowRequestList", user="102", pageSize=1)[0]
    assert row["workflowBaseInfo"]["workflowId"] == "1001" and all(
        isinstance(v, str) for k, v in row.items() if k != "workflowBaseInfo")


def test_list_faults_an_error_object_a_malformed_row_a_repeated_row(world: WeaverWorld, api: Api) -> None:
    api.create("LL-1")
    api.create("LL-2")
    world.fail_next("list_error", api="getMyWorkflowRequestList")
    assert api.post("getMyWorkflowRequestList") == {"code": "SYSTEM_INNER_ERROR",
                                                    "errMsg": {"msg": "系统内部错误,请联系管理员"}}
    world.configure_faults(Faults(malformed=1.0))
    rows = api.post("getMyWorkflowRequestList")
    assert "requestId" not in rows[0] and "requestId" in rows[1]
    world.configure_faults(Faults(duplicate=1.0))
    rows = api.post("getMyWorkflowRequestList")
    assert len(rows) == 3 and rows[1] == rows[2]


# -- message center (§7) ----------------------------------------------------------------------------------


def test_message_push_update_and_withdraw_by_target_id(world: WeaverWorld, api: Api) -> None:
    link = "https://hub.example.com/r/iv-42?a=1&b=2+3"
    sent = api.message("sendCustomMessageSingle", code="559", userIdList="102,103,4242", title="面试改期",
                       context="张三 申请改期 & 请处理", linkUrl=link, linkMobileUrl=link, targetId="559|iv-42",
                       bizState="0")
    assert sent == {"code": 0, "msg": "推送成功", "status": True}
    [notice] = world.messages.inspect()
    assert (notice["recipients"], notice["linkUrl"], notice["context"]) == ([102, 103], link, "张三 申请改期 & 请处理")
    assert api.message("alterCustomMessageSingle", targetId="559|iv-42", userIdList="102", bizState="2")["status"]
    assert world.messages.inspect()[0]["states"] == ["0", "2"]
    assert api.message("alterCustomMessageSingle", targetId="559|iv-42", userIdList="102", bizState="9")[
        "status"] is False
    assert api.message("deleteCustomMessageSingle", targetId="559|iv-42", loginIdList="wangfang")["status"] is True
    assert world.messages.inspect()[0]["deleted"] is True
    assert api.message("deleteCustomMessageSingle", targetId="559|iv-42", userIdList="102")["status"] is False
    query = api.raw("POST", "/api/ec/dev/message/sendCustomMessageSingle",
                    headers={"appid": api.appid, "token": api.token, "skipsession": "1"},
                    params={"code": "559", "workCodeList": "1002", "title": "t", "targetId": "559|iv-42"}).json()
    assert query["status"] is True and world.messages.summary()["repeated_target_ids"] == 1


@pytest.mark.parametrize(("form", "msg"), [
    ({"userIdList": "102"}, "消息来源[]不存在"),
    ({"code": "999", "userIdList": "102"}, "消息来源[999]不存在"),
    ({"code": "559"}, "接收人不能为空"),
    ({"code": "559", "loginIdList": "nobody,zhaoliu"}, "接收人不存在"),
])
def test_message_push_refusals(api: Api, form: dict[str, str], msg: str) -> None:
    assert api.message("sendCustomMessageSingle", **form) == {"code": -1, "msg": msg, "status": False}


def test_message_push_needs_a_token(api: Api) -> None:
    answer = api.raw("POST", "/api/ec/dev/message/sendCustomMessageSingle",
                     headers={"appid": api.appid, "token": "stale", "skipsession": "1"}, data={"code": "559"}).json()
    assert answer["msg"] == "token不存在或者超时：stale"


# -- unified todo, ofs (§8) -------------------------------------------------------------------------------


def test_ofs_upserts_per_receiver_and_the_larger_receivets_wins(world: WeaverWorld, api: Api) -> None:
    created = api.ofs("ReceiveRequestInfoByJson", todo())
    assert created == {"syscode": "lifeline", "dataType": "WfData", "operType": "AutoNew", "operResult": "1",
                       "message": ""}
    assert api.ofs("ReceiveTodoRequestByJson", todo(receiver="zhangwei"))["operResult"] == "1"
    done = api.ofs("ProcessDoneRequestByJson", todo(receivets=1_780_000_060_000))
    assert (done["operResult"], done["operType"]) == ("1", "AutoEdit")
    late = api.ofs("ReceiveRequestInfoByJson", todo(receivets=1_780_000_030_000, requestname="旧的"))
    assert late["operResult"] == "1"
    rows = {r["receiver"]: r for r in world.ofs.inspect()}
    assert (rows["wangfang"]["isremark"], rows["wangfang"]["fields"]["requestname"]) == ("2", todo()["requestname"])
    assert rows["wangfang"]["fields"]["pcurl"] == "https://hub.example.com/t/iv-42?s=x&y=1"
    assert world.ofs.summary() == {"ofs_rows": 2, "ofs_stale_pushes": 1}
    api.ofs("ProcessOverRequestByJson", todo(receivets=1_780_000_090_000))
    assert {r["receiver"]: r["isremark"] for r in world.ofs.inspect()} == {"wangfang": "4", "zhangwei": "0"}
    world.view_todo("lifeline", "iv-42", "zhangwei")
    assert api.ofs("deleteUserRequestInfoByJson", {"syscode": "lifeline", "flowid": "iv-42", "userid": "zhangwei"})[
        "operType"] == "Del"
    assert [r["receiver"] for r in world.ofs.inspect()] == ["wangfang"]
    assert api.ofs("deleteRequestInfoByJson", {"syscode": "lifeline", "flowid": "iv-42"})["operResult"] == "1"
    assert world.ofs.inspect() == []


@pytest.mark.parametrize(("body", "message"), [
    (todo(syscode="other"), "异构系统[other]不存在或未启用"),
    (todo(receiver="nobody"), "接收人[nobody]转换失败"),
    (todo(receivets="yesterday"), "receivets必须是毫秒时间戳"),
    ({k: v for k, v in todo().items() if k != "flowid"}, "参数[flowid]不能为空或不正确"),
    (todo(isremark="7"), "参数[isremark]不能为空或不正确"),
    ([todo()], "请求数据不是JSON对象"),
])
def test_ofs_refusals_answer_oper_result_0(world: WeaverWorld, api: Api, body: object, message: str) -> None:
    answer = api.ofs("ReceiveRequestInfoByJson", body)
    assert (answer["operResult"], answer["message"]) == ("0", message)
    assert world.ofs.inspect() == []


def test_ofs_checks_the_ip_allow_list() -> None:
    world = WeaverWorld(EmulatorSettings(ofs_allowed_ips=["10.0.0.8"]), now=lambda: START)
    with LoopbackServer(create_app(world=world)) as server:
        answer = Api(server.url, world.settings.appids[0]).ofs("ReceiveTodoRequestByJson", todo())
    assert (answer["operResult"], answer["dataType"], answer["operType"]) == ("0", "OtherSys", "Check")


# -- transport faults ---------------------------------------------------------------------------------------


def test_server_error_and_rate_limit_are_html_pages(world: WeaverWorld, api: Api) -> None:
    world.configure_faults(Faults(server_error=1.0))
    answer = api.raw("POST", f"{PA}/getMyWorkflowRequestList")
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/html")
    assert "500 Internal Server Error" in answer.text
    world.configure_faults(Faults(rate_limit=1.0))
    assert api.raw("POST", f"{PA}/doCreateRequest").status_code == 429
    world.configure_faults(Faults())
    world.fail_next("html_502", api="doCreateRequest")
    assert api.raw("POST", f"{PA}/doCreateRequest").status_code == 502
    world.fail_next("html_500", times=2)
    assert [api.raw("POST", "/rest/ofs/ReceiveTodoRequestByJson", json=todo()).status_code for _ in range(3)] == [
        500, 500, 200]
    assert world.workflows_created() == 0
    with pytest.raises(ValueError, match="list_error needs `api`"):
        world.fail_next("list_error", api="doCreateRequest")
    with pytest.raises(ValueError, match="unknown fault"):
        world.fail_next("teapot")  # type: ignore[arg-type]


def test_a_lost_answer_after_create_leaves_a_workflow_to_search_for(world: WeaverWorld, api: Api) -> None:
    world.stall_next(1.0, api="doCreateRequest")
    api.timeout = 0.3
    with pytest.raises(requests.ReadTimeout):
        api.create("LL-LOST")
    api.timeout = 10.0
    assert world.workflows_created() == 1
    [found] = api.post("getMyWorkflowRequestList", conditions=json.dumps({"requestname": "LL-LOST"}))
    assert found["requestName"] == "面试改期 LL-LOST"
    world.configure_faults(Faults(timeout=1.0, timeout_seconds=1.0))
    api.timeout = 0.3
    with pytest.raises(requests.ReadTimeout):
        api.create("LL-LOST2")
    assert world.workflows_created() == 2 and world.duplicate_workflows() == 0


def test_latency_slows_answers_without_changing_them(world: WeaverWorld, api: Api) -> None:
    world.configure_faults(Faults(latency_seconds=0.05))
    assert api.create("LL-SLOW")["code"] == "SUCCESS"


def test_drive_endpoints_act_as_the_approver(world: WeaverWorld, api: Api) -> None:
    rid = api.create("LL-DRV")["data"]["requestid"]
    base = api.url + "/_emulator"
    assert requests.post(f"{base}/drive/view", json={"request_id": rid, "user_id": 102}, timeout=10).ok
    assert requests.post(f"{base}/drive/approve", json={"request_id": rid}, timeout=10).json()["result"][
        "currentNodeType"] == "3"
    assert requests.post(f"{base}/drive/approve", json={"request_id": rid}, timeout=10).status_code == 400
    state = requests.get(f"{base}/state", timeout=10).json()
    assert (state["workflows_created"], state["archived"], state["api_calls"]) == (1, 1, world.api_calls())
    [request] = requests.get(f"{base}/state/requests", timeout=10).json()
    assert request["main"]["lifeline_ref"] == "LL-DRV"


@pytest.mark.parametrize("form", [
    {"workflowId": "1001", "requestName": "x", "mainData": '[{"fieldName":"candidate","fieldValue":{"a":[1]}}]'},
    {"workflowId": "1001", "requestName": "x", "mainData": '[1, 2]'},
    {"workflowId": "1001", "requestName": "x", "mainData": '{"fieldName":"candidate"}'},
    {"workflowId": "1001", "requestName": "x", "mainData": main_data(candidate="a"), "detailData": '{"x":1}'},
    {"workflowId": "1001", "requestName": "x", "mainData": main_data(candidate="a"),
     "detailData": '[{"tableDBName":"formtable_main_101_dt1","workflowRequestTableRecords":5}]'},
    {"workflowId": "1001", "requestName": "x", "mainData": main_data(candidate="a"), "detailData": "[7]"},
    {"workflowId": "1e9", "requestName": "x", "mainData": "null"},
    {"requestId": "-1", "workflowId": "x", "otherParams": "[]", "conditions": "[1]", "pageNo": "a", "pageSize": "-3"},
])
def test_hostile_input_is_answered_in_the_vendors_words_never_a_crash(world: WeaverWorld, api: Api,
                                                                      form: dict[str, str]) -> None:
    for name in ("doCreateRequest", "submitRequest", "rejectRequest", "getMyWorkflowRequestList",
                 "getToDoWorkflowRequestCount"):
        answer = api.raw("POST", f"{PA}/{name}", data=form)
        assert answer.status_code == 200, (name, answer.text)
    for name in ("getRequestStatus", "getRequestLog", "getRequestOperatorInfo"):
        assert api.raw("GET", f"{PA}/{name}", params=form).status_code == 200
    for name in ("sendCustomMessageSingle", "alterCustomMessageSingle", "deleteCustomMessageSingle"):
        assert api.message(name, **form)["status"] is False
    assert api.raw("POST", "/rest/ofs/ReceiveTodoRequestByJson", headers={}, data=b"{not json").json()[
        "operResult"] == "0"
    assert world.workflows_created() == int(form.get("detailData") is None and "fieldValue" in form.get("mainData", ""))
