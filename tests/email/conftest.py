"""Fixtures of the e-mail tests: the loopback SMTP server, candidates in a real store, the connector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.connectors.email.emulator_state import MailSettings, MailWorld
from lifeline_hub.connectors.email.plugin import EmailConnector
from lifeline_hub.core.store import Store
from tests.email.mail_helpers import make_connector, seed


@pytest.fixture
def mail() -> Iterator[MailWorld]:
    world = MailWorld(MailSettings()).start()
    yield world
    world.close()


@pytest.fixture
def contacts(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'contacts.db'}")
    store.upgrade()
    yield seed(store)
    store.engine.dispose()


@pytest.fixture
def connector(mail: MailWorld, contacts: Store) -> EmailConnector:
    return make_connector(mail, contacts)
