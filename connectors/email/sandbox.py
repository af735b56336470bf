"""E-mail in the sandbox: dead mailboxes, candidates reading (less often than texts), and link-scanning gateways."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_string, policy

from lifeline_hub.connectors.email.emulator_state import MailWorld
from lifeline_hub.core.models import utcnow
from lifeline_hub.core.sandbox import LINK, Role, Sandbox, SandboxActor, Tally, repeats

SCANNER = "Mozilla/5.0 (compatible; Barracuda Sentinel link protection)"


class MailActor(SandboxActor[MailWorld]):
    """Candidates' mailboxes; behind some, a security gateway opens every link seconds after delivery."""

    role = Role.candidate_channel

    def __init__(self, sandbox: Sandbox, world: MailWorld) -> None:
        super().__init__(sandbox, world)
        self.looked = 0
        """Messages the server received that the mailboxes have looked at (they only look at new ones)."""

    def setup(self) -> None:
        for b in self.sandbox.bookings:
            if not b.traits.email_ok:
                self.world.reject(b.email)

    def observe(self) -> None:
        people = self.sandbox
        with self.world.lock:
            fresh = self.world.received[self.looked:]
            self.looked += len(fresh)
        for m in (received.public() for received in fresh):
            if not people.first_look(f"mail/{m['message_id']}/{m['seq']}"):
                continue
            for rcpt in m["rcpt_tos"]:
                b = people.candidate_by_email(rcpt)
                if b is None:
                    continue
                text = plain(m["raw"])
                if b.traits.scanner:  # the gateway opens every link within seconds of delivery
                    people.at(utcnow() + timedelta(seconds=people.rng.randint(2, 12)), self._scan, text)
                if people.rng.random() < b.traits.email_read:
                    people.at(utcnow() + people.reading_delay(4), people.read, b, text, "email")

    def _scan(self, text: str) -> None:
        for kind, token in LINK.findall(text):
            self.sandbox.visit("GET", f"/{kind}/{token}", agent=SCANNER)
            self.sandbox.did["scanner_opens"] += 1

    def tally(self, into: Tally) -> None:
        received = self.world.messages()
        into.candidate_messages["email"] = len({m["message_id"] for m in received})
        # the `duplicate` fault makes the server keep a message twice; a re-send by Lifeline has no excuse
        into.duplicates += max(repeats(m["message_id"] for m in received) - self.world.faults.injected["duplicate"], 0)


def plain(raw: str) -> str:
    """The text of a MIME message (all text parts)."""
    message = message_from_string(raw, policy=policy.default)
    parts = [p.get_content() for p in message.walk() if p.get_content_type() in ("text/plain", "text/html")]
    return "\n".join(str(p) for p in parts)
