"""The e-mail emulator's IMAP side over real sockets: RFC 3501 grammar for what it implements, states, literals,
TLS, faults, and the Sent folders the SMTP side fills."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests

from lifeline_hub.connectors.email import plugin as email_plugin
from lifeline_hub.connectors.email.emulator import create_app
from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core.airflow.standalone import serve_emulators
from lifeline_hub.core.config import load
from lifeline_hub.core.emulator import Faults, LoopbackServer, free_port
from lifeline_hub.core.plugins import PluginHost
from lifeline_hub.core.sync import build_connector
from tests.email.mail_helpers import self_signed


class Raw:
    """A line-level IMAP client: what imaplib would not send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")
        self.greeting = self.readline()

    def readline(self) -> str:
        return self.file.readline().decode().rstrip("\r\n")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")

    def command(self, tag: str, text: str) -> list[str]:
        """Send `tag text`; the lines answered, the tagged one last."""
        self.send(f"{tag} {text}")
        lines = [self.readline()]
        while not lines[-1].startswith((f"{tag} ", "* BYE", "* BAD")) and lines[-1]:
            lines.append(self.readline())
        return lines

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def world() -> Iterator[MailWorld]:
    w = MailWorld(MailSettings(users={"hub": "s3cret"})).start()
    yield w
    w.close()


def submit(world: MailWorld, key: str, login: tuple[str, str] | None = ("hub", "s3cret")) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "recruiting@hub.example.com", "zhang.san@example.org", "面试"
    msg["Message-ID"], msg["Date"] = f"<{key}@hub.example.com>", "Mon, 02 Mar 2026 10:00:00 +0800"
    msg.set_content("您好")
    with smtplib.SMTP("127.0.0.1", world.settings.smtp_port, timeout=5) as smtp:
        if login:
            smtp.login(*login)
        smtp.send_message(msg)


def test_grammar_states_and_unknown_commands(world: MailWorld) -> None:
    raw = Raw(world.settings.imap_port)
    try:
        assert raw.greeting == "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Lifeline IMAP emulator ready"
        assert raw.command("a1", "CAPABILITY") == ["* CAPABILITY IMAP4rev1 AUTH=PLAIN", "a1 OK CAPABILITY completed"]
        assert raw.command("a2", "XYZZY") == ["a2 BAD XYZZY unknown"]
        assert raw.command("a3", 'SELECT "Sent"') == ["a3 BAD SELECT not valid in this state"]
        assert raw.command("a4", "NOOP extra") == ["a4 BAD expected 0 argument(s)"]
        assert raw.command("+5", "NOOP") == ["* BAD invalid tag"]
        assert raw.command("a6", 'LOGIN hub "unterminated') == ["a6 BAD unterminated quoted string"]
        assert raw.command("a7", "LOGIN hub wrong") == ["a7 NO [AUTHENTICATIONFAILED] Invalid credentials"]
        assert raw.command("a8", 'LOGIN "hub" "s3cret"') == ["a8 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] LOGIN completed"]
        submit(world, "ll-1")
        lines = raw.command("a9", "EXAMINE Sent")
        assert "* 1 EXISTS" in lines and lines[-1] == "a9 OK [READ-ONLY] EXAMINE completed"
        assert any(line.startswith("* OK [UIDNEXT 2]") for line in lines)
        assert raw.command("b1", "FETCH 2 (UID)") == ["b1 BAD invalid message sequence number"]
        assert raw.command("b2", "UID FETCH 5:* (UID)") == ["* 1 FETCH (UID 1)", "b2 OK UID FETCH completed"]
        assert raw.command("b3", "UID SEARCH NOT ALL") == ["b3 BAD unsupported search key 'NOT'"]
        assert raw.command("b4", "SEARCH CHARSET KOI8-R ALL") == [
            "b4 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset"]
        assert raw.command("b5", "UID STORE 1 +FLAGS (\\Deleted)") == ["b5 BAD UID takes SEARCH or FETCH here"]
        submit(world, "ll-2")  # arrives while the folder is selected: announced at the next command
        assert raw.command("b6", "NOOP") == ["* 2 EXISTS", "b6 OK NOOP completed"]
        assert raw.command("b7", 'SEARCH HEADER message-id "LL-2@"') == ["* SEARCH 2", "b7 OK SEARCH completed"]
        assert raw.command("b8", "LOGOUT") == ["* BYE Lifeline IMAP emulator logging out"]
        assert raw.readline() == "b8 OK LOGOUT completed" and raw.readline() == ""
    finally:
        raw.close()


