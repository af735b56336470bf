"""State of the e-mail emulator: a real SMTP server on loopback (aiosmtpd) that keeps what it receives,
and an IMAP server (emulator_imap) where the submitting account finds what it sent.

`MailWorld` runs an aiosmtpd `Controller` in its own thread (STARTTLS and AUTH when configured) and
acts as its handler: per-address reply rules (`reject`: e.g. `550 5.1.1` or `450 4.2.1`, at RCPT or
at DATA; `553 5.7.1` at MAIL FROM for a sender the account may not use), injected faults
(`rate_limit`: 451 4.7.1 at RCPT; `server_error`: 451 4.3.0 at DATA; `timeout`: accept, then stall
past the client's timeout; `duplicate`: keep the message twice) and the list of received messages,
raw bytes included, for tests to parse back (`messages()`: what the recipients got). Like a provider
that saves sent mail, it also files each message it accepts, once, in the submitting account's Sent
folder (`sent_folder`): the AUTH login's, or, on a server without accounts, the one shared mailbox
that any IMAP login opens. The IMAP server takes the same TLS settings and faults (`server_error`:
`NO [UNAVAILABLE]`; `timeout`: stall). Like a mailbox provider, it logs no addresses. Its clock
(`now()`, `advance()`) stamps what it receives; SMTP has no quotas, so `quota_breaches()` is 0, and
`api_calls()` counts mail transactions (`MAIL FROM`; IMAP commands are counted apart).
"""

from __future__ import annotations

import itertools
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pydantic import BaseModel, ConfigDict, Field

from lifeline_hub.connectors.email.emulator_imap import ImapListener
from lifeline_hub.connectors.email.imap import mutf7
from lifeline_hub.core.emulator import EmulatorWorld, Faults, free_port

log = logging.getLogger(__name__)

Json = dict[str, Any]


class MailSettings(BaseModel):
    """Knobs of the loopback SMTP and IMAP servers."""

    model_config = ConfigDict(extra="forbid")

    hostname: str = "127.0.0.1"
    smtp_port: int = Field(0, ge=0, description="0 = a free port")
    imap_port: int = Field(0, ge=0, description="0 = a free port")
    users: dict[str, str] = Field(default_factory=dict, repr=False,
                                  description="SMTP AUTH and IMAP accounts; empty = no SMTP AUTH, any IMAP login")
    sent_folder: str = Field("Sent", min_length=1, description="where accepted mail is filed for its account")
    tls_cert_file: str | None = Field(None, description="offer STARTTLS (SMTP and IMAP) with this certificate (PEM)")
    tls_key_file: str | None = None
    require_starttls: bool = False
    faults: Faults = Field(default_factory=Faults)


@dataclass
class Received:
    seq: int
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    received_at: float

    def public(self) -> Json:
        parsed = message_from_bytes(self.data, policy=policy.default)
        return {"seq": self.seq, "mail_from": self.mail_from, "rcpt_tos": list(self.rcpt_tos),
                "message_id": str(parsed.get("Message-ID", "")), "subject": str(parsed.get("Subject", "")),
                "received_at": self.received_at, "size": len(self.data), "raw": self.data.decode("utf-8", "replace")}


@dataclass
class Stored:
    """A message in an IMAP folder: its UID, the bytes as submitted, when it was filed (world clock), flags."""

    uid: int
    data: bytes
    internal_at: float
    flags: tuple[str, ...] = ("\\Seen",)


