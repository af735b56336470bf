"""State of the Aliyun SMS emulator: account, templates, sent messages, per-number limits, receipt pushes.

`SmsWorld` holds what a Dysmsapi account would (approved signatures and templates, every accepted
message with its carrier outcome, flow-control windows, the SmsReport push queue) in the vendor's
wire shapes (channels.md §1). Times come from an injectable clock plus `advance()`, so tests and the
sandbox can run virtual time; a message settles `delivery_delay_seconds` after it was accepted.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import requests
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.aliyun_sms.codes import BUSINESS, GATEWAY
from lifeline_hub.core.emulator import DeliveryWorker, EmulatorWorld, Faults, QuotaMeter

log = logging.getLogger(__name__)

Json = dict[str, Any]
Outcome = Literal["delivered", "failed", "pending"]
WINDOWS: tuple[tuple[str, int, str], ...] = (
    ("limit_minute", 60, "分钟级"), ("limit_hour", 3600, "小时级"), ("limit_day", 86400, "天级"),
)
_VARIABLE = re.compile(r"\$\{(\w+)\}")
_URL = re.compile(r"https?://|www\.|\.(?:com|cn|net|org)(?:/|$)", re.IGNORECASE)
_MAINLAND = re.compile(r"1\d{10}")
_INTERNATIONAL = re.compile(r"[1-9]\d{6,14}")


class Template(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str
    kind: Literal["notification", "verification", "promotion"] = "notification"


def _default_templates() -> dict[str, Template]:
    return {
        "SMS_900000001": Template(content="${name}您好，您的面试将于${time}开始，请准时参加，改期请访问招聘页面。"),
        "SMS_900000002": Template(content="${name}您好，您${time}的面试需要改期，请在招聘页面选择新的时间。"),
        "SMS_900000003": Template(content="${name}您好，您${time}的面试已取消。"),
    }


class EmulatorSettings(BaseModel):
    """Knobs of one emulated Aliyun account (defaults follow channels.md §1.8 for notification SMS)."""

    model_config = ConfigDict(extra="forbid")

    access_keys: dict[str, str] = Field(
        default_factory=lambda: {"LTAI5tEmulatorKeyId00001": "emulator-access-key-secret-00001"}, repr=False
    )
    sign_names: list[str] = Field(default_factory=lambda: ["面试助手"])
    templates: dict[str, Template] = Field(default_factory=_default_templates)
    limit_minute: int | None = Field(None, ge=1, description="same signature+template+number per minute")
    limit_hour: int | None = Field(None, ge=1, description="... per hour")
    limit_day: int | None = Field(50, ge=1, description="... per 24 hours back from now")
    account_day_limit: int | None = Field(None, ge=1, description="console daily cap (isv.DAY_LIMIT_CONTROL)")
    balance: int | None = Field(None, ge=0, description="billed parts left; None = unlimited")
    blacklist: list[str] = Field(default_factory=list, description="keywords refused in variables")
    max_param_length: int = Field(35, ge=1)
    delivery_delay_seconds: float = Field(2.0, ge=0)
    report_url: str | None = Field(None, description="SmsReport HTTP batch push URL")
    push_background: bool = Field(True, description="push receipts from a background thread")
    push_timeout: float = Field(5.0, gt=0)
    push_retry_minutes: list[float] = Field(default_factory=lambda: [1.0, 5.0, 10.0])
    qps_per_api: int = Field(5000, ge=1)
    retry_after_ms: int = Field(1000, ge=0, description="x-acs-retry-after on throttling answers")
    check_timestamps: bool = Field(True, description="refuse requests signed more than 15 min off")
    timezone: str = "Asia/Shanghai"
    denied_actions: list[str] = Field(default_factory=list, description=(
        "API actions (`SendSms`...) the RAM user lacks the permission for (`isp.RAM_PERMISSION_DENY`, channels.md "
        "§1.7); `*` denies every action"))
    faults: Faults = Field(default_factory=Faults)


class GatewayError(Exception):
    """An error the gateway answers with an HTTP status >= 400."""

    def __init__(self, code: str, message: str = "", status: int | None = None) -> None:
        known = GATEWAY.get(code, (400, code))
        super().__init__(message or known[1])
        self.code, self.message, self.status = code, message or known[1], status or known[0]


class BusinessError(Exception):
    """An error the API answers in an HTTP 200 body with `Code` != `OK`."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or BUSINESS.get(code, ("request", code))[1])
        self.code, self.message = code, message or BUSINESS.get(code, ("request", code))[1]


