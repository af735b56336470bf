"""State of the Weaver e-cology 9 emulator (weaver-oa.md): its settings (appids, OA users, workflow forms), the EC
dev-auth handshake (§2) and the faults a test can force; the workflow engine lives in `emulator_workflow`, the
message center and the unified todo in `emulator_notices`.

Auth (§2, §13.1-2): `regist` makes one RSA-1024 key pair and a UUID `secrit` per appid (a second regist rotates both
when `regist_rotates`, so a token applied with the old `secrit` fails "secret解密失败", UNCONFIRMED §15);
`applytoken` decrypts the `secret` header (PKCS#1 v1.5) and issues a UUID token for the `time` header's seconds
(default `token_ttl_seconds`, UNCONFIRMED §15); business calls carry `appid`, `token` and `userid` (the OA user id,
RSA-encrypted with `spk`), decrypted here, never compared. The "not logged in" answers are HTTP 200 family-A bodies:
`code -1` "token不存在或者超时：<token>", `errorCode "002"` "登录信息超时".

Faults: `rate_limit` a gateway's HTTP 429 HTML page (no rate limit is documented, §10), `server_error` a Resin 500
HTML page (§3), `expire_token` a valid token answered as expired, `timeout` act then stall (a lost answer),
`malformed`/`duplicate` a corrupt or repeated row in a list (family C); `fail_next` forces one of `FORCED` on the
next calls (of one API or any), `stall_next` acts and then stalls.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lifeline_hub.connectors.weaver.emulator_notices import MessageCenter, UnifiedTodo
from lifeline_hub.connectors.weaver.emulator_settings import BEIJING, EmulatorSettings, Json, OaUser
from lifeline_hub.connectors.weaver.emulator_workflow import Engine
from lifeline_hub.core.emulator import EmulatorWorld

Forced = Literal["html_500", "html_502", "rate_limit", "token_expired", "not_logged_in", "list_error"]
FORCED: tuple[Forced, ...] = ("html_500", "html_502", "rate_limit", "token_expired", "not_logged_in", "list_error")


class AuthError(Exception):
    """A family-A refusal (HTTP 200): the body to answer."""

    def __init__(self, body: Json) -> None:
        super().__init__(str(body.get("msg")))
        self.body = body


def family_a(msg: str, ok: bool = False, **extra: Any) -> Json:
    return {"msg": msg, "code": 0 if ok else -1, "msgShowType": "none", "status": ok, **extra}


NOT_LOGGED_IN: Json = {"msg": "登录信息超时", "errorCode": "002", "status": False}


def token_gone(token: str) -> AuthError:
    return AuthError(family_a(f"token不存在或者超时：{token}"))


@dataclass
class AppKeys:
    """One appid's registration: the server key pair (`spk` its public half) and the `secrit`."""

    private: rsa.RSAPrivateKey
    spk: str
    secrit: str
    cpk: str

    def decrypt(self, header: str) -> str | None:
        """The plaintext of `Base64(RSA_encrypt(spk, text))` (PKCS#1 v1.5), None when it is not one."""
        try:
            return self.private.decrypt(base64.b64decode(header, validate=True), padding.PKCS1v15()).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None


