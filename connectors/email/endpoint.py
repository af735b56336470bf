"""Where a mail server listens: `smtp://`/`smtps://` (submission) and `imap://`/`imaps://` (the look-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from lifeline_hub.core.http import InvalidRequest

Protocol = Literal["smtp", "imap"]
DEFAULT_PORTS: dict[Protocol, tuple[int, int]] = {"smtp": (587, 465), "imap": (143, 993)}
"""Per protocol: the port of the plain (STARTTLS) scheme and of the implicit-TLS `...s` scheme."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    implicit_tls: bool

    @classmethod
    def parse(cls, url: str, protocol: Protocol = "smtp") -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in (protocol, f"{protocol}s") or not parts.hostname:
            raise InvalidRequest(f"{protocol.upper()} base URL must be {protocol}://host:port or "
                                 f"{protocol}s://host:port, got {url!r}", vendor=protocol)
        implicit = parts.scheme == f"{protocol}s"
        plain, tls = DEFAULT_PORTS[protocol]
        return cls(parts.hostname, parts.port or (tls if implicit else plain), implicit)
