"""The store (SQLAlchemy 2 + Alembic): SQLite by default, PostgreSQL by URL."""

from lifeline_hub.core.store.store import Store, StreamState, WriteSummary, insert_new

__all__ = ["Store", "StreamState", "WriteSummary", "insert_new"]