def test_a_literal_login(world: MailWorld) -> None:
    """Synchronizing literals: the server asks for each one with a continuation."""
    raw = Raw(world.settings.imap_port)
    try:
        raw.send("a1 LOGIN {3}")
        assert raw.readline() == "+ Ready for literal data"
        raw.sock.sendall(b"hub {6}\r\n")
        assert raw.readline() == "+ Ready for literal data"
        raw.sock.sendall(b"s3cret\r\n")
        assert raw.readline() == "a1 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] LOGIN completed"
    finally:
        raw.close()


def test_fetch_answers_with_literals_imaplib_reads(world: MailWorld) -> None:
    submit(world, "ll-1")
    client = imaplib.IMAP4("127.0.0.1", world.settings.imap_port, timeout=5)
    try:
        client.authenticate("PLAIN", lambda _: b"\0hub\0s3cret")
        assert client.select('"Sent"', readonly=True) == ("OK", [b"1"])
        assert client.uid("SEARCH", "HEADER", "Message-ID", '"<ll-1@hub.example.com>"') == ("OK", [b"1"])
        assert client.uid("SEARCH", "HEADER", "Message-ID", '"<ll-12@hub.example.com>"') == ("OK", [b""])
        typ, data = client.uid("FETCH", "1", "(FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE)])")
        (head, fields), _ = data
        assert typ == "OK" and b"FLAGS (\\Seen)" in head and b'INTERNALDATE "' in head
        assert fields == b"Message-ID: <ll-1@hub.example.com>\r\nDate: Mon, 02 Mar 2026 10:00:00 +0800\r\n\r\n"
        typ, data = client.fetch("1", "(RFC822.SIZE BODY[])")
        (head, whole), _ = data
        assert f"RFC822.SIZE {len(whole)}".encode() in head and whole == world.received[0].data
        assert client.select("INBOX") == ("OK", [b"0"])  # nothing is delivered to the submission account here
        assert client.select('"Drafts"')[0] == "NO"
    finally:
        client.logout()


