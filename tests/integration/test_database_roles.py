"""The application role the migrations grant: the rows the functions touch, nothing of the schema."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from landing.db import engine as db
from landing.db import migrate
from landing.settings import get_settings

ROLE = "landing_app_test"
UPLOAD = (
    "INSERT INTO uploads (id, bucket, key, content_type, max_size, owner, status, expires_at) "
    "VALUES (gen_random_uuid(), 'b', 'uploads/o/k', 'text/plain', 1, 'o', 'pending', now())"
)


@pytest.fixture
def granted(monkeypatch, clean_db):
    """`landing migrate` with DATABASE_APP_ROLE set, as MigrateFunction runs it."""
    monkeypatch.setenv("DATABASE_APP_ROLE", ROLE)
    get_settings.cache_clear()
    migrate.upgrade(db.require_engine())
    yield ROLE
    monkeypatch.undo()
    get_settings.cache_clear()


def as_role(statement: str) -> None:
    with db.require_engine().connect() as conn, conn.begin():
        conn.execute(text(f"SET LOCAL ROLE {ROLE}"))
        conn.execute(text(statement))


@pytest.mark.parametrize(
    "statement",
    [
        UPLOAD,
        "SELECT count(*) FROM objects",
        "UPDATE uploads SET status = 'expired' WHERE false",
        "DELETE FROM object_events WHERE false",
        "SELECT count(*) FROM reconcile_state",
    ],
)
def test_the_application_role_may_read_and_write_rows(granted, statement):
    as_role(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE intruder (x int)",
        "DROP TABLE objects",
        "ALTER TABLE uploads ADD COLUMN x int",
        "TRUNCATE object_events",
        "SELECT version_num FROM alembic_version",
        "CREATE INDEX intruder ON uploads (owner)",
    ],
)
def test_the_application_role_may_not_touch_the_schema(granted, statement):
    with pytest.raises(ProgrammingError, match=r"permission denied|must be owner"):
        as_role(statement)


def test_a_status_change_as_the_application_role_writes_its_outbox_event(granted):
    """The outbox trigger runs as the caller: the role's grants cover the tables later migrations add."""
    with db.require_engine().connect() as conn, conn.begin():
        conn.execute(text(f"SET LOCAL ROLE {ROLE}"))
        conn.execute(text(UPLOAD))
        conn.execute(text("UPDATE uploads SET status = 'expired'"))
        assert conn.execute(text("SELECT count(*) FROM event_outbox")).scalar_one() == 1


def test_granting_again_after_another_upgrade_is_harmless(granted):
    migrate.upgrade(db.require_engine())
    as_role(UPLOAD)


def test_the_application_role_keeps_the_journal_partitions_through_the_definer_functions(granted):
    """The scheduled pass runs as this role: partition DDL goes through the SECURITY DEFINER functions."""
    from datetime import UTC, datetime

    from landing.db import journal

    with db.require_engine().connect() as conn, conn.begin():
        conn.execute(text(f"SET LOCAL ROLE {ROLE}"))
        result = journal.maintain(conn, datetime(2031, 5, 1, tzinfo=UTC), retention_days=None)
    assert "object_events_2031_05" in result.partitions_created
