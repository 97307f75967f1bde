"""Apply the Alembic migrations shipped in this package (used by the CLI and MigrateFunction)."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from landing.db import journal

# Serialises concurrent `migrate` runs (two deploys, or a test session and CI) on one database.
MIGRATION_LOCK_ID = 0x4C414E44  # "LAND"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "landing.db:migrations")
    return config


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the database behind ``engine`` to ``revision`` and return the revision it is at."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    from landing.db.roles import grant_application_role
    from landing.settings import get_settings

    config = alembic_config()
    app_role = get_settings().database_app_role
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if journal.is_partitioned(connection):
            # Every deploy also makes sure the journal has its months ahead (the scheduled pass
            # keeps them coming): an insert never waits for a partition that does not exist.
            journal.ensure_partitions(connection, datetime.now(UTC))
        if app_role:
            grant_application_role(connection, app_role)
        return MigrationContext.configure(connection).get_current_revision()
