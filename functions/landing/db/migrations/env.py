"""Alembic environment: runs on the connection landing.db.migrate.upgrade hands in (its lock held)."""

from __future__ import annotations

from alembic import context

from landing.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    # The engine (TLS, IAM token or secret) and the advisory lock live in landing.db.migrate.
    raise RuntimeError("run migrations through `landing migrate` (landing.db.migrate.upgrade)")
context.configure(connection=connection, target_metadata=Base.metadata)
with context.begin_transaction():
    context.run_migrations()
