"""Fixtures of the Aliyun SMS tests: the emulator on loopback, candidates in a real store, the connector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.aliyun_sms.emulator import EmulatorSettings, SmsWorld, create_app
from lifeline_hub.connectors.aliyun_sms.plugin import AliyunSmsConnector
from lifeline_hub.core.emulator import LoopbackServer
from lifeline_hub.core.store import Store
from tests.aliyun_sms.sms_helpers import make_connector, seed


@pytest.fixture
def world() -> Iterator[SmsWorld]:
    w = SmsWorld(EmulatorSettings(push_background=False, delivery_delay_seconds=0, retry_after_ms=10))
    yield w
    w.close()


@pytest.fixture
def emulator(world: SmsWorld) -> Iterator[str]:
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
def connector(emulator: str, contacts: Store) -> AliyunSmsConnector:
    return make_connector(emulator, contacts)
