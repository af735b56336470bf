"""Redaction of secrets and personal data, and typed errors that never leak them."""

import logging
import pickle
from pathlib import Path

import pytest

from lifeline_hub.core.http import (
    AuthFailed,
    PermissionDenied,
    RateLimited,
    RedactingFilter,
    TransientError,
    VendorError,
    install_redaction,
    mask_email,
    mask_phone,
    redact,
    redact_mapping,
)
from lifeline_hub.core.http.redact import LOGGERS, install_lifeline_redaction


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET https://oapi.dingtalk.com/gettoken?appkey=k&appsecret=S3CRET&x=1", "S3CRET"),
        ("POST /topapi/message?access_token=abc123def", "abc123def"),
        ('{"tenant_access_token": "t-g1044abc", "expire": 7200}', "t-g1044abc"),
        ('{"appKey": "k", "appSecret": "S3CRET"}', "S3CRET"),
        ('{"client_secret":"S3CRET","grant_type":"client_credentials"}', "S3CRET"),
        ("{'Authorization': 'Bearer t-abc.def'}", "t-abc.def"),
        ("Authorization: Bearer t-xyz", "t-xyz"),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("x-acs-dingtalk-access-token: deadbeef99", "deadbeef99"),
        ("X-Acs-Dingtalk-Access-Token=deadbeef99", "deadbeef99"),
        ('{"encrypt_key": "EK1", "aesKey": "AK1"}', "EK1"),
        ('{"encrypt_key": "EK1", "aesKey": "AK1"}', "AK1"),
        ('"{\\"app_secret\\":\\"S3CRET\\"}"', "S3CRET"),
        ("timestamp=1&sign=SIGNATURE123&msg_signature=abc", "SIGNATURE123"),
        ('{"password": "hunter2", "token": "tok"}', "hunter2"),
        ("headers={'X-Token': 'plain'} token=rawtok", "rawtok"),
        ("headers={'X-Token': 'plain'} token=rawtok", "plain"),
        ("X-Auth-Token: abc-123", "abc-123"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_non_secret_parameters_are_kept() -> None:
    text = "GET /list?page_token=pt1&page_size=50&client_token=ck1&offset=0"
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 13812341234 now", "call 138****1234 now"),
        ("call +8613812341234 now", "call 138****1234 now"),
        ("call 138 1234 1234 now", "call 138****1234 now"),
        ("mail alice.b@example.com", "mail a***@example.com"),
        ("13812341234@qq.com", "1***@qq.com"),
        ("us +14155552671", "us +1 415***2671"),
        ("test number +15550001234", "test number +1 555***1234"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_ordinary_numbers_are_not_phones() -> None:
    text = "GET http://127.0.0.1:53412/x?offset=0 -> 200 elapsed=0.123s ts=1714550400 id=20240501123456789"
    assert redact(text) == text


def test_redaction_is_idempotent() -> None:
    once = redact("13812341234 alice@example.com Bearer abc token=x")
    assert redact(once) == once


def test_mask_helpers() -> None:
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+86 138-1234-1234") == "138****1234"
    assert mask_phone("12") == "**"
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("not an address") == "***"


def test_redact_mapping() -> None:
    data = {
        "appSecret": "S3CRET",
        "nested": {"Access_Token": "tok", "phone": "13812341234", "n": 5},
        "items": ["bob@example.com", {"password": 123}],
    }
    assert redact_mapping(data) == {
        "appSecret": "***",
        "nested": {"Access_Token": "***", "phone": "138****1234", "n": 5},
        "items": ["b***@example.com", {"password": "***"}],
    }
    assert data["appSecret"] == "S3CRET"  # the input is not modified


def test_filter_redacts_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("lifeline.test.filter")
    redacting = RedactingFilter()
    logger.addFilter(redacting)
    try:
        with caplog.at_level(logging.INFO, logger="lifeline.test.filter"):
            logger.info("calling %s for %s", "/x?access_token=SECRETTOKEN", "13812341234")
            try:
                raise RuntimeError("failed with appsecret=SECRETKEY")
            except RuntimeError:
                logger.exception("boom")
            logger.info("bad format %d", "not a number")
    finally:
        logger.removeFilter(redacting)
    assert "SECRETTOKEN" not in caplog.text
    assert "SECRETKEY" not in caplog.text
    assert "13812341234" not in caplog.text
    assert "access_token=***" in caplog.text
    assert "138****1234" in caplog.text
    assert len(caplog.records) == 3


def test_install_redaction_covers_child_loggers(caplog: pytest.LogCaptureFixture) -> None:
    factory = logging.getLogRecordFactory()
    try:
        install_redaction("lifeline.test.installed")
        with caplog.at_level(logging.INFO):
            logging.getLogger("lifeline.test.installed.child.deep").info("Bearer SECRETTOKEN")
            logging.getLogger("elsewhere.test.other").info("token=VISIBLE")
    finally:
        logging.setLogRecordFactory(factory)
    assert "SECRETTOKEN" not in caplog.text
    assert "Bearer ***" in caplog.text
    assert "VISIBLE" in caplog.text  # other loggers are left alone


def test_errors_never_show_secrets() -> None:
    error = TransientError(
        "network error: /gettoken?appkey=k&appsecret=S3CRET for 13812341234",
        vendor="dingtalk",
        http_status=502,
        request_id="req-1",
    )
    for text in (str(error), repr(error), error.message):
        assert "S3CRET" not in text
        assert "13812341234" not in text
    assert str(error).startswith("dingtalk: network error")
    assert "request_id=req-1" in str(error)
    assert error.retryable
    assert error.sent


def test_error_fields_and_defaults() -> None:
    limited = RateLimited("slow down", vendor="feishu", code=99991400, retry_after=2.0)
    assert limited.retryable
    assert limited.retry_after == 2.0
    assert limited.code == 99991400
    assert not AuthFailed("bad secret").retryable
    assert VendorError("x", retryable=True).retryable
    denied = PermissionDenied("Access denied", scope="im:message:send_as_bot", vendor="feishu")
    assert not denied.retryable
    assert "im:message:send_as_bot" in str(denied)
    assert str(denied).startswith("feishu: permission denied")


def roundtrip(error: VendorError) -> VendorError:
    return pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes


def test_errors_survive_pickling() -> None:
    denied = PermissionDenied("Access denied", scope="im:message", vendor="feishu", code=99991672, http_status=403)
    copy = roundtrip(denied)
    assert isinstance(copy, PermissionDenied)
    assert str(copy) == str(denied)
    assert (copy.scope, copy.code, copy.http_status, copy.retryable) == ("im:message", 99991672, 403, False)
    transient = roundtrip(TransientError("read timeout", sent=False))
    assert isinstance(transient, TransientError)
    assert not transient.sent


def test_redaction_is_installed_once_and_lets_nameless_records_through() -> None:
    factory = logging.getLogRecordFactory()
    try:
        install_redaction("lifeline.test.once")
        installed = logging.getLogRecordFactory()
        install_redaction("lifeline.test.once")  # every CLI command and DAG task installs it at start-up
        assert logging.getLogRecordFactory() is installed
        record = logging.makeLogRecord({"msg": "x"})  # structlog's formatter makes records this way: name None
        assert record.getMessage() == "x"
    finally:
        logging.setLogRecordFactory(factory)


def test_lifeline_redaction_covers_urllib3_request_lines(caplog: pytest.LogCaptureFixture) -> None:
    """urllib3 logs each request line at DEBUG, query string included (DingTalk oapi, WeCom, WeChat tokens)."""
    install_lifeline_redaction()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            '%s://%s:%s "%s %s %s" %s %s', "https", "qyapi.weixin.qq.com", 443, "POST",
            "/cgi-bin/message/send?access_token=WECOMTOKEN123", "HTTP/1.1", 200, 57)
    assert "WECOMTOKEN123" not in caplog.text
    assert "access_token=***" in caplog.text


def test_every_dag_task_installs_lifeline_redaction(tmp_path: Path) -> None:
    from lifeline_hub.core.airflow import tasks

    config = tmp_path / "plugins.toml"
    config.write_text('[tenants.acme]\ndisplay_name = "Acme"\n', encoding="utf-8")
    tasks._config(str(config), "acme")
    covered = getattr(logging.getLogRecordFactory(), "redacted_loggers", frozenset())
    assert set(LOGGERS) <= covered
