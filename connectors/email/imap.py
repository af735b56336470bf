"""Looking a submitted message up by its Message-ID over IMAP (stdlib `imaplib`), before sending it again.

`imaps://host:993` is implicit TLS; `imap://host:143` upgrades with STARTTLS unless the instance
turns it off (loopback), and a server without it is refused rather than used in clear text. The
session authenticates (AUTHENTICATE PLAIN when offered, else LOGIN), EXAMINEs the folder (read-only:
nothing is marked seen), runs `UID SEARCH HEADER Message-ID "<id>"` and confirms each hit by
fetching its Message-ID (SEARCH matches substrings), with its Date header and INTERNALDATE.

A look-up that cannot say "found" or "not found" never lets the caller send: rejected credentials
(`NO` to LOGIN, unless the response code says the server is unavailable) raise `AuthFailed`, a
folder the server does not have (`NO [NONEXISTENT]`) `InvalidRequest`, and every other failure
(`NO`/`BAD`, `BYE`, disconnects, timeouts, TLS errors) a retryable `TransientError`. Server texts are
redacted; the imaplib exception is never chained. Folder names are sent in modified UTF-7
(RFC 3501 §5.1.3), so a localized Sent folder ("已发送") works.
"""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime

from lifeline_hub.connectors.email.endpoint import Endpoint
from lifeline_hub.core.http import AuthFailed, InvalidRequest, TransientError, VendorError

