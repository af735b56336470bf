"""HTTP client for Aliyun SMS (Dysmsapi 2017-05-25): RPC `POST /`, signed requests, typed errors.

Parameters go in the query string (as the SDK sends them) and every attempt is signed afresh
(new nonce and timestamp, channels.md §1.7 `SignatureNonceUsed`) by a `requests` auth hook. Business
codes arrive in HTTP 200 bodies and are mapped here, since nothing else raises for them. Phone
numbers in the query are masked in the URL logs of `lifeline.http` and urllib3 and in error messages
(the core redaction does not recognise international numbers written without `+`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from lifeline_hub.connectors.aliyun_sms.codes import BUSINESS, ChannelPaused, Undeliverable, gateway_kind
from lifeline_hub.connectors.aliyun_sms.signing import canonical_query, v2_signature, v3_authorization
from lifeline_hub.core.http import (
    AuthFailed,
    InvalidRequest,
    PermissionDenied,
    Quota,
    RateLimited,
    RateLimiter,
    TransientError,
    VendorClient,
    VendorError,
    items,
    mask_phone,
    offset_pages,
    parse_retry_after,
)

VERSION = "2017-05-25"
ALIYUN_HOST = "https://dysmsapi.aliyuncs.com"
QUOTAS: dict[str, Quota] = {"SendSms": Quota(5000, 1.0), "QuerySendDetails": Quota(5000, 1.0)}
"""Documented API QPS per account (channels.md §1.8)."""
PAGE_SIZE = 50
SignatureVersion = Literal["v3", "v2"]
_NUMBERS = re.compile(r"(PhoneNumbers?(?:=|%3D))((?:[+\d,]|%2B|%2C|%252B|%252C)+)(?![*\w])")


def scrub_numbers(text: str) -> str:
    """Mask the values of `PhoneNumber(s)=` in text (URLs in logs and error messages)."""

    def mask(match: re.Match[str]) -> str:
        numbers = unquote(unquote(match.group(2))).split(",")
        return match.group(1) + ",".join(mask_phone(n) for n in numbers)

    return _NUMBERS.sub(mask, text)


class _ScrubNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub_numbers(record.getMessage()), ()
        return True


for _logger in ("lifeline.http", "urllib3.connectionpool"):  # both log request URLs at DEBUG
    logging.getLogger(_logger).addFilter(_ScrubNumbers())


class AliyunAuth(AuthBase):
    """Signs each prepared request: V3 headers + `Authorization`, or V2 common parameters + `Signature`.

    The client passes the action and version as `x-acs-action`/`x-acs-version` headers; for V2 they
    move into the query. The query is rewritten in canonical encoding, so the gateway sees exactly
    what was signed.
    """

    def __init__(self, key_id: str, secret: str, version: SignatureVersion = "v3", security_token: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.key_id, self._secret, self.version = key_id, secret, version
        self._security_token = security_token
        self._clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(r.url or "")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._clock()))
        nonce = uuid.uuid4().hex
        method = (r.method or "POST").upper()
        if self.version == "v3":
            body = r.body.encode() if isinstance(r.body, str) else (r.body or b"")
            r.headers["host"] = parts.netloc
            r.headers["x-acs-date"] = stamp
            r.headers["x-acs-signature-nonce"] = nonce
            r.headers["x-acs-content-sha256"] = hashlib.sha256(body).hexdigest()
            if self._security_token:
                r.headers["x-acs-security-token"] = self._security_token
            headers = {k.lower(): str(v) for k, v in r.headers.items()}
            signing = {k: v for k, v in headers.items() if k == "host" or k.startswith("x-acs-")}
            r.headers["Authorization"] = v3_authorization(method, parts.path or "/", query, signing, self.key_id,
                                                          self._secret)
        else:
            query.update({
                "Action": str(r.headers.pop("x-acs-action")), "Version": str(r.headers.pop("x-acs-version")),
                "Format": "JSON", "AccessKeyId": self.key_id, "SignatureMethod": "HMAC-SHA1",
                "SignatureVersion": "1.0", "SignatureNonce": nonce, "Timestamp": stamp,
            })
            if self._security_token:
                query["SecurityToken"] = self._security_token
            query["Signature"] = v2_signature(method, query, self._secret)
        r.url = urlunsplit(parts._replace(query=canonical_query(query)))
        return r


class AliyunSmsClient(VendorClient):
    """`VendorClient` for Dysmsapi; `check` returns the body of a `Code: OK` answer."""

    vendor = "aliyun_sms"
    request_id_header = "x-acs-request-id"

    def __init__(self, base_url: str, key_id: str, secret: str, *, signature: SignatureVersion = "v3",
                 security_token: str | None = None, **options: Any) -> None:
        options.setdefault("limiter", RateLimiter())
        super().__init__(base_url, **options)
        self.session.auth = AliyunAuth(key_id, secret, signature, security_token, clock=lambda: self.clock.time())

    def check(self, response: requests.Response) -> Any:
        body = self.parse_json(response)
        if not isinstance(body, dict):
            if response.status_code >= 400:
                raise self.status_error(response)
            raise self.error(TransientError, response, "expected a JSON object")
        code, message = str(body.get("Code") or ""), str(body.get("Message") or "")
        request_id = body.get("RequestId") or None
        if response.status_code >= 400:
            raise self._gateway_error(response, code or f"HTTP{response.status_code}", message, request_id)
        if code == "OK":
            return body
        raise self._business_error(response, code, message, request_id)

    def _gateway_error(self, response: requests.Response, code: str, message: str,
                       request_id: str | None) -> VendorError:
        kind = gateway_kind(code, response.status_code)
        text = f"{code}: {message}"
        if kind == "rate_limited":
            retry_ms = response.headers.get("x-acs-retry-after")
            retry_after = (float(retry_ms) / 1000 if retry_ms and retry_ms.isdigit()
                           else parse_retry_after(response.headers.get("Retry-After")))
            return self.error(RateLimited, response, text, code=code, request_id=request_id, retry_after=retry_after)
        if kind == "auth":
            return self.error(AuthFailed, response, text, code=code, request_id=request_id)
        if kind == "nonce":  # refused before processing: a fresh nonce on the next attempt fixes it
            return self.error(TransientError, response, text, code=code, request_id=request_id, sent=False)
        if kind == "transient":
            return self.error(TransientError, response, text, code=code, request_id=request_id)
        return self.error(InvalidRequest, response, text, code=code, request_id=request_id)

    def _business_error(self, response: requests.Response, code: str, message: str,
                        request_id: str | None) -> VendorError:
        category = BUSINESS.get(code, ("request", ""))[0]
        text = f"{code}: {message}"
        kind: type[VendorError] = {"recipient": Undeliverable, "channel": ChannelPaused,
                                   "transient": TransientError}.get(category, InvalidRequest)
        if category == "permission":
            return self.error(PermissionDenied, response, text, code=code, request_id=request_id,
                              scope="AliyunDysmsFullAccess")
        return self.error(kind, response, text, code=code, request_id=request_id)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().request(*args, **kwargs)
        except VendorError as exc:
            exc.message = scrub_numbers(exc.message)
            exc.args = (exc.message,)
            raise

    def call(self, action: str, params: Mapping[str, str], *, idempotent: bool) -> dict[str, Any]:
        headers = {"x-acs-action": action, "x-acs-version": VERSION}
        body: dict[str, Any] = self.request("POST", "/", api=action, quota=QUOTAS[action], params=params,
                                            headers=headers, idempotent=idempotent)
        return body

    def send_sms(self, number: str, sign_name: str, template_code: str, params: Mapping[str, str],
                 out_id: str) -> dict[str, Any]:
        """One SendSms to one number; not idempotent, so never repeated here after an ambiguous failure."""
        query = {"PhoneNumbers": number, "SignName": sign_name, "TemplateCode": template_code, "OutId": out_id}
        if params:
            query["TemplateParam"] = json.dumps(dict(params), ensure_ascii=False, separators=(",", ":"))
        return self.call("SendSms", query, idempotent=False)

    def send_details(self, number: str, send_date: str, biz_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every `SmsSendDetailDTO` for one number and Beijing date (`yyyyMMdd`), all pages."""

        def fetch(page: int) -> tuple[list[dict[str, Any]], bool, int | None]:
            query = {"PhoneNumber": number, "SendDate": send_date, "PageSize": str(PAGE_SIZE),
                     "CurrentPage": str(page)}
            if biz_id:
                query["BizId"] = biz_id
            body = self.call("QuerySendDetails", query, idempotent=True)
            rows = (body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
            total = int(body.get("TotalCount") or 0)
            return list(rows), page * PAGE_SIZE < total and bool(rows), page + 1

        return items(offset_pages(fetch, start=1, vendor=self.vendor))
