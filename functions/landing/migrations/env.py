"""Alembic environment: runs against the connection handed in by landing.migrate, or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from landing.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    from landing.db import connect_args
    from landing.settings import get_settings

    settings = get_settings()
    engine = create_engine(settings.url, connect_args=connect_args(settings))
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