VENDOR = "imap"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
UNAVAILABLE = frozenset({"UNAVAILABLE", "LIMIT", "INUSE", "SERVERBUG", "CONTACTADMIN", "OVERQUOTA"})
"""RFC 5530 response codes of a `NO` that is the server's trouble, not the credentials' or the request's."""
FETCHED = "(INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE)])"
_CODE = re.compile(r"\[([A-Z0-9-]+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([ \d]\d-[A-Za-z]{3}-\d{4} \d\d:\d\d:\d\d [+-]\d{4})"')


@dataclass(frozen=True)
class Login:
    """The IMAP account to look in: the submission account, or a journal mailbox's."""

    user: str
    password: str


def mutf7(name: str) -> str:
    """A mailbox name in IMAP's modified UTF-7: printable ASCII as is (`&` as `&-`), other runs `&base64-`."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).decode().rstrip("=").replace("/", ",")
            out.append(f"&{encoded}-")
            run.clear()

    for char in name:
        if " " <= char <= "~":
            flush()
            out.append("&-" if char == "&" else char)
        else:
            run.append(char)
    flush()
    return "".join(out)


def quoted(value: str) -> str:
    """An IMAP quoted string (printable ASCII only: what Message-IDs and modified UTF-7 names are)."""
    if not all(" " <= c <= "~" for c in value):
        raise InvalidRequest(f"not sendable as an IMAP quoted string: {value!r}", vendor=VENDOR)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def internaldate(text: bytes) -> datetime | None:
    """The INTERNALDATE of a FETCH response line, as an aware datetime."""
    found = _INTERNALDATE.search(text)
    if found is None:
        return None
    day, month, rest = found.group(1).decode().strip().split("-", 2)
    year, clock, zone = rest.split(" ")
    hours, minutes, seconds = (int(x) for x in clock.split(":"))
    sign = -1 if zone[0] == "-" else 1
    offset = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
    return datetime(int(year), MONTHS.index(month.title()) + 1, int(day), hours, minutes, seconds, tzinfo=offset)


def _text(data: object) -> str:
    """The server's text of a response (imaplib hands it over as bytes, a list of them, or a message)."""
    if isinstance(data, list) and data:
        data = data[-1]
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _code(text: str) -> str | None:
    found = _CODE.search(text)
    return found.group(1) if found else None


def _ensure(typ: str, data: object, command: str, folder: str = "") -> None:
    """Raise the typed error for a response that is not `OK`."""
    if typ == "OK":
        return
    text, code = _text(data), _code(_text(data))
    if code == "NONEXISTENT" and folder:
        raise InvalidRequest(f"the IMAP server has no folder {folder!r} (set sent_folder): {text}", vendor=VENDOR,
                             code=code)
    raise TransientError(f"{command} answered {typ}: {text}", vendor=VENDOR, code=code, sent=False)


def _authenticate(client: imaplib.IMAP4, login: Login) -> None:
    try:
        if "AUTH=PLAIN" in client.capabilities:
            secret = f"\0{login.user}\0{login.password}".encode()
            client.authenticate("PLAIN", lambda _challenge: secret)
        else:
            client.login(login.user, login.password)
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        text = _text(exc.args[0] if exc.args else "")
        code = _code(text)
        if code in UNAVAILABLE:
            raise TransientError(f"login answered NO: {text}", vendor=VENDOR, code=code, sent=False) from None
        raise AuthFailed(f"IMAP authentication failed: {text}", vendor=VENDOR, code=code) from None


@contextmanager
def session(endpoint: Endpoint, login: Login, *, starttls: bool, ca_file: str | None,
            timeout: float) -> Iterator[imaplib.IMAP4]:
    """An authenticated IMAP session; every failure inside it becomes a typed `VendorError`."""
    context = ssl.create_default_context(cafile=ca_file)
    try:
        client = (imaplib.IMAP4_SSL(endpoint.host, endpoint.port, ssl_context=context, timeout=timeout)
                  if endpoint.implicit_tls else imaplib.IMAP4(endpoint.host, endpoint.port, timeout=timeout))
        try:
            if starttls and not endpoint.implicit_tls:
                if "STARTTLS" not in client.capabilities:
                    raise InvalidRequest("IMAP server offers no STARTTLS; refusing to log in in clear text",
                                         vendor=VENDOR)
                client.starttls(context)
            _authenticate(client, login)
            yield client
        except BaseException:
            with suppress(OSError):
                client.shutdown()  # no LOGOUT: a stalled or confused session would only stall again
            raise
        with suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    except VendorError:
        raise
    except (imaplib.IMAP4.error, OSError, EOFError) as exc:  # BAD, BYE, disconnects, timeouts, TLS errors
        raise TransientError(f"IMAP look-up failed: {type(exc).__name__}: {_text(exc.args[0] if exc.args else '')}",
                             vendor=VENDOR, sent=False) from None


def examine(client: imaplib.IMAP4, folder: str) -> int:
    """Open `folder` read-only; return how many messages it holds."""
    typ, data = client.select(quoted(mutf7(folder)), readonly=True)
    _ensure(typ, data, "EXAMINE", folder)
    return int(data[0] or 0)


def find(client: imaplib.IMAP4, folder: str, msg_id: str) -> datetime | None:
    """When the message `msg_id` (with its brackets) is in `folder`: its Date header, else its INTERNALDATE."""
    examine(client, folder)
    typ, data = client.uid("SEARCH", "HEADER", "Message-ID", quoted(msg_id))
    _ensure(typ, data, "UID SEARCH")
    uids = (data[0] or b"").split()
    if not uids:
        return None
    typ, data = client.uid("FETCH", b",".join(uids).decode(), FETCHED)
    _ensure(typ, data, "UID FETCH")
    for item in data:
        if not isinstance(item, tuple):
            continue
        headers = BytesHeaderParser().parsebytes(item[1])
        if str(headers.get("Message-ID", "")).strip() != msg_id:
            continue
        with suppress(TypeError, ValueError):
            dated = parsedate_to_datetime(str(headers["Date"]))
            return dated.astimezone(UTC) if dated.tzinfo else dated.replace(tzinfo=UTC)
        stamped = internaldate(item[0])
        if stamped is None:
            raise TransientError("UID FETCH answered without a Date header or INTERNALDATE", vendor=VENDOR, sent=False)
        return stamped.astimezone(UTC)
    return None
