"""SMTP submission with `smtplib` and typed errors (channels.md §2.3).

`smtps://host:465` is implicit TLS; `smtp://host:587` upgrades with STARTTLS unless the instance
turns it off (loopback tests, the demo), and a server that does not offer it is refused rather than
used in clear text. 4xx replies raise `TransientError` (dispatch retries); a 5xx to the recipient
or to the message raises `Rejected` (a failed delivery, never retried); a 5.7.1 to the sender raises
`PermissionDenied`; 5xx elsewhere (sender, greeting) and authentication failures are configuration
errors. Replies and addresses are redacted in every message; the smtplib exception is never chained
(its text holds the address).
DSNs are requested (`NOTIFY=FAILURE,DELAY`, `ENVID`) only when the server advertises DSN.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from lifeline_hub.connectors.email.endpoint import Endpoint
from lifeline_hub.core.connections import Credentials
from lifeline_hub.core.http import AuthFailed, InvalidRequest, PermissionDenied, TransientError, VendorError, redact

VENDOR = "smtp"
SENDER_NOT_AUTHORIZED = "5.7.1"
"""RFC 3463 "delivery not authorized" (channels.md §2.3 policy rejection). To MAIL FROM it says the account may not
send as this sender: the same for every recipient, an admin's to fix. To a recipient it may be that recipient's
policy, so there it stays a failed delivery."""


class Rejected(VendorError):
    """A permanent (5xx) refusal of the recipient or the message: recorded as a failed delivery."""


def xtext(value: str) -> str:
    """RFC 3461 xtext (for ENVID): `+XX` for `+`, `=` and anything outside printable ASCII."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else f"+{ord(c):02X}" for c in value)


def reply_error(code: int, text: bytes | str, stage: str) -> VendorError:
    """The typed error for an SMTP reply at `stage` (rcpt, data, sender, greeting)."""
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    message = f"{stage} refused: {code} {redact(reply)}"
    if 400 <= code < 500:
        return TransientError(message, vendor=VENDOR, code=code, sent=False)  # answered: nothing was accepted
    if stage in ("rcpt", "data"):
        return Rejected(message, vendor=VENDOR, code=code)
    if stage == "sender" and reply.split(maxsplit=1)[:1] == [SENDER_NOT_AUTHORIZED]:
        return PermissionDenied(message, vendor=VENDOR, code=code, scope="send as the from_address")
    return InvalidRequest(message, vendor=VENDOR, code=code)


def submit(endpoint: Endpoint, credentials: Credentials | None, msg: EmailMessage | None, sender: str,
           recipient: str, *, starttls: bool, ca_file: str | None, timeout: float, envelope_id: str) -> None:
    """Hand one message for one recipient to the server; raise a typed `VendorError` when it is not accepted.

    With `msg` None it only connects, upgrades, logs in and says NOOP (the connector's `check`).
    """
    context = ssl.create_default_context(cafile=ca_file)
    try:
        server = (smtplib.SMTP_SSL(endpoint.host, endpoint.port, timeout=timeout, context=context)
                  if endpoint.implicit_tls else smtplib.SMTP(endpoint.host, endpoint.port, timeout=timeout))
        with server:
            server.ehlo()
            if starttls and not endpoint.implicit_tls:
                if not server.has_extn("starttls"):
                    raise InvalidRequest("server offers no STARTTLS; refusing to send in clear text", vendor=VENDOR)
                server.starttls(context=context)
                server.ehlo()
            if credentials is not None and credentials.login:
                server.login(credentials.login, credentials.password or "")
            if msg is None:
                server.noop()
                return
            dsn = server.has_extn("dsn")
            server.send_message(msg, from_addr=sender, to_addrs=[recipient],
                                mail_options=["RET=HDRS", f"ENVID={xtext(envelope_id)}"] if dsn else [],
                                rcpt_options=["NOTIFY=FAILURE,DELAY"] if dsn else [])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        raise reply_error(code, text, "rcpt") from None
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(f"SMTP authentication failed: {exc.smtp_code}", vendor=VENDOR, code=exc.smtp_code) from None
    except smtplib.SMTPDataError as exc:
        raise reply_error(exc.smtp_code, exc.smtp_error, "data") from None
    except smtplib.SMTPSenderRefused as exc:
        raise reply_error(exc.smtp_code, exc.smtp_error, "sender") from None
    except smtplib.SMTPResponseException as exc:
        raise reply_error(exc.smtp_code, exc.smtp_error, "greeting") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise InvalidRequest(f"SMTP server does not support: {exc}", vendor=VENDOR) from None
    except (smtplib.SMTPException, OSError) as exc:  # disconnects, timeouts, TLS and socket errors
        raise TransientError(f"SMTP connection failed: {type(exc).__name__}: {redact(str(exc))}", vendor=VENDOR,
                             sent=not isinstance(exc, ConnectionRefusedError)) from None
