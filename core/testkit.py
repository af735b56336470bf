"""Test kit for connector authors: scrubbed vcrpy cassettes of a connector's real HTTP exchanges.

Record once against the emulator (or, for a vendor, the real API) and replay in CI:

    with cassette(Path("tests/cassettes/dingtalk"), "receipts_sync"):
        ... run the connector ...

Replay is the default; `LIFELINE_RECORD=1` re-records (the emulator or vendor must then be
reachable). Tokens, secrets, phone numbers and e-mails are scrubbed from requests and responses
before anything is written, and a cassette that still contains one fails the recording.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lifeline_hub.core.http.redact import redact, redact_json, redact_mapping

RECORD_ENV = "LIFELINE_RECORD"
SECRET_HEADERS = ("authorization", "x-acs-dingtalk-access-token", "x-lark-signature", "cookie", "set-cookie")
_LOOPBACK = re.compile(r"^http://127\.0\.0\.1:\d+")


def recording() -> bool:
    return os.environ.get(RECORD_ENV, "") not in ("", "0")


def _scrub_body(body: Any) -> Any:
    if not body:
        return body
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    try:
        data = json.loads(text)  # a bare array or number is JSON too (e-cology's lists and counts)
        scrubbed = json.dumps(redact_mapping(data) if isinstance(data, dict) else redact_json(data), ensure_ascii=False)
    except (ValueError, TypeError):
        scrubbed = redact(text)
    return scrubbed.encode() if isinstance(body, bytes) else scrubbed


def _secret_name(name: str) -> bool:
    """A header or query key that holds a credential: a known vendor header, or one `redact` treats as a secret
    (`X-Api-Key`, `X-Auth-Token`, `Signature`, ...)."""
    return name.lower() in SECRET_HEADERS or redact(f"{name}=x") != f"{name}=x"


def _scrub_url(url: str) -> str:
    parts = urlsplit(_LOOPBACK.sub("http://emulator.test", url))
    query = urlencode([(k, "***" if _secret_name(k) else redact(v)) for k, v in parse_qsl(parts.query)])
    return urlunsplit(parts._replace(query=query))


def _scrub_request(request: Any) -> Any:
    request.uri = _scrub_url(request.uri)
    for name in list(request.headers):
        if _secret_name(name):
            request.headers[name] = "***"
    request.body = _scrub_body(request.body)
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {k: v for k, v in response.get("headers", {}).items() if not _secret_name(k)}
    body = response.get("body", {})
    if "string" in body:
        body["string"] = _scrub_body(body["string"])
    return response


def _matches_scrubbed(r1: Any, r2: Any) -> None:
    """Requests match on method and scrubbed URL (ports and tokens differ between runs)."""
    assert r1.method == r2.method and _scrub_url(r1.uri) == _scrub_url(r2.uri)


@contextmanager
def cassette(directory: Path, name: str, record: bool | None = None) -> Iterator[Any]:
    """Replay (default) or record (`LIFELINE_RECORD=1`, or `record=True`) the HTTP exchanges inside the block."""
    import vcr  # a dev/test dependency: importing the kit (the conformance suite's pytest plugin) must not need it

    record = recording() if record is None else record
    rec = vcr.VCR(
        cassette_library_dir=str(directory),
        record_mode="all" if record else "none",
        match_on=["scrubbed"],
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )
    rec.register_matcher("scrubbed", _matches_scrubbed)
    with rec.use_cassette(f"{name}.yaml", allow_playback_repeats=False) as tape:
        yield tape
    if record:
        leaks = find_leaks((directory / f"{name}.yaml").read_text(encoding="utf-8"))
        if leaks:
            raise AssertionError(f"cassette {name} still holds personal data or secrets: {leaks[:3]}")


_MOBILE = re.compile(r"(?<![0-9*])1[3-9][0-9]{9}(?![0-9])")
_TOKEN_HEADER = re.compile(r"(?i)(authorization|x-acs-dingtalk-access-token):?\s*-?\s*(bearer )?[A-Za-z0-9._-]{12,}")


def find_leaks(text: str) -> list[str]:
    """Raw mainland mobile numbers and access tokens in headers: what must never be committed."""
    return [m.group(0) for m in (*_MOBILE.finditer(text), *_TOKEN_HEADER.finditer(text))]
