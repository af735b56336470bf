"""Cassette case: what the connector sends and gets over HTTP, recorded the way `core.testkit.cassette`
records it, holds no secret and no raw contact data."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from lifeline_hub.core.conformance.actions import ActionCases
from lifeline_hub.core.conformance.cases import case
from lifeline_hub.core.conformance.check import secrets_of
from lifeline_hub.core.conformance.rig import Rig, read_all, with_handoff
from lifeline_hub.core.conformance.streams import StreamCases
from lifeline_hub.core.models import Candidate
from lifeline_hub.core.testkit import cassette, find_leaks


def raw_contacts(candidates: Iterable[Candidate]) -> list[str]:
    """Every contact value of `candidates` as the vendor could see it: as stored, and a phone's national digits.
    Platform account ids (an openid, an external_userid: `address == "account"`) are the addresses the vendor is
    called with and not personal data in themselves (`core.models.channels`), so they are not counted."""
    values: list[str] = []
    for candidate in candidates:
        for point in candidate.contacts:
            if point.channel.info.address == "account":
                continue
            raw = point.value.get_secret_value()
            values.append(raw)
            digits = re.sub(r"\D", "", raw)
            if len(digits) >= 11:
                values.append(digits[-11:])
    return values


def leaks(text: str, secrets: Sequence[str], contacts: Sequence[str]) -> list[str]:
    """What `text` must not hold: `find_leaks` (raw mobiles, token headers), a secret, a raw contact value."""
    lowered = text.lower()
    found = list(find_leaks(text))
    found += [f"secret {s[:2]}…" for s in secrets if s in text]
    found += [f"contact {c[:3]}…" for c in contacts if c.lower() in lowered]
    return found


class CassetteCases(StreamCases, ActionCases):
    records_http: ClassVar[bool]
    candidates: ClassVar[Sequence[Candidate]]
    cassette_dir: ClassVar[Path | None]

    @case(applies=lambda suite: suite.records_http)
    def cassettes_hold_no_secrets_or_contact_data(self, rig: Rig, tmp_path: Path) -> None:
        """A cassette recorded of `check()`, a read of every stream and every action holds no secret of the
        connection and no raw phone number or e-mail address of the suite's candidates; nor does any cassette
        already in `cassette_dir` (the ones the connector's own tests replay)."""
        with cassette(tmp_path, "conformance", record=True):
            connector = rig.connector()
            connector.check()
            for stream in self.connector.streams:
                seeded = self.seed_stream(stream.name, rig, 1)
                read_all(connector, stream.name, with_handoff({}, seeded))
            for kind in self.connector.actions:
                connector.perform(rig.action(kind, self.action_payload(kind, rig)))
        recorded = tmp_path / "conformance.yaml"
        assert recorded.exists(), "nothing was recorded: set records_http = False for a connector without HTTP"
        files = [recorded, *(sorted(self.cassette_dir.rglob("*.yaml")) if self.cassette_dir else [])]
        secrets, contacts = secrets_of(rig.credentials), raw_contacts(self.candidates)
        found = {path.name: leaks(path.read_text(encoding="utf-8"), secrets, contacts) for path in files}
        assert not any(found.values()), {name: hits[:3] for name, hits in found.items() if hits}
