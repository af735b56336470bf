"""The e-mail emulator's IMAP side: a small, faithful IMAP4rev1 (RFC 3501) subset on loopback.

What a client needs to find what the account submitted: CAPABILITY, NOOP, LOGOUT; STARTTLS,
LOGIN and AUTHENTICATE PLAIN (LOGINDISABLED until TLS when the world requires it); SELECT/EXAMINE,
CLOSE; SEARCH and UID SEARCH (ALL, HEADER, UID, sequence sets; CHARSET US-ASCII/UTF-8); FETCH and
UID FETCH of UID, FLAGS, INTERNALDATE, RFC822.SIZE, RFC822.HEADER and BODY[.PEEK][section]
(HEADER, HEADER.FIELDS[.NOT], TEXT, whole), message data sent as literals. Commands take quoted
strings and synchronizing literals (`{n}` answered with `+`). Anything else, or a command out of
its state, is answered `BAD`. The world's faults apply to every command but CAPABILITY and LOGOUT:
`timeout` stalls before answering, `server_error` answers `NO [UNAVAILABLE]`. Mailboxes, accounts and the
clock are the `MailWorld`'s (see emulator_state); nothing here logs an address.
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from lifeline_hub.connectors.email.emulator_state import MailWorld, Stored

MAX_LINE = 8192
MAX_LITERAL = 65536
IDLE_SECONDS = 300.0
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FLAGS = r"(\Answered \Flagged \Deleted \Seen \Draft)"
_TAG = re.compile(r"[^\x00-\x20\x7f(){%*\"\\+]+")
_SEQUENCE_SET = re.compile(r"(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*")
_SECTION = re.compile(r"(BODY(?:\.PEEK)?)\[(.*)\]", re.DOTALL)
_FIELDS = re.compile(r"(HEADER\.FIELDS(?:\.NOT)?) \(([^()]+)\)")

Token = Any
"""An atom (`str`), a string (`Str`: quoted or literal) or a parenthesized list of tokens."""


class Str(str):
    """A quoted string or a literal (an atom is a plain `str`)."""


class Bad(Exception):
    """A command the grammar or the state does not allow: answered `BAD` with this text."""


def tokenize(text: str, literals: Sequence[str]) -> list[Token]:
    """Split a command into atoms (brackets kept whole), strings and parenthesized lists.

    Literals were read already; `text` holds each as `\\0<index>\\0`.
    """
    stack: list[list[Token]] = [[]]
    i = 0
    while i < len(text):
        char = text[i]
        if char == " ":
            i += 1
        elif char == "(":
            stack.append([])
            i += 1
        elif char == ")":
            if len(stack) == 1:
                raise Bad("unbalanced parenthesis")
            done = stack.pop()
            stack[-1].append(done)
            i += 1
        elif char == '"':
            value, i = _quoted(text, i + 1)
            stack[-1].append(Str(value))
        elif char == "\0":
            end = text.index("\0", i + 1)
            stack[-1].append(Str(literals[int(text[i + 1:end])]))
            i = end + 1
        else:
            start, depth = i, 0
            while i < len(text) and (depth or text[i] not in ' ()"\0'):
                depth += {"[": 1, "]": -1}.get(text[i], 0)
                i += 1
            if depth:
                raise Bad("unbalanced bracket")
            stack[-1].append(text[start:i])
    if len(stack) != 1:
        raise Bad("unbalanced parenthesis")
    return stack[0]


def _quoted(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            i += 1
            if i >= len(text) or text[i] not in '"\\':
                raise Bad("invalid escape in quoted string")
            char = text[i]
        out.append(char)
        i += 1
    raise Bad("unterminated quoted string")


def internaldate(at: float) -> str:
    t = time.gmtime(at)
    return f'"{t.tm_mday:02d}-{MONTHS[t.tm_mon - 1]}-{t.tm_year} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"'


def header_block(data: bytes) -> tuple[bytes, bytes]:
    """The header (with the blank line that ends it) and the text of a message."""
    end = data.find(b"\r\n\r\n")
    return (data + b"\r\n", b"") if end < 0 else (data[:end + 4], data[end + 4:])


def header_fields(header: bytes, names: set[str], keep: bool) -> bytes:
    """The header lines (continuations included) whose field name is (`keep`) or is not in `names`."""
    lines: list[bytes] = []
    taking = False
    for line in header.split(b"\r\n")[:-2]:
        if line[:1] in (b" ", b"\t"):
            if taking:
                lines.append(line)
            continue
        name = line.split(b":", 1)[0].strip().decode("ascii", "replace").upper()
        taking = (name in names) == keep
        if taking:
            lines.append(line)
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def parse_set(token: Token, largest: int) -> list[tuple[int, int]]:
    """A sequence set (`1:3,7,9:*`) as inclusive ranges; `*` is `largest`."""
    if type(token) is not str or not _SEQUENCE_SET.fullmatch(token) or re.search(r"(^|[:,])0", token):
        raise Bad("invalid sequence set")
    ranges = []
    for part in token.split(","):
        ends = [largest if n == "*" else int(n) for n in part.split(":")]
        ranges.append((min(ends), max(ends)))
    return ranges


def within(ranges: list[tuple[int, int]], n: int) -> bool:
    return any(low <= n <= high for low, high in ranges)


@dataclass
class FetchItem:
    name: str
    """As answered (BODY.PEEK[...] is answered as BODY[...])."""
    render: Callable[[Stored], bytes]


class ImapSession(socketserver.StreamRequestHandler):
    """One client connection: its state (not authenticated, authenticated, selected) and its commands."""

    server: ImapListener
    ANY: ClassVar[set[str]] = {"CAPABILITY", "NOOP", "LOGOUT"}
    NOT_AUTHENTICATED: ClassVar[set[str]] = {"STARTTLS", "LOGIN", "AUTHENTICATE"}
    AUTHENTICATED: ClassVar[set[str]] = {"SELECT", "EXAMINE"}
    SELECTED: ClassVar[set[str]] = {"SEARCH", "FETCH", "UID", "CLOSE"}

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(IDLE_SECONDS)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers are many short lines
        self.world: MailWorld = self.server.world
        self.tls = False
        self.account: str | None = None
        self.folder: list[Stored] | None = None
        self.readonly = False
        self.known = 0

    # ------------------------------------------------------------ wire

    def send(self, data: bytes | str) -> None:
        self.connection.sendall(data.encode() if isinstance(data, str) else data)

    def line(self, text: str) -> None:
        self.send(text + "\r\n")

    def read_command(self) -> tuple[str, list[str]] | None:
        """The next command's text (literals as `\\0<i>\\0`) and its literals; None at end of input."""
        text, literals = "", list[str]()
        while True:
            raw = self.rfile.readline(MAX_LINE + 1)
            if not raw:
                return None
            if len(raw) > MAX_LINE or not raw.endswith(b"\n"):
                raise Bad("command line too long")
            chunk = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            literal = re.search(r"\{(\d+)\}$", chunk)
            if literal is None:
                return text + chunk, literals
            size = int(literal.group(1))
            if size > MAX_LITERAL:
                raise Bad("literal too large")
            self.line("+ Ready for literal data")
            data = self.rfile.read(size)
            if len(data) < size:
                return None
            text += chunk[:literal.start()] + f"\0{len(literals)}\0"
            literals.append(data.decode("utf-8", "replace"))

    def capabilities(self) -> str:
        caps = ["IMAP4rev1", "AUTH=PLAIN"]
        if self.server.tls is not None and not self.tls:
            caps.append("STARTTLS")
            if self.server.require_tls:
                caps.append("LOGINDISABLED")
        return " ".join(caps)

    def handle(self) -> None:
        self.server.track(self.connection, True)
        try:
            self.line(f"* OK [CAPABILITY {self.capabilities()}] Lifeline IMAP emulator ready")
            while True:
                try:
                    command = self.read_command()
                except Bad as exc:
                    self.line(f"* BAD {exc}")
                    return
                if command is None:
                    return
                if not self.run(*command):
                    return
        except (OSError, ValueError):  # the client went away, or TLS failed
            return
        finally:
            self.server.track(self.connection, False)
            if self.tls:  # the TLS socket took the connection over from the one socketserver closes
                self.connection.close()

    # ------------------------------------------------------------ commands

    def run(self, text: str, literals: list[str]) -> bool:
        """Answer one command; False once the connection is to be closed."""
        tag, _, rest = text.partition(" ")
        if not _TAG.fullmatch(tag):
            self.line("* BAD invalid tag")
            return True
        name, _, args_text = rest.partition(" ")
        name = name.upper()
        with self.world.lock:
            self.world.imap_commands += 1
        if name not in ("CAPABILITY", "LOGOUT"):
            self.world.clock.stall_blocking(self.world.faults.latency())
            if self.world.faults.roll("timeout"):
                self.world.clock.stall_blocking(self.world.faults.faults.timeout_seconds)
            if self.world.faults.roll("server_error"):
                self.line(f"{tag} NO [UNAVAILABLE] Temporary server failure, try again later")
                return True
        try:
            args = tokenize(args_text, literals)
            allowed = self.ANY | (self.NOT_AUTHENTICATED if self.account is None else self.AUTHENTICATED)
            if self.folder is not None:
                allowed |= self.SELECTED
            if name not in allowed:
                known = self.ANY | self.NOT_AUTHENTICATED | self.AUTHENTICATED | self.SELECTED
                raise Bad(f"{name or 'empty command'} " + ("not valid in this state" if name in known else "unknown"))
            command: Callable[[str, list[Token]], bool] = getattr(self, f"do_{name.lower()}")
            return command(tag, args)
        except Bad as exc:
            self.line(f"{tag} BAD {exc}")
            return True

    @staticmethod
    def arity(args: list[Token], n: int) -> None:
        if len(args) != n:
            raise Bad(f"expected {n} argument(s)")

    @staticmethod
    def astring(token: Token) -> str:
        if isinstance(token, list):
            raise Bad("expected a string")
        return str(token)

    def do_capability(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 0)
        self.line(f"* CAPABILITY {self.capabilities()}")
        self.line(f"{tag} OK CAPABILITY completed")
        return True

    def do_noop(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 0)
        self.sync()
        self.line(f"{tag} OK NOOP completed")
        return True

    def do_logout(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 0)
        self.line("* BYE Lifeline IMAP emulator logging out")
        self.line(f"{tag} OK LOGOUT completed")
        return False

    def do_starttls(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 0)
        if self.server.tls is None or self.tls:
            raise Bad("STARTTLS not available")
        self.line(f"{tag} OK Begin TLS negotiation now")
        self.server.track(self.connection, False)
        self.connection = self.server.tls.wrap_socket(self.connection, server_side=True)
        self.server.track(self.connection, True)
        self.rfile = self.connection.makefile("rb")
        self.tls = True
        return True

    def log_in(self, tag: str, user: str, password: str, command: str) -> bool:
        if "LOGINDISABLED" in self.capabilities():
            self.line(f"{tag} NO [PRIVACYREQUIRED] {command} disabled until STARTTLS")
            return True
        self.account = self.world.imap_account(user, password)
        if self.account is None:
            self.line(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials")
            return True
        self.line(f"{tag} OK [CAPABILITY {self.capabilities()}] {command} completed")
        return True

    def do_login(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 2)
        return self.log_in(tag, self.astring(args[0]), self.astring(args[1]), "LOGIN")

    def do_authenticate(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 1)
        if self.astring(args[0]).upper() != "PLAIN":
            self.line(f"{tag} NO Unsupported authentication mechanism")
            return True
        if "LOGINDISABLED" in self.capabilities():
            return self.log_in(tag, "", "", "AUTHENTICATE")
        self.line("+ ")
        answer = self.rfile.readline(MAX_LINE).rstrip(b"\r\n")
        if answer == b"*":
            raise Bad("AUTHENTICATE cancelled")
        try:
            _authzid, user, password = base64.b64decode(answer, validate=True).decode().split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise Bad("invalid SASL PLAIN response") from None
        return self.log_in(tag, user, password, "AUTHENTICATE")

    def do_select(self, tag: str, args: list[Token], readonly: bool = False) -> bool:
        self.arity(args, 1)
        assert self.account is not None
        command = "EXAMINE" if readonly else "SELECT"
        self.folder = None  # a failed SELECT leaves the session authenticated, nothing selected
        folder = self.world.imap_folder(self.account, self.astring(args[0]))
        if folder is None:
            self.line(f"{tag} NO [NONEXISTENT] No such mailbox")
            return True
        with self.world.lock:
            self.folder, self.readonly, self.known = folder, readonly, len(folder)
            next_uid = self.world.uid_next(self.account, folder)
        self.line(f"* FLAGS {FLAGS}")
        self.line("* OK [PERMANENTFLAGS ()] No permanent flags permitted")
        self.line(f"* {self.known} EXISTS")
        self.line("* 0 RECENT")
        self.line(f"* OK [UIDVALIDITY {self.world.uidvalidity}] UIDs valid")
        self.line(f"* OK [UIDNEXT {next_uid}] Predicted next UID")
        self.line(f"{tag} OK [{'READ-ONLY' if readonly else 'READ-WRITE'}] {command} completed")
        return True

    def do_examine(self, tag: str, args: list[Token]) -> bool:
        return self.do_select(tag, args, readonly=True)

    def do_close(self, tag: str, args: list[Token]) -> bool:
        self.arity(args, 0)
        self.folder = None
        self.line(f"{tag} OK CLOSE completed")
        return True

    def sync(self) -> list[Stored]:
        """The selected folder's messages as this session knows them, announcing new ones (`EXISTS`)."""
        if self.folder is None:
            return []
        with self.world.lock:
            grown = len(self.folder)
            messages = list(self.folder)
        if grown > self.known:
            self.known = grown
            self.line(f"* {grown} EXISTS")
        return messages[:self.known]

    def do_uid(self, tag: str, args: list[Token]) -> bool:
        if not args or type(args[0]) is not str or args[0].upper() not in ("SEARCH", "FETCH"):
            raise Bad("UID takes SEARCH or FETCH here")
        command = args[0].upper()
        return self.search(tag, args[1:], True) if command == "SEARCH" else self.fetch(tag, args[1:], True)

    def do_search(self, tag: str, args: list[Token]) -> bool:
        return self.search(tag, args, False)

    def do_fetch(self, tag: str, args: list[Token]) -> bool:
        return self.fetch(tag, args, False)

    def search(self, tag: str, args: list[Token], by_uid: bool) -> bool:
        if len(args) >= 2 and type(args[0]) is str and args[0].upper() == "CHARSET":
            if self.astring(args[1]).upper() not in ("US-ASCII", "UTF-8"):
                self.line(f"{tag} NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset")
                return True
            args = args[2:]
        if not args:
            raise Bad("SEARCH needs a search key")
        messages = self.sync()
        largest_uid = messages[-1].uid if messages else 0
        matched = list(enumerate(messages, 1))  # each search key narrows it (the keys are ANDed)
        keys = list(args)
        while keys:
            key = keys.pop(0)
            word = key.upper() if type(key) is str else ""
            if word == "ALL":
                continue
            if word == "HEADER":
                if len(keys) < 2:
                    raise Bad("HEADER takes a field name and a string")
                field, needle = self.astring(keys.pop(0)), self.astring(keys.pop(0)).lower()
                matched = [(n, m) for n, m in matched
                           if any(needle in " ".join(v.split()).lower() for v in headers(m).get_all(field, []))]
            elif word == "UID":
                if not keys:
                    raise Bad("UID takes a sequence set")
                uids = parse_set(keys.pop(0), largest_uid)
                matched = [(n, m) for n, m in matched if within(uids, m.uid)]
            elif word and _SEQUENCE_SET.fullmatch(word):
                seqs = parse_set(key, len(messages))
                matched = [(n, m) for n, m in matched if within(seqs, n)]
            else:
                raise Bad(f"unsupported search key {key!r}")
        found = [m.uid if by_uid else n for n, m in matched]
        self.line("* SEARCH" + "".join(f" {n}" for n in found))
        self.line(f"{tag} OK {'UID ' if by_uid else ''}SEARCH completed")
        return True

    def fetch(self, tag: str, args: list[Token], by_uid: bool) -> bool:
        self.arity(args, 2)
        messages = self.sync()
        wanted = args[1] if isinstance(args[1], list) else [args[1]]
        items = [fetch_item(att) for att in wanted]
        if by_uid and not any(i.name == "UID" for i in items):
            items.insert(0, fetch_item("UID"))
        if by_uid:
            uids = parse_set(args[0], messages[-1].uid if messages else 0)
            picked = [(n, m) for n, m in enumerate(messages, 1) if within(uids, m.uid)]
        else:
            seqs = parse_set(args[0], len(messages))
            if any(high > len(messages) or low < 1 for low, high in seqs):
                raise Bad("invalid message sequence number")
            picked = [(n, m) for n, m in enumerate(messages, 1) if within(seqs, n)]
        for n, message in picked:
            body = b" ".join(item.name.encode() + b" " + item.render(message) for item in items)
            self.send(f"* {n} FETCH (".encode() + body + b")\r\n")
        self.line(f"{tag} OK {'UID ' if by_uid else ''}FETCH completed")
        return True


def headers(message: Stored) -> Message:
    return BytesHeaderParser().parsebytes(header_block(message.data)[0])


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def fetch_item(att: Token) -> FetchItem:
    """What one FETCH attribute answers with (atoms only: UID, FLAGS, INTERNALDATE, RFC822.*, BODY[...])."""
    if type(att) is not str:
        raise Bad("invalid fetch attribute")
    word = att.upper()
    simple: dict[str, Callable[[Stored], bytes]] = {
        "UID": lambda m: str(m.uid).encode(),
        "FLAGS": lambda m: f"({' '.join(m.flags)})".encode(),
        "INTERNALDATE": lambda m: internaldate(m.internal_at).encode(),
        "RFC822.SIZE": lambda m: str(len(m.data)).encode(),
        "RFC822.HEADER": lambda m: literal(header_block(m.data)[0]),
    }
    if word in simple:
        return FetchItem(word, simple[word])
    section = _SECTION.fullmatch(word)
    if section is None:
        raise Bad(f"unsupported fetch attribute {att!r}")
    spec = section.group(2)
    part = _section(spec)
    return FetchItem(f"BODY[{spec}]", lambda m: literal(part(m.data)))


def _section(spec: str) -> Callable[[bytes], bytes]:
    """The bytes of a body section: the whole message, HEADER, TEXT, HEADER.FIELDS[.NOT] (names)."""
    if spec == "":
        return lambda data: data
    if spec == "HEADER":
        return lambda data: header_block(data)[0]
    if spec == "TEXT":
        return lambda data: header_block(data)[1]
    fields = _FIELDS.fullmatch(spec)
    if fields is None:
        raise Bad(f"unsupported section {spec!r}")
    names = {n.strip('"') for n in fields.group(2).split()}
    keep = fields.group(1) == "HEADER.FIELDS"
    return lambda data: header_fields(header_block(data)[0], names, keep)


class ImapListener(socketserver.ThreadingTCPServer):
    """The listening socket; one thread per connection; closing drops every open connection too."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, world: MailWorld, host: str, port: int, tls: ssl.SSLContext | None,
                 require_tls: bool) -> None:
        self.world, self.tls, self.require_tls = world, tls, require_tls
        self.open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__((host, port), ImapSession)
        self.port = int(self.server_address[1])
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"imap:{self.port}", daemon=True)

    def start(self) -> ImapListener:
        self._thread.start()
        return self

    def track(self, sock: socket.socket, opened: bool) -> None:
        with self._open_lock:
            (self.open.add if opened else self.open.discard)(sock)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        with self._open_lock:
            for sock in self.open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
