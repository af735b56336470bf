"""Plain HTTP calls to the Weaver emulator as weaver-oa.md's documented clients make them (the official token
sample's three steps, form-encoded business calls, JSON ofs pushes): shared by the emulator and contract tests."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

PA = "/api/workflow/paService"
TIMEOUT = 10.0


def rsa_b64(spk: str, text: str) -> str:
    """`Base64(RSA_encrypt(spk, text))`, PKCS#1 v1.5 (§2.3's sketch)."""
    key = load_der_public_key(base64.b64decode(spk))
    assert isinstance(key, rsa.RSAPublicKey)
    return base64.b64encode(key.encrypt(text.encode("utf-8"), padding.PKCS1v15())).decode()


def client_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (the vendor's size)
    return base64.b64encode(key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


def main_data(**fields: str) -> str:
    return json.dumps([{"fieldName": k, "fieldValue": v} for k, v in fields.items()], ensure_ascii=False)


@dataclass
class Api:
    """One app on the emulator: `login()` registers and applies a token; `call` sends appid, token and the
    RSA-encrypted OA user id (a fresh ciphertext each call), never a cookie."""

    url: str
    appid: str
    user: str = "101"
    spk: str = ""
    secrit: str = ""
    token: str = ""
    timeout: float = TIMEOUT
    answers: list[Any] = field(default_factory=list)

    def regist(self, appid: str | None = None, cpk: str | None = None) -> dict[str, Any]:
        headers = {"appid": self.appid if appid is None else appid, "cpk": client_key() if cpk is None else cpk}
        body: dict[str, Any] = requests.post(f"{self.url}/api/ec/dev/auth/regist", headers=headers,
                                             timeout=self.timeout).json()
        if body.get("status") is True:
            self.spk, self.secrit = body["spk"], body["secrit"]
        return body

    def applytoken(self, secret: str | None = None, lifetime: str | None = None) -> dict[str, Any]:
        headers = {"appid": self.appid, "secret": rsa_b64(self.spk, self.secrit) if secret is None else secret}
        if lifetime is not None:
            headers["time"] = lifetime
        body: dict[str, Any] = requests.post(f"{self.url}/api/ec/dev/auth/applytoken", headers=headers,
                                             timeout=self.timeout).json()
        if body.get("status") is True:
            self.token = body["token"]
        return body

    def login(self) -> Api:
        assert self.regist()["status"] is True
        assert self.applytoken(lifetime="3600")["status"] is True
        return self

    def headers(self, user: str | None = None, **extra: str) -> dict[str, str]:
        return {"appid": self.appid, "token": self.token, "userid": rsa_b64(self.spk, user or self.user), **extra}

    def raw(self, method: str, path: str, user: str | None = None, headers: dict[str, str] | None = None,
            **kwargs: Any) -> requests.Response:
        with requests.Session() as session:  # a fresh cookie jar per call (§2.3)
            return session.request(method, f"{self.url}{path}", headers=self.headers(user) if headers is None
                                   else headers, timeout=self.timeout, **kwargs)

    def post(self, name: str, user: str | None = None, **form: Any) -> Any:
        """A paService POST, form-encoded."""
        answer = self.raw("POST", f"{PA}/{name}", user, data={k: str(v) for k, v in form.items()}).json()
        self.answers.append(answer)
        return answer

    def get(self, name: str, user: str | None = None, **query: Any) -> Any:
        return self.raw("GET", f"{PA}/{name}", user, params=query).json()

    def create(self, ref: str = "LL-1", user: str | None = None, **fields: str) -> Any:
        main = {"candidate": "张三", "interview": "后端工程师 二面", "reason": "候选人出差", "lifeline_ref": ref,
                **fields}
        return self.post("doCreateRequest", user, workflowId=1001, requestName=f"面试改期 {ref}",
                         mainData=main_data(**main))

    def message(self, name: str, **form: str) -> Any:
        headers = {"appid": self.appid, "token": self.token, "skipsession": "1"}
        return self.raw("POST", f"/api/ec/dev/message/{name}", headers=headers, data=form).json()

    def ofs(self, name: str, body: Any) -> Any:
        return self.raw("POST", f"/rest/ofs/{name}", headers={}, json=body).json()


def todo(flowid: str = "iv-42", receiver: str = "wangfang", receivets: int | str = 1_780_000_000_000,
         **extra: str) -> dict[str, str]:
    """A unified-todo item (§8.2), all strings."""
    return {"syscode": "lifeline", "flowid": flowid, "requestname": "张三 面试未到场：请决定是否改期",
            "workflowname": "面试跟进", "nodename": "HR处理", "pcurl": "https://hub.example.com/t/iv-42?s=x&y=1",
            "appurl": "https://hub.example.com/m/iv-42", "creator": "lifeline", "createdatetime": "2026-05-28 20:26:40",
            "receiver": receiver, "receivedatetime": "2026-05-28 20:26:40", "receivets": str(receivets),
            "isremark": "0", "viewtype": "0", **extra}