class MailWorld(EmulatorWorld[MailSettings]):
    """The SMTP and IMAP servers, reply rules, mailbox and Sent folders, plus the drive and inspect API."""

    def __init__(self, settings: MailSettings | None = None, now: Callable[[], float] = time.time) -> None:
        super().__init__(settings or MailSettings(), now)
        self.received: list[Received] = []
        self.sent: dict[str, list[Stored]] = {}
        """Account (the AUTH login; "" on a server without accounts) -> its Sent folder."""
        self.inboxes: dict[str, list[Stored]] = {}
        self.uids: dict[str, int] = {}
        """Account -> the last UID given in its Sent folder."""
        self.uidvalidity = int(self.now())
        self.imap_commands = 0
        self.mail_rules: dict[str, str] = {}
        self.rules: dict[str, str] = {}
        self.data_rules: dict[str, str] = {}
        self.refused: int = 0
        self.transactions: int = 0
        self._seq = itertools.count(1)
        self.controller: Controller | None = None
        self.imap: ImapListener | None = None

    # ------------------------------------------------------------ server

    def start(self) -> MailWorld:
        if self.controller is not None:
            return self
        tls: ssl.SSLContext | None = None
        if self.settings.tls_cert_file:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.settings.tls_cert_file, self.settings.tls_key_file)
        port = self.settings.smtp_port or free_port()
        self.controller = Controller(
            self, hostname=self.settings.hostname, port=port, tls_context=tls,
            require_starttls=self.settings.require_starttls,
            authenticator=self._authenticate if self.settings.users else None,
            auth_required=bool(self.settings.users), auth_require_tls=tls is not None,
        )
        self.controller.start()
        self.settings.smtp_port = port
        self.imap = ImapListener(self, self.settings.hostname, self.settings.imap_port, tls,
                                 self.settings.require_starttls).start()
        self.settings.imap_port = self.imap.port
        log.info("SMTP emulator listening on %s:%d, IMAP on port %d", self.settings.hostname, port, self.imap.port)
        return self

    @property
    def url(self) -> str:
        """The connector's base URL for this server (`smtp://host:port`)."""
        return f"smtp://{self.settings.hostname}:{self.settings.smtp_port}"

    @property
    def imap_url(self) -> str:
        """The connector's `imap` base URL for this server (`imap://host:port`, STARTTLS when configured)."""
        return f"imap://{self.settings.hostname}:{self.settings.imap_port}"

    def close(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        if self.imap is not None:
            self.imap.close()
            self.imap = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.settings.users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login.decode() if ok else None)

    # ------------------------------------------------------------ accounts and folders (the IMAP side)

    def imap_account(self, user: str, password: str) -> str | None:
        """The account an IMAP login opens, None when refused (a server without accounts takes any login)."""
        if not self.settings.users:
            return ""
        return user if self.settings.users.get(user) == password else None

    def imap_folder(self, account: str, name: str) -> list[Stored] | None:
        """The account's folder of that (modified UTF-7) name: INBOX (empty: nothing is delivered to the
        submission account here) or the Sent folder; None for any other."""
        with self.lock:
            if name.upper() == "INBOX":
                return self.inboxes.setdefault(account, [])
            if name == mutf7(self.settings.sent_folder):
                return self.sent.setdefault(account, [])
            return None

    def uid_next(self, account: str, folder: list[Stored]) -> int:
        return self.uids.get(account, 0) + 1 if folder is self.sent.get(account) else 1

    def _file_sent(self, account: str, data: bytes) -> None:
        uid = self.uids[account] = self.uids.get(account, 0) + 1
        self.sent.setdefault(account, []).append(Stored(uid, data, self.now()))

    # ------------------------------------------------------------ aiosmtpd handler hooks

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        with self.lock:
            self.transactions += 1
            rule = self.mail_rules.get(address.lower())
        if rule is not None:
            with self.lock:
                self.refused += 1
            return rule
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        with self.lock:
            rule = self.rules.get(address.lower())
        if rule is None and self.faults.roll("rate_limit"):
            rule = "451 4.7.1 Rate limit exceeded, try again later"
        if rule is not None:
            with self.lock:
                self.refused += 1
            return rule
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await self.clock.stall(self.faults.latency())  # the server takes its time before it accepts
        with self.lock:
            rule = next((self.data_rules[a.lower()] for a in envelope.rcpt_tos if a.lower() in self.data_rules), None)
        if rule is None and self.faults.roll("server_error"):
            rule = "451 4.3.0 Temporary server error, try again later"
        if rule is not None:
            with self.lock:
                self.refused += 1
            return rule
        data = envelope.original_content or b""
        account = str(session.auth_data) if session.authenticated else ""
        with self.lock:
            for _ in range(2 if self.faults.roll("duplicate") else 1):
                self.received.append(Received(next(self._seq), str(envelope.mail_from), list(envelope.rcpt_tos),
                                              data, self.now()))
            self._file_sent(account, data)
        if self.faults.roll("timeout"):
            await self.clock.stall(self.faults.faults.timeout_seconds)
        return "250 2.0.0 Message accepted for delivery"

    # ------------------------------------------------------------ drive

    def reject(self, address: str, reply: str = "550 5.1.1 Recipient address rejected: User unknown",
               stage: Literal["mail", "rcpt", "data"] = "rcpt") -> None:
        """Answer RCPT TO `address` (or the DATA of a message to it, or MAIL FROM `address`: a sender the account
        may not use, e.g. `553 5.7.1 Sender address rejected: not owned by user`) with `reply`, a 4xx or 5xx line."""
        if not reply[:3].isdigit() or reply[0] not in "45":
            raise ValueError("reply must start with a 4xx or 5xx code")
        with self.lock:
            {"mail": self.mail_rules, "rcpt": self.rules, "data": self.data_rules}[stage][address.lower()] = reply

    def accept(self, address: str) -> None:
        with self.lock:
            for rules in (self.mail_rules, self.rules, self.data_rules):
                rules.pop(address.lower(), None)

    def clear(self) -> int:
        """Empty the mailbox and every Sent folder (UIDs go on); return how many messages the mailbox held."""
        with self.lock:
            count, self.received = len(self.received), []
            for folder in self.sent.values():
                folder.clear()
            return count

    # ------------------------------------------------------------ inspection

    def messages(self) -> list[Json]:
        """What the recipients got (a `duplicate` fault delivers a message twice)."""
        with self.lock:
            return [m.public() for m in self.received]

    def sent_messages(self) -> list[Json]:
        """What each account's Sent folder holds: account, UID, Message-ID, filing time, size."""
        with self.lock:
            return [{"account": account, "uid": m.uid,
                     "message_id": str(message_from_bytes(m.data, policy=policy.default).get("Message-ID", "")),
                     "internal_at": m.internal_at, "size": len(m.data)}
                    for account, folder in sorted(self.sent.items()) for m in folder]

    def api_calls(self) -> int:
        """Mail transactions begun (`MAIL FROM`), refused ones included."""
        with self.lock:
            return self.transactions

    def summary(self) -> Json:
        with self.lock:
            return {"now": self.now(),
                    "smtp": {"host": self.settings.hostname, "port": self.settings.smtp_port, "url": self.url,
                             "starttls": self.settings.tls_cert_file is not None, "auth": bool(self.settings.users)},
                    "imap": {"host": self.settings.hostname, "port": self.settings.imap_port, "url": self.imap_url,
                             "starttls": self.settings.tls_cert_file is not None,
                             "sent_folder": self.settings.sent_folder, "commands": self.imap_commands},
                    "messages": len(self.received), "sent": sum(len(f) for f in self.sent.values()),
                    "refused": self.refused, "transactions": self.transactions,
                    "rules": len(self.rules) + len(self.data_rules),
                    "faults": self.faults.faults.model_dump(), "faults_injected": dict(self.faults.injected)}