def test_starttls_and_logindisabled(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    world = MailWorld(MailSettings(users={"hub": "s3cret"}, tls_cert_file=cert, tls_key_file=key,
                                   require_starttls=True)).start()
    try:
        clear = imaplib.IMAP4("127.0.0.1", world.settings.imap_port, timeout=5)
        assert {"STARTTLS", "LOGINDISABLED"} <= set(clear.capabilities)
        with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
            clear.login("hub", "s3cret")
        clear.starttls(ssl.create_default_context(cafile=cert))
        assert "LOGINDISABLED" not in clear.capabilities and "STARTTLS" not in clear.capabilities
        assert clear.login("hub", "s3cret")[0] == "OK"
        clear.logout()
    finally:
        world.close()


def test_faults_apply_to_imap(world: MailWorld) -> None:
    world.configure_faults(Faults(server_error=1.0))
    raw = Raw(world.settings.imap_port)
    try:
        assert raw.command("a1", "CAPABILITY")[-1] == "a1 OK CAPABILITY completed"
        assert raw.command("a2", "LOGIN hub s3cret") == [
            "a2 NO [UNAVAILABLE] Temporary server failure, try again later"]
        world.configure_faults(Faults(timeout=1.0, timeout_seconds=0.3))
        raw.sock.settimeout(0.1)
        raw.send("a3 LOGIN hub s3cret")
        with pytest.raises(TimeoutError):  # stalled...
            raw.file.readline()
    finally:
        raw.close()
    assert world.faults.injected["server_error"] == 1 and world.faults.injected["timeout"] == 1


def test_an_open_server_files_everything_in_one_shared_sent_folder() -> None:
    world = MailWorld().start()  # no accounts: no SMTP AUTH, any IMAP login
    try:
        world.configure_faults(Faults(duplicate=1.0))
        submit(world, "ll-open", login=None)
        assert len(world.messages()) == 2  # what the recipient got, twice
        assert [(m["account"], m["message_id"]) for m in world.sent_messages()] == [("", "<ll-open@hub.example.com>")]
        client = imaplib.IMAP4("127.0.0.1", world.settings.imap_port, timeout=5)
        assert client.login("anyone", "anything")[0] == "OK" and client.select('"Sent"') == ("OK", [b"1"])
        client.logout()
        assert world.clear() == 2 and world.sent_messages() == []
    finally:
        world.close()


def test_the_control_app_serves_both_ports_and_the_sent_folders() -> None:
    smtp_port, imap_port = free_port(), free_port()
    app = create_app(MailSettings(users={"hub": "s3cret"}), port=smtp_port, imap_port=imap_port)
    world = app.state.world
    try:
        assert (world.url, world.imap_url) == (f"smtp://127.0.0.1:{smtp_port}", f"imap://127.0.0.1:{imap_port}")
        submit(world, "ll-ctl")
        with LoopbackServer(app) as server:
            state = requests.get(f"{server.url}/_emulator/state", timeout=10).json()
            assert state["imap"]["url"] == world.imap_url and state["sent"] == state["messages"] == 1
            sent = requests.get(f"{server.url}/_emulator/state/sent", timeout=10).json()
            assert [(m["account"], m["uid"], m["message_id"]) for m in sent] == [
                ("hub", 1, "<ll-ctl@hub.example.com>")]
    finally:
        world.close()
    assert world.imap is None


def test_serve_emulators_starts_imap_where_the_config_points(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox: SMTP and IMAP on the instance's loopback ports; its connection reaches both (a server without
    accounts: no SMTP AUTH, any IMAP login)."""
    smtp_port, imap_port = free_port(), free_port()
    config = tmp_path / "plugins.toml"
    config.write_text(
        f'[tenants.sandbox.connectors.mail]\nplugin = "email"\nconnection_id = "mail_sandbox"\n'
        f'base_urls = {{smtp = "smtp://127.0.0.1:{smtp_port}", imap = "imap://127.0.0.1:{imap_port}"}}\n'
        f'from_address = "recruiting@example.com"\nstarttls = false\n', encoding="utf-8")
    host = PluginHost()
    host.register(email_plugin, "email")
    loaded = load(config, host)
    emulators = serve_emulators(loaded)
    try:
        world = emulators.worlds["sandbox.mail"]
        assert (world.url, world.imap_url) == (f"smtp://127.0.0.1:{smtp_port}", f"imap://127.0.0.1:{imap_port}")
        assert set(emulators.env) == {"AIRFLOW_CONN_MAIL_SANDBOX"}
        monkeypatch.setenv("AIRFLOW_CONN_MAIL_SANDBOX", emulators.env["AIRFLOW_CONN_MAIL_SANDBOX"])
        check = build_connector(loaded.setups["sandbox.mail"]).check()
        assert check.ok and "IMAP ok" in check.message, check.message
    finally:
        emulators.stop()
    assert world.imap is None and world.controller is None


def test_the_emulator_connection_is_its_first_account(world: MailWorld) -> None:
    assert EmailConnector.emulator_connection(world) == {"login": "hub", "password": "s3cret"}
