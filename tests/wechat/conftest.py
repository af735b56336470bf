"""Fixtures of the WeChat Official Account tests: the emulator on loopback, candidates in a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.wecom.oa_emulator import EmulatorSettings, OaWorld, create_app
from lifeline_hub.connectors.wecom.oa_plugin import WeChatConnector
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.store import Store
from tests.wechat.oa_helpers import make_connector, seed


@pytest.fixture
def world() -> Iterator[OaWorld]:
    w = OaWorld(EmulatorSettings(push_background=False, event_delay_seconds=0))
    yield w
    w.close()


@pytest.fixture
def emulator(world: OaWorld) -> Iterator[str]:
    with LoopbackServer(create_app(world=world)) as server:
        yield server.url


@pytest.fixture
def contacts(tmp_path: Path) -> Iterator[Store]:
    """Candidates with contact points in a real (SQLite) store: the connector's contact book."""
    store = Store(f"sqlite:///{tmp_path / 'contacts.db'}")
    store.upgrade()
    yield seed(store)
    store.engine.dispose()


@pytest.fixture
def connector(emulator: str, contacts: Store) -> WeChatConnector:
    return make_connector(emulator, contacts)
