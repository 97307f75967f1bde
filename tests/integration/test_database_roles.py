"""The application role the migrations grant: the rows the functions touch, nothing of the schema."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from landing.db import engine as db
from landing.db import migrate
from landing.settings import get_settings
from tests.conftest import rows

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
        "DELETE FROM uploads WHERE false",
        "SELECT count(*) FROM object_events",
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
        "TRUNCATE object_events_default",
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


JOURNAL_ROW = (
    "INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, record_timestamp, "
    "source, record_month) VALUES ('b', 'k', '{seq}', 'CREATE', 'ObjectCreated:Put', {at}, 's3', "
    "date_trunc('month', ({at}) AT TIME ZONE 'UTC')::date)"
)


def journal_row(seq: int, at: str) -> str:
    return JOURNAL_ROW.format(seq=seq, at=at)


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM object_events",
        "UPDATE object_events SET key = 'forged'",
        "DELETE FROM {partition}",
        "UPDATE {partition} SET size = 0",
        "DELETE FROM object_events_default",
        "UPDATE object_events_default SET key = 'forged'",
        "DELETE FROM object_scans",
        "UPDATE object_scans SET scan_result_status = 'NO_THREATS_FOUND'",
    ],
)
def test_the_application_role_may_append_to_the_journal_but_never_change_or_remove_a_row(granted, statement):
    """The journal is append-only by grant, through the parent or a partition named directly."""
    from datetime import UTC, datetime

    from landing.db import journal

    with db.require_engine().begin() as conn:
        conn.execute(text(journal_row(1, "now()")))
        conn.execute(text(journal_row(2, "now() + interval '100 years'")))  # lands in the default
    # What the catalog and reconcile run: INSERT ... ON CONFLICT DO NOTHING RETURNING.
    as_role(
        journal_row(3, "now()")
        + " ON CONFLICT ON CONSTRAINT uq_object_events_identity DO NOTHING RETURNING id"
    )
    partition = journal.partition_name(journal.month_start(datetime.now(UTC)))

    with pytest.raises(ProgrammingError, match="permission denied"):
        as_role(statement.format(partition=partition))
    assert rows("SELECT key, count(*) AS n FROM object_events GROUP BY key") == [{"key": "k", "n": 3}]


def test_retention_still_drops_old_months_and_old_default_rows_as_the_application_role(granted):
    """Whole months through landing_journal_drop_partition, the default's expired rows through
    landing_journal_expire_default: SECURITY DEFINER functions, never the role's own DELETE."""
    from datetime import UTC, datetime, timedelta

    from landing.db import journal

    now = datetime.now(UTC)
    old = journal.add_months(journal.month_start(now), -20)
    with db.require_engine().begin() as conn:
        journal.ensure_partitions(conn, datetime.combine(old, datetime.min.time(), tzinfo=UTC), ahead=0)
        conn.execute(text(journal_row(1, f"'{old.isoformat()}T01:00:00Z'::timestamptz")))
        # A late event for a month that has no partition (already dropped) waits in the default.
        conn.execute(text(journal_row(2, "now() - interval '30 months'")))

    with db.require_engine().begin() as conn:
        conn.execute(text(f"SET LOCAL ROLE {ROLE}"))
        result = journal.maintain(conn, now, retention_days=400)

    assert journal.partition_name(old) in result.partitions_dropped
    assert result.expired_from_default == 1
    cutoff = now - timedelta(days=400)
    assert rows("SELECT count(*) AS n FROM object_events WHERE record_timestamp < :c", c=cutoff) == [{"n": 0}]
