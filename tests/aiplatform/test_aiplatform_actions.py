"""Actions: create_invitation and reissue_link (reset/extend), idempotent under retries and faults."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from lifeline_hub.connectors.aiplatform.connector import AIPlatformConnector
from lifeline_hub.connectors.aiplatform.emulator import AIPlatformWorld
from lifeline_hub.core.config import Config
from lifeline_hub.core.emulator import Faults
from lifeline_hub.core.http import Conflict, InvalidRequest
from lifeline_hub.core.models import Action, NotificationPurpose, canonical_id, parse_instant, utcnow
from lifeline_hub.core.store import Store
from lifeline_hub.core.sync import build_connector, sync_stream
from tests.aiplatform.aiplatform_helpers import FAST, SOURCE, configure, platform, setup_of

NEW = {"candidate": {"name": "张三", "email": "zhang@example.com", "external_ref": "cand-9"},
       "external_ref": "app-9", "deadline_basis": "from_invite", "window_hours": 48}


def action(kind: str, key: str, payload: dict[str, object], interview_id: str | None = None) -> Action:
    return Action(idempotency_key=key, tenant="acme", connector=SOURCE, kind=kind, payload=payload,
                  interview_id=interview_id, due_at=utcnow())


@dataclass
class Rig:
    world: AIPlatformWorld
    connector: AIPlatformConnector
    config: Config


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    with platform(retry_after_seconds=0) as (world, url):
        config = configure(tmp_path, url, monkeypatch, **FAST)
        connector = build_connector(setup_of(config))
        assert isinstance(connector, AIPlatformConnector)
        yield Rig(world, connector, config)


def test_create_invitation_is_created_once_under_faults(rig: Rig) -> None:
    world, connector = rig.world, rig.connector
    world.faults.configure(Faults(timeout=0.5, timeout_seconds=1.5, server_error=0.2, seed=11))
    results = {connector.perform(action("create_invitation", "ll-key-1", NEW)).remote_id for _ in range(3)}
    assert world.faults.injected["timeout"] > 0  # answers were lost after the invitation was made
    assert len(results) == 1 and list(world.invitations) == list(results)
    invitation = world.invitations[results.pop()]
    assert (invitation.external_ref, invitation.candidate["external_ref"]) == ("app-9", "cand-9")
    assert invitation.recipient == "z***@example.com"
    world.faults.configure(Faults())
    assert connector.perform(action("create_invitation", "ll-key-2", NEW)).remote_id not in results | {invitation.id}
    assert len(world.invitations) == 2


def test_a_reused_key_with_another_payload_is_refused(rig: Rig) -> None:
    connector = rig.connector
    connector.perform(action("create_invitation", "ll-key-3", NEW))
    with pytest.raises(InvalidRequest, match="idempotency_key_reused"):
        connector.perform(action("create_invitation", "ll-key-3", {**NEW, "window_hours": 24}))


def test_reset_reissues_the_link_and_is_read_back_as_a_reissued_link(rig: Rig, store: Store) -> None:
    world, connector = rig.world, rig.connector
    invitation = world.invite("Li", email="li@example.com")["id"]
    world.open_link(invitation)
    world.start(invitation)
    world.technical(invitation, "upload_error", "UPLOAD_TIMEOUT")
    interview_id = canonical_id(SOURCE, invitation)
    done = connector.perform(action("reissue_link", "ll-reset-1", {"mode": "reset"}, interview_id))
    again = connector.perform(action("reissue_link", "ll-reset-1", {"mode": "reset"}, interview_id))
    assert done.remote_id == again.remote_id == invitation
    assert done.detail["link_version"] == 2 and done.detail["status"] == "invited"
    state = world.invitations[invitation]
    assert (state.resets, state.link_version, state.started_ms) == (1, 2, None)

    sync_stream(store, setup_of(rig.config), "events")
    assert store.count("evidence", source=SOURCE, type=NotificationPurpose.reissued_link.value) == 1


def test_extend_moves_the_deadline_and_keeps_the_link(rig: Rig) -> None:
    world, connector = rig.world, rig.connector
    invitation = world.invite("Zhao", phone="13812341234", window_hours=24)
    result = connector.perform(action("reissue_link", "ll-ext-1",
                                      {"mode": "extend", "hours": 12, "invitation_id": invitation["id"]}))
    moved = parse_instant(str(result.detail["deadline_at"])) - parse_instant(invitation["deadline_at"])
    assert moved == timedelta(hours=12) and result.detail["link_version"] == 1


def test_refusals_are_not_retried(rig: Rig) -> None:
    world, connector = rig.world, rig.connector
    invitation = world.invite("Qian", email="qian@example.com")["id"]
    for n in range(world.settings.max_resets):
        connector.perform(action("reissue_link", f"ll-cap-{n}", {"invitation_id": invitation}))
    with pytest.raises(Conflict, match="reset_limit_reached"):
        connector.perform(action("reissue_link", "ll-cap-x", {"invitation_id": invitation}))
    with pytest.raises(InvalidRequest, match="email or a phone"):
        connector.perform(action("create_invitation", "ll-bad", {"candidate": {"name": "No contact"}}))
    with pytest.raises(InvalidRequest, match="invitation_id"):
        connector.perform(action("reissue_link", "ll-bad-2", {}, "acme.other/inv_1"))
    with pytest.raises(NotImplementedError):
        connector.perform(action("send_message", "ll-bad-3", {}))
    assert connector.client.stats.retries == 0
