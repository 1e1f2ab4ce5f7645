"""Alembic environment: migrations run on the connection the store hands in (never from an ini URL)."""

from __future__ import annotations

from alembic import context

from whoopkit.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("whoopkit migrations run through whoopkit.store.Store, which passes a connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