def new_keys(cpk: str) -> AppKeys:
    """A fresh server key pair: RSA-1024 as real sites' `spk` (`MIGfMA0G…`, §2.1)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the vendor's size)
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return AppKeys(private, base64.b64encode(der).decode("ascii"), str(uuid.uuid4()), cpk)


@dataclass
class Force:
    kind: Forced | None
    times: int
    api: str | None
    stall: float = 0.0


class WeaverWorld(EmulatorWorld[EmulatorSettings]):
    """One e-cology server: registered apps and tokens, OA users, workflows and requests, message center, ofs."""

    def __init__(self, settings: EmulatorSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or EmulatorSettings(), now)
        self.keys: dict[str, AppKeys] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (appid, expires at)
        self.regist_calls = 0
        self.applytoken_calls = 0
        self.calls = 0
        self.forced: list[Force] = []
        self.engine = Engine(self)
        self.messages = MessageCenter(self)
        self.ofs = UnifiedTodo(self)

    # ---------------------------------------------------------------- people and time

    def user(self, user_id: int) -> OaUser | None:
        return next((u for u in self.settings.users if u.id == user_id), None)

    def stamp(self, at: float | None = None) -> datetime:
        return datetime.fromtimestamp(self.now() if at is None else at, BEIJING)

    # ---------------------------------------------------------------- auth (§2)

    def regist(self, appid: str, cpk: str) -> Json:
        self.regist_calls += 1
        if appid not in self.settings.appids:
            raise AuthError(family_a("认证信息错误,appid未注册"))
        if not cpk:
            raise AuthError(family_a("认证信息错误,cpk不能为空"))
        keys = self.keys.get(appid)
        if keys is None or self.settings.regist_rotates:
            keys = self.keys[appid] = new_keys(cpk)
        return family_a("ok", True, spk=keys.spk, secrit=keys.secrit)

    def applytoken(self, appid: str, secret: str, lifetime: str) -> Json:
        self.applytoken_calls += 1
        if appid not in self.settings.appids:
            raise AuthError(family_a("认证信息错误,appid未注册"))
        keys = self.keys.get(appid)
        if keys is None or keys.decrypt(secret) != keys.secrit:
            raise AuthError(family_a("secret解密失败,请检查加密内容."))
        seconds = int(lifetime) if lifetime.strip().isdigit() and int(lifetime) > 0 else self.settings.token_ttl_seconds
        token = str(uuid.uuid4())
        self.tokens[token] = (appid, self.now() + seconds)
        return family_a("获取成功!", True, token=token)

    def authenticate(self, appid: str, token: str) -> AppKeys:
        """The app behind a business call's `appid` + `token`, or the family-A refusal (§2.4, §13.2)."""
        if not appid and not token:
            raise AuthError(dict(NOT_LOGGED_IN))
        if appid not in self.settings.appids or appid not in self.keys:
            raise AuthError(family_a("认证信息错误,appid未注册"))
        owner, expires_at = self.tokens.get(token, ("", 0.0))
        if owner != appid or self.now() >= expires_at or self.faults.roll("expire_token"):
            raise token_gone(token)
        return self.keys[appid]

    def acting_user(self, keys: AppKeys, header: str) -> OaUser | None:
        """The OA user the `userid` header names (decrypted with the app's key), None when unknown or disabled."""
        plain = keys.decrypt(header) if header else None
        user = self.user(int(plain)) if plain is not None and plain.strip().isdigit() else None
        return user if user is not None and user.active else None

    # ---------------------------------------------------------------- forced faults

    def take_forced(self, api: str) -> Force | None:
        with self.lock:
            force = next((f for f in self.forced if f.api in (None, api)), None)
            if force is not None:
                self.faults.injected[force.kind or "stall"] += 1
                force.times -= 1
                if force.times <= 0:
                    self.forced.remove(force)
            return force

    # ---------------------------------------------------------------- drive

    def fail_next(self, kind: Forced, times: int = 1, api: str | None = None) -> None:
        """Answer the next `times` calls (of `api`, e.g. `doCreateRequest`, or any) with `kind`, not acting on them."""
        if kind not in FORCED:
            raise ValueError(f"unknown fault {kind!r}; one of {FORCED}")
        if kind == "list_error" and not re.fullmatch(r"get\w+WorkflowRequest(List|Count)", api or ""):
            raise ValueError("list_error needs `api`: a list or count (getMyWorkflowRequestList...)")
        with self.lock:
            self.forced.append(Force(kind, times, api))

    def stall_next(self, seconds: float, times: int = 1, api: str | None = None) -> None:
        """Act on the next `times` calls (of `api`, or any), then answer only after `seconds`: a lost answer."""
        with self.lock:
            self.forced.append(Force(None, times, api, seconds))

    def expire_tokens(self) -> int:
        """Every token issued so far expires now (a restart of the OA, or a poll outliving its token)."""
        with self.lock:
            now = self.now()
            self.tokens = {t: (a, min(exp, now)) for t, (a, exp) in self.tokens.items()}
            return len(self.tokens)

    def approve(self, request_id: int, user_id: int | None = None, remark: str = "同意") -> Json:
        """An approver (default: the first pending one) approves the request: it moves on, archived after the last
        approval node."""
        with self.lock:
            return self.engine.approve(request_id, user_id, remark)

    def send_back(self, request_id: int, user_id: int | None = None, remark: str = "请补充材料") -> Json:
        """An approver sends the request back to its creator (logtype 3, isbereject 1)."""
        with self.lock:
            return self.engine.send_back(request_id, user_id, remark)

    def resubmit(self, request_id: int, remark: str = "") -> Json:
        """The creator submits a draft or sent-back request again."""
        with self.lock:
            return self.engine.resubmit(request_id, remark)

    def view(self, request_id: int, user_id: int) -> Json:
        """An operator opens the request (viewType -2)."""
        with self.lock:
            return self.engine.view(request_id, user_id)

    def force_archive(self, request_id: int, remark: str = "") -> Json:
        """An administrator force-archives the request (doForceOver, logtype e)."""
        with self.lock:
            return self.engine.force_archive(request_id, remark)

    def delete_request(self, request_id: int) -> Json:
        """An administrator deletes the request: reads answer NO_PERMISSION, lists leave it out."""
        with self.lock:
            return self.engine.delete(request_id)

    def view_todo(self, syscode: str, flowid: str, receiver: str) -> None:
        """A receiver opens a unified-todo item in the OA."""
        self.ofs.view(syscode, flowid, receiver)

    def add_user(self, id: int, name: str, loginid: str, workcode: str = "", active: bool = True) -> None:
        with self.lock:
            self.settings.users.append(OaUser(id=id, name=name, loginid=loginid, workcode=workcode, active=active))

    # ---------------------------------------------------------------- counts

    def api_calls(self) -> int:
        return self.calls

    def workflows_created(self) -> int:
        """Requests doCreateRequest made (deleted ones included): `weaver_workflows_created`."""
        return self.engine.created

    def duplicate_workflows(self) -> int:
        """Requests beyond the first carrying one Lifeline reference: `weaver_duplicate_workflows`."""
        return self.engine.duplicates()

    def summary(self) -> Json:
        with self.lock:
            return {"now": self.now(), "regist_calls": self.regist_calls, "applytoken_calls": self.applytoken_calls,
                    "workflows_created": self.workflows_created(), "duplicate_workflows": self.duplicate_workflows(),
                    **self.engine.summary(), **self.messages.summary(), **self.ofs.summary(),
                    "faults_injected": dict(self.faults.injected)}
