"""Aliyun OpenAPI request signatures (reference: channels.md §1.9), shared by client and emulator.

V3 `ACS3-HMAC-SHA256` (what SDK 4.6.0 sends by default) signs method, path, canonical query,
the `host`/`x-acs-*`/`content-type` headers and the body hash. V2 (`HMAC-SHA1`, discontinued but
still accepted) signs the sorted query parameters. Both percent-encode per RFC 3986 with only
`A-Z a-z 0-9 - _ . ~` left as they are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

V3_ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as Aliyun wants it: space `%20`, `*` `%2A`, `~` kept, upper-case hex."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    """Sorted `k=v` pairs, names and values percent-encoded, joined with `&`."""
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """The headers V3 signs: `host`, `content-type` and every `x-acs-*`, lower-cased and sorted."""
    names = {k.lower() for k in headers}
    return sorted(n for n in names if n in ("host", "content-type") or n.startswith("x-acs-"))


def v3_signature(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                 signed: list[str], secret: str) -> str:
    """Hex HMAC-SHA256 over `ACS3-HMAC-SHA256\\n` + hex SHA-256 of the canonical request."""
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed)
    canonical_request = "\n".join([
        method.upper(), path or "/", canonical_query(query), canonical_headers, ";".join(signed),
        lowered.get("x-acs-content-sha256", EMPTY_SHA256),
    ])
    to_sign = f"{V3_ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def v3_authorization(method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
                     key_id: str, secret: str) -> str:
    """The `Authorization` header value for a request whose headers already hold every `x-acs-*`."""
    signed = signed_header_names(headers)
    signature = v3_signature(method, path, query, headers, signed, secret)
    return f"{V3_ALGORITHM} Credential={key_id},SignedHeaders={';'.join(signed)},Signature={signature}"


def parse_v3_authorization(value: str) -> dict[str, str] | None:
    """`{Credential, SignedHeaders, Signature}` of a V3 `Authorization` header, None if it is not one."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != V3_ALGORITHM:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    return fields if {"Credential", "SignedHeaders", "Signature"} <= fields.keys() else None


def v2_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Base64 HMAC-SHA1 (key `secret&`) over `METHOD&%2F&percentEncode(canonical query)`."""
    unsigned = {k: v for k, v in params.items() if k != "Signature"}
    to_sign = f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical_query(unsigned))}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()
