"""Request signing: the documented V3 and V2 vectors, and the emulator's gateway checks over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from lifeline_hub.connectors.aliyun_sms.client import AliyunAuth, AliyunSmsClient
from lifeline_hub.connectors.aliyun_sms.emulator import SmsWorld
from lifeline_hub.connectors.aliyun_sms.signing import (
    EMPTY_SHA256,
    canonical_query,
    percent_encode,
    v2_signature,
    v3_authorization,
)
from lifeline_hub.core.http import AuthFailed, InvalidRequest
from tests.aliyun_sms.sms_helpers import KEY_ID, SECRET, calls

# The V3 example of Alibaba Cloud's "Request syntax and signature method V3" page: POST / on ECS
# RunInstances with secret `YourAccessKeySecret` (alibabacloud.com and help.aliyun.com variants).
V3_QUERY = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
V3_VECTORS = [
    ("2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d",
     "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"),
    ("2023-10-26T09:01:01Z", "d410180a5abf7fe235dd9b74aca91fc0",
     "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"),
]


@pytest.mark.parametrize(("date", "nonce", "signature"), V3_VECTORS)
def test_v3_signature_matches_the_documented_example(date: str, nonce: str, signature: str) -> None:
    headers = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances", "x-acs-version": "2014-05-26",
               "x-acs-date": date, "x-acs-signature-nonce": nonce, "x-acs-content-sha256": EMPTY_SHA256}
    assert v3_authorization("POST", "/", V3_QUERY, headers, "YourAccessKeyId", "YourAccessKeySecret") == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
        f"x-acs-date;x-acs-signature-nonce;x-acs-version,Signature={signature}"
    )


def test_v2_signature_matches_the_documented_example() -> None:
    """The RPC signature page's DescribeRegions example (GET, secret `testsecret`)."""
    params = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
              "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
    assert v2_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_percent_encoding_follows_rfc3986() -> None:
    assert percent_encode("a b*c~d+e/f") == "a%20b%2Ac~d%2Be%2Ff"
    assert percent_encode("面试") == "%E9%9D%A2%E8%AF%95"
    assert canonical_query({"b": "2", "a": "x y"}) == "a=x%20y&b=2"


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_the_emulator_accepts_both_signature_versions(emulator: str, world: SmsWorld, version: str) -> None:
    client = AliyunSmsClient(emulator, KEY_ID, SECRET, signature=version)  # type: ignore[arg-type]
    assert list(client.send_details("13812345678", time.strftime("%Y%m%d"))) == []
    assert calls(world, "QuerySendDetails") == 1


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_a_wrong_secret_is_a_signature_mismatch(emulator: str, version: str) -> None:
    client = AliyunSmsClient(emulator, KEY_ID, "not-the-secret", signature=version)  # type: ignore[arg-type]
    with pytest.raises(AuthFailed) as caught:
        list(client.send_details("13812345678", time.strftime("%Y%m%d")))
    assert caught.value.code == "SignatureDoesNotMatch" and caught.value.http_status == 400
    assert not caught.value.retryable


def test_an_unknown_access_key_is_refused(emulator: str) -> None:
    with pytest.raises(AuthFailed) as caught:
        list(AliyunSmsClient(emulator, "LTAInobody", SECRET).send_details("13812345678", time.strftime("%Y%m%d")))
    assert (caught.value.code, caught.value.http_status) == ("InvalidAccessKeyId.NotFound", 404)


def test_a_skewed_clock_is_refused(emulator: str) -> None:
    client = AliyunSmsClient(emulator, KEY_ID, SECRET)
    client.session.auth = AliyunAuth(KEY_ID, SECRET, clock=lambda: time.time() - 16 * 60)
    with pytest.raises(AuthFailed) as caught:
        list(client.send_details("13812345678", time.strftime("%Y%m%d")))
    assert caught.value.code == "InvalidTimeStamp.Expired"


def _signed(emulator: str, version: str) -> tuple[requests.Session, requests.PreparedRequest]:
    session = requests.Session()
    session.auth = AliyunAuth(KEY_ID, SECRET, version)  # type: ignore[arg-type]
    query = {"PhoneNumber": "13812345678", "SendDate": time.strftime("%Y%m%d"), "PageSize": "10", "CurrentPage": "1"}
    request = requests.Request("POST", emulator + "/", params=query,
                               headers={"x-acs-action": "QuerySendDetails", "x-acs-version": "2017-05-25"})
    return session, session.prepare_request(request)


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_a_replayed_nonce_is_refused(emulator: str, version: str) -> None:
    session, prepared = _signed(emulator, version)
    assert session.send(prepared, timeout=10).json()["Code"] == "OK"
    again = session.send(prepared, timeout=10)
    assert (again.status_code, again.json()["Code"]) == (400, "SignatureNonceUsed")


@pytest.mark.parametrize("version", ["v3", "v2"])
def test_a_tampered_parameter_breaks_the_signature(emulator: str, version: str) -> None:
    session, prepared = _signed(emulator, version)
    prepared.url = (prepared.url or "").replace("PageSize=10", "PageSize=20")
    answer = session.send(prepared, timeout=10)
    assert (answer.status_code, answer.json()["Code"]) == (400, "SignatureDoesNotMatch")
    assert answer.json()["HostId"] == "dysmsapi.aliyuncs.com" and answer.json()["RequestId"]


def test_every_retry_is_signed_with_a_fresh_nonce(emulator: str, world: SmsWorld) -> None:
    world.fail_next("SignatureNonceUsed", action="QuerySendDetails")
    client = AliyunSmsClient(emulator, KEY_ID, SECRET)
    assert list(client.send_details("13812345678", time.strftime("%Y%m%d"))) == []
    assert client.stats.retries == 1 and calls(world, "QuerySendDetails") == 2


def test_a_wrong_version_and_an_unknown_action_are_refused(emulator: str) -> None:
    client = AliyunSmsClient(emulator, KEY_ID, SECRET)
    with pytest.raises(InvalidRequest) as caught:
        client.request("POST", "/", api="SendSms", params={},
                       headers={"x-acs-action": "SendSms", "x-acs-version": "2014-05-26"})
    assert caught.value.code == "InvalidVersion"
    with pytest.raises(InvalidRequest) as unknown:
        client.request("POST", "/", api="Nope", params={},
                       headers={"x-acs-action": "Nope", "x-acs-version": "2017-05-25"})
    assert (unknown.value.code, unknown.value.http_status) == ("InvalidAction.NotFound", 404)
