"""Alembic's environment for the results store: always run on the connection that
``npubench.reports.store.migrate.upgrade`` hands over (inside its transaction and lock)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the results store's migrations run from npubench (open_store), "
                       "on a connection it passes in")
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
