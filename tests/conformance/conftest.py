"""Lifeline's own conformance runs keep the suite's store on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture
def conformance_db_url(db_url: str) -> str:
    return db_url
