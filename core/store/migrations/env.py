"""Alembic environment: runs on the connection the Store hands over (see Store.upgrade)."""

from alembic import context

from lifeline_hub.core.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
