"""The pytest plugin of the conformance kit (entry point `pytest11`: `lifeline_conformance`).

Fixtures any connector test may use: `conformance_db_url` (where the suite's store lives: a SQLite file in the
test's temporary directory; a project may override it, Lifeline's own tests run it on PostgreSQL too),
`conformance_store` (that store, migrated) and `fake_clock` (a `FakeClock` installed for the test with
`use_clock`: every HTTP client built inside waits on it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lifeline_hub.core.http.clock import use_clock
from lifeline_hub.core.http.testing import FakeClock
from lifeline_hub.core.store import Store


@pytest.fixture
def conformance_db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'conformance.db'}"


@pytest.fixture
def conformance_store(conformance_db_url: str) -> Iterator[Store]:
    store = Store(conformance_db_url)
    store.upgrade()
    yield store
    store.engine.dispose()


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    with use_clock(clock):
        yield clock