def fail(code: str, message: str = "") -> Exception:
    """The exception answering with `code`, whichever layer it belongs to."""
    if code in BUSINESS or code.startswith(("isv.", "isp.")):
        return BusinessError(code, message)
    return GatewayError(code, message)


@dataclass
class Message:
    """One number of one accepted SendSms request."""

    biz_id: str
    phone: str
    sign_name: str
    template_code: str
    content: str
    out_id: str
    sent_at: float
    settle_at: float
    outcome: Outcome
    err_code: str
    parts: int
    reported: bool = False

    def status(self, now: float) -> int:
        """QuerySendDetails `SendStatus`: 1 waiting, 2 failed, 3 delivered."""
        if self.outcome == "pending" or now < self.settle_at:
            return 1
        return 3 if self.outcome == "delivered" else 2

    def public(self, now: float) -> Json:
        return {"biz_id": self.biz_id, "phone": self.phone, "sign_name": self.sign_name,
                "template_code": self.template_code, "content": self.content, "out_id": self.out_id,
                "sent_at": self.sent_at, "status": self.status(now), "err_code": self.err_code,
                "parts": self.parts, "reported": self.reported}


@dataclass
class Report:
    """One SmsReport batch push (a JSON array) and its delivery attempts."""

    seq: int
    items: list[Json]
    due: float
    attempts: int = 0
    state: Literal["pending", "delivered", "failed"] = "pending"
    error: str = ""

    def public(self) -> Json:
        return {"seq": self.seq, "items": len(self.items), "attempts": self.attempts, "state": self.state,
                "error": self.error, "biz_ids": [i["biz_id"] for i in self.items]}


@dataclass
class Rule:
    outcome: Outcome
    err_code: str
    delay: float | None


@dataclass
class Forced:
    """A forced answer for the next calls: an error `code`, or (code "") a stall after processing."""

    code: str
    action: str | None
    message: str = ""
    times: int = 1
    stall: float = 0.0


@dataclass
class Ledger:
    """Accepted-send instants per (signature, template, number) and for the whole account."""

    per_key: dict[tuple[str, str, str], deque[float]] = field(default_factory=dict)
    account: deque[float] = field(default_factory=deque)
    refused: dict[str, int] = field(default_factory=dict)


class SmsWorld(EmulatorWorld[EmulatorSettings]):
    """Everything the emulated account knows, plus the drive and inspect API for tests and the sandbox."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time,
                 qps_clock: Callable[[], float] | None = None) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.tz = ZoneInfo(self.settings.timezone)
        self.quota = QuotaMeter(self.settings.qps_per_api, 1.0, clock=qps_clock or self.clock.monotonic)
        self.messages: list[Message] = []
        self.reports: list[Report] = []
        self.rules: dict[str, Rule] = {}
        self.forced: list[Forced] = []
        self.ledger = Ledger()
        self.nonces: dict[str, float] = {}
        self._ids = itertools.count(1)
        self.pusher = DeliveryWorker(self._push_due, "aliyun-sms-reports", interval=0.1)

    # ------------------------------------------------------------ clock, ids, faults

    def wall(self) -> float:
        """The client's clock (the real one, without `advance`; the sandbox's simulated time while it simulates
        waiting): what signed timestamps and nonces are checked against."""
        return self.clock.client_time()

    def advance(self, seconds: float) -> float:
        """Move the world clock forward; settles messages and pushes what became due."""
        self.clock.advance(seconds)
        self.deliver_reports()
        return self.now()

    def local(self, t: float) -> datetime:
        return datetime.fromtimestamp(t, self.tz)

    def stamp(self, t: float) -> str:
        """Beijing wall time as the API writes it: `yyyy-MM-dd HH:mm:ss`."""
        return self.local(t).strftime("%Y-%m-%d %H:%M:%S")

    def use_nonce(self, nonce: str) -> bool:
        """Record a signature nonce; False when it was used in the last 15 minutes."""
        now = self.wall()
        with self.lock:
            for old in [n for n, t in self.nonces.items() if now - t > 900]:
                del self.nonces[old]
            if nonce in self.nonces:
                return False
            self.nonces[nonce] = now
            return True

    def deny_actions(self, actions: list[str]) -> None:
        """Withdraw the RAM user's permission for `actions` (or `*`: all of them); [] grants all."""
        with self.lock:
            self.settings.denied_actions = list(actions)

    def authorize(self, action: str) -> None:
        """`isp.RAM_PERMISSION_DENY` when the RAM user may not call `action`."""
        with self.lock:
            denied = self.settings.denied_actions
        if "*" in denied or action in denied:
            raise BusinessError("isp.RAM_PERMISSION_DENY")

    def take_forced(self, action: str, stall: bool = False) -> Forced | None:
        with self.lock:
            for forced in self.forced:
                if forced.action in (None, action) and bool(forced.stall) == stall:
                    forced.times -= 1
                    if forced.times <= 0:
                        self.forced.remove(forced)
                    return forced
        return None

    # ------------------------------------------------------------ SendSms

    def send(self, phones: str, sign_name: str, template_code: str, template_param: str | None,
             out_id: str) -> str:
        """Validate and accept one SendSms request; return its BizId (raises `BusinessError`)."""
        numbers = [normalise_number(p) for p in phones.split(",") if p.strip()]
        if len(numbers) > 1000:
            raise BusinessError("isv.MOBILE_COUNT_OVER_LIMIT")
        if sign_name not in self.settings.sign_names:
            raise BusinessError("isv.SMS_SIGNATURE_ILLEGAL")
        template = self.settings.templates.get(template_code)
        if template is None:
            raise BusinessError("isv.SMS_TEMPLATE_ILLEGAL")
        content = f"【{sign_name}】" + self._render(template, template_param)
        parts = 1 if len(content) <= 70 else math.ceil(len(content) / 67)
        now = self.now()
        self._check_account(now, len(numbers), parts * len(numbers))
        for number in numbers:
            self._check_limits((sign_name, template_code, number), now)
        biz_id = f"{900000000000000 + next(self._ids)}^0"
        for number in numbers:
            key = (sign_name, template_code, number)
            self.ledger.per_key.setdefault(key, deque()).append(now)
            self.ledger.account.append(now)
            rule = self.rules.get(number, Rule("delivered", "DELIVERED", None))
            delay = self.settings.delivery_delay_seconds if rule.delay is None else rule.delay
            self.messages.append(Message(biz_id, number, sign_name, template_code, content, out_id, now, now + delay,
                                         rule.outcome, rule.err_code, parts))
        if self.settings.balance is not None:
            self.settings.balance -= parts * len(numbers)
        self._ensure_pusher()
        return biz_id

    def _render(self, template: Template, raw: str | None) -> str:
        names = _VARIABLE.findall(template.content)
        if not names:
            return template.content
        if not raw:
            raise BusinessError("isv.TEMPLATE_MISSING_PARAMETERS")
        try:
            values = json.loads(raw)
        except ValueError:
            raise BusinessError("isv.INVALID_JSON_PARAM") from None
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise BusinessError("isv.INVALID_JSON_PARAM")
        missing = [n for n in names if n not in values]
        if missing:
            raise BusinessError("isv.TEMPLATE_MISSING_PARAMETERS", f"模板缺少变量:{missing[0]}")
        for name in names:
            value = values[name]
            if len(value) > self.settings.max_param_length:
                raise BusinessError("isv.PARAM_LENGTH_LIMIT", f"参数超出长度限制:{name}")
            if _URL.search(value):
                raise BusinessError("isv.PARAM_NOT_SUPPORT_URL")
            if any(word in value for word in self.settings.blacklist):
                raise BusinessError("isv.BLACK_KEY_CONTROL_LIMIT")
        return _VARIABLE.sub(lambda m: str(values[m.group(1)]), template.content)

    def _check_account(self, now: float, numbers: int, parts: int) -> None:
        cap = self.settings.account_day_limit
        account = self.ledger.account
        while account and now - account[0] >= 86400:
            account.popleft()
        if cap is not None and len(account) + numbers > cap:
            raise BusinessError("isv.DAY_LIMIT_CONTROL")
        if self.settings.balance is not None and self.settings.balance < parts:
            raise BusinessError("isv.AMOUNT_NOT_ENOUGH")

    def _check_limits(self, key: tuple[str, str, str], now: float) -> None:
        """Per-number flow control (mainland only), counted on accepted sends, windows back from now."""
        if not _MAINLAND.fullmatch(key[2]):
            return
        sent = self.ledger.per_key.get(key, deque())
        while sent and now - sent[0] >= 86400:
            sent.popleft()
        for setting, seconds, label in WINDOWS:
            limit = getattr(self.settings, setting)
            if limit is not None and sum(1 for t in sent if now - t < seconds) >= limit:
                self.ledger.refused[key[2]] = self.ledger.refused.get(key[2], 0) + 1
                raise BusinessError("isv.BUSINESS_LIMIT_CONTROL", f"触发{label}流控Permits:{limit}")

    # ------------------------------------------------------------ QuerySendDetails

    def details(self, phone: str, send_date: str, biz_id: str | None) -> list[Json]:
        """Every message to `phone` accepted on the Beijing date `send_date`, oldest first."""
        number = normalise_number(phone)
        now = self.now()
        rows = []
        for m in self.messages:
            if m.phone != number or self.local(m.sent_at).strftime("%Y%m%d") != send_date:
                continue
            if biz_id and m.biz_id != biz_id:
                continue
            status = m.status(now)
            row: Json = {"PhoneNum": m.phone, "SendStatus": status, "ErrCode": m.err_code if status != 1 else "",
                         "TemplateCode": m.template_code, "Content": m.content, "SendDate": self.stamp(m.sent_at),
                         "OutId": m.out_id}
            if status != 1:
                row["ReceiveDate"] = self.stamp(m.settle_at)
            rows.append(row)
        return rows

    def corrupt(self, rows: list[Json]) -> list[Json]:
        """The `malformed` fault: garble one row's status and drop its dates."""
        if rows and self.faults.roll("malformed"):
            rows = copy.deepcopy(rows)
            rows[0]["SendStatus"] = "?"
            rows[0].pop("ReceiveDate", None)
            rows[0].pop("SendDate", None)
        return rows

    # ------------------------------------------------------------ SmsReport push

    def collect_reports(self) -> None:
        """Queue one batch push with every message settled since the last collection."""
        now = self.now()
        with self.lock:
            settled = [m for m in self.messages if not m.reported and m.status(now) != 1]
            for m in settled:
                m.reported = True
            if not settled or not self.settings.report_url:
                return
            items = [{"phone_number": m.phone, "send_time": self.stamp(m.sent_at),
                      "report_time": self.stamp(m.settle_at), "success": m.outcome == "delivered",
                      "err_code": m.err_code, "err_msg": "用户接收成功" if m.outcome == "delivered" else "用户接收失败",
                      "sms_size": str(m.parts), "biz_id": m.biz_id, "out_id": m.out_id} for m in settled]
            for _ in range(2 if self.faults.roll("duplicate") else 1):
                self.reports.append(Report(len(self.reports) + 1, copy.deepcopy(items), now))

    def deliver_reports(self) -> int:
        """Collect, then attempt every due push once; return how many were accepted."""
        return self.pusher.run()

    def _push_due(self) -> int:
        self.collect_reports()
        now = self.now()
        with self.lock:
            due = [r for r in self.reports if r.state == "pending" and r.due <= now]
        return sum(self._push(report) for report in due)

    def _push(self, report: Report) -> int:
        url = self.settings.report_url
        report.attempts += 1
        try:
            if not url:
                raise ValueError("no report URL configured")
            reply = requests.post(url, data=json.dumps(report.items, ensure_ascii=False).encode(),
                                  headers={"Content-Type": "application/json;charset=utf-8"},
                                  timeout=self.settings.push_timeout)
            if reply.status_code != 200:
                raise ValueError(f"HTTP {reply.status_code}")
            if not isinstance(reply.json().get("code"), int):
                raise ValueError("reply has no numeric code")
        except (requests.RequestException, ValueError, AttributeError) as exc:
            report.error = type(exc).__name__ if isinstance(exc, requests.RequestException) else str(exc)
            retries = self.settings.push_retry_minutes
            if report.attempts > len(retries):
                report.state = "failed"
            else:
                report.due = self.now() + 60 * retries[report.attempts - 1]
            log.info("SmsReport push %d attempt %d failed: %s", report.seq, report.attempts, report.error)
            return 0
        report.state, report.error = "delivered", ""
        return 1

    def _ensure_pusher(self) -> None:
        """Push from the background thread (it polls: messages settle as time passes)."""
        if self.settings.push_background and self.settings.report_url:
            self.pusher.start()

    def close(self) -> None:
        self.pusher.close()

    # ------------------------------------------------------------ drive

    def set_outcome(self, phone: str, outcome: Outcome = "delivered", err_code: str = "",
                    delay_seconds: float | None = None) -> None:
        """How the carrier treats later messages to `phone` (failed codes e.g. `MK:0001`)."""
        code = err_code or ("DELIVERED" if outcome == "delivered" else "" if outcome == "pending" else "MK:0001")
        with self.lock:
            self.rules[normalise_number(phone)] = Rule(outcome, code, delay_seconds)

    def fail_next(self, code: str, times: int = 1, action: str | None = None, message: str = "") -> None:
        """Answer the next `times` calls (of `action`, or any) with an error `code`."""
        if code not in BUSINESS and code not in GATEWAY and not code.startswith(("Missing", "Invalid")):
            raise ValueError(f"unknown error code {code!r}")
        with self.lock:
            self.forced.append(Forced(code, action, message, times))

    def stall_next(self, seconds: float, times: int = 1, action: str | None = None) -> None:
        """Process the next `times` calls, then stall `seconds` before answering (an ambiguous timeout)."""
        with self.lock:
            self.forced.append(Forced("", action, times=times, stall=seconds))

    def set_report_url(self, url: str | None) -> None:
        with self.lock:
            self.settings.report_url = url
        self._ensure_pusher()

    def set_limits(self, minute: int | None = None, hour: int | None = None, day: int | None = 50) -> None:
        with self.lock:
            self.settings.limit_minute, self.settings.limit_hour, self.settings.limit_day = minute, hour, day

    def set_balance(self, parts: int | None) -> None:
        with self.lock:
            self.settings.balance = parts

    # ------------------------------------------------------------ inspection

    def message_list(self) -> list[Json]:
        now = self.now()
        with self.lock:
            return [m.public(now) for m in self.messages]

    def report_list(self) -> list[Json]:
        with self.lock:
            return [r.public() for r in self.reports]

    def api_calls(self) -> int:
        return self.quota.total_calls

    def quota_breaches(self) -> int:
        return self.quota.total_breaches

    def summary(self) -> Json:
        """Counts of messages, refusals, pushes, calls and injected faults: the `/_emulator/state` body."""
        now = self.now()
        with self.lock:
            statuses = [m.status(now) for m in self.messages]
            pushes = [r.state for r in self.reports]
            return {
                "now": now, "messages": len(self.messages),
                "by_status": {name: statuses.count(n) for n, name in ((1, "waiting"), (2, "failed"), (3, "delivered"))},
                "limit_refusals": sum(self.ledger.refused.values()),
                "reports": {s: pushes.count(s) for s in sorted(set(pushes))},
                "report_url": self.settings.report_url, "balance": self.settings.balance,
                "calls": dict(self.quota.calls), "qps_breaches": dict(self.quota.breaches),
                "faults": self.faults.faults.model_dump(), "faults_injected": dict(self.faults.injected),
            }


def normalise_number(raw: str) -> str:
    """A number as the API reads it: mainland 11 digits (after `+86`/`0086`/`86`), else country code + number."""
    text = raw.strip()
    digits = text[4:] if text.startswith("0086") else text.removeprefix("+")
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MAINLAND.fullmatch(digits) or (_INTERNATIONAL.fullmatch(digits) and not digits.startswith("1")):
        return digits
    raise BusinessError("isv.MOBILE_NUMBER_ILLEGAL")
