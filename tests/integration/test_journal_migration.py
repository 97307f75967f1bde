"""Revision 0007 turns a populated unpartitioned journal into the partitioned one without losing a row."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from landing.db import journal, migrate
from landing.db.engine import build_engine
from landing.settings import get_settings
from landing_local import embedded

ROWS = 120_001  # more than two batches of 50,000
FINGERPRINT = """
SELECT count(*) AS n, md5(string_agg(concat_ws('|', id, bucket, key, sequence_number, record_type,
       event_name, record_timestamp, version_id, size, e_tag, request_id, source, received_at),
       ',' ORDER BY id)) AS digest
FROM object_events"""
# Events every 97 minutes and 123 ms from mid-2025: they cross many month boundaries, some within
# milliseconds of midnight; every seventh id is missing, so batches by id range meet gaps.
POPULATE = """
INSERT INTO object_events (id, bucket, key, sequence_number, record_type, event_name, record_timestamp,
                           version_id, size, e_tag, request_id, source, received_at)
OVERRIDING SYSTEM VALUE
SELECT n, 'bucket-' || mod(n, 3), 'k/' || n, lpad(to_hex(n), 32, '0'),
       CASE WHEN mod(n, 5) = 0 THEN 'DELETE' ELSE 'CREATE' END,
       CASE WHEN mod(n, 5) = 0 THEN 'ObjectRemoved:Delete' ELSE 'ObjectCreated:Put' END,
       timestamptz '2025-06-30 23:59:59.900+00' + n * interval '97 minutes 123 milliseconds',
       CASE WHEN mod(n, 2) = 0 THEN 'v' || n END, CASE WHEN mod(n, 5) <> 0 THEN n END,
       CASE WHEN mod(n, 5) <> 0 THEN md5(n::text) END, 'R' || n,
       (ARRAY['s3', 'sqs', 'eventbridge', 'reconcile'])[1 + mod(n, 4)],
       timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second'
FROM generate_series(1, :rows) AS n WHERE mod(n, 7) <> 3
UNION ALL
SELECT 0, 'edge', 'ms', '1', 'CREATE', 'ObjectCreated:Put', timestamptz '2026-10-31 23:59:59.999+00',
       NULL, 1, 'e', 'R', 's3', now()"""


@pytest.fixture
def scratch_engine() -> Iterator[Engine]:
    """A database of its own, migrated only as far as each test says."""
    server = make_url(os.environ["DATABASE_URL"]).set(database="postgres").render_as_string(False)
    name = f"landing_migration_{os.getpid()}"
    url = embedded.ensure_database(server, name)
    engine = build_engine(replace(get_settings(), database_url=url))
    try:
        yield engine
    finally:
        engine.dispose()
        embedded.drop_database(server, name)


def fingerprint(engine: Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(text(FINGERPRINT)).one()._mapping)


def test_populated_journal_keeps_every_row_and_identity_through_0007_and_back(scratch_engine):
    migrate.upgrade(scratch_engine, "0006")
    with scratch_engine.begin() as conn:
        conn.execute(text("SET LOCAL statement_timeout = 0"))
        conn.execute(text(POPULATE), {"rows": ROWS})
    before = fingerprint(scratch_engine)

    started = time.monotonic()
    assert migrate.upgrade(scratch_engine, "0007") == "0007"
    print(f"0007 converted {before['n']} rows in {time.monotonic() - started:.1f} s")

    assert fingerprint(scratch_engine) == before
    with scratch_engine.connect() as conn:
        assert journal.is_partitioned(conn)
        default = conn.execute(text(f"SELECT count(*) FROM {journal.DEFAULT_PARTITION}")).scalar_one()
        edge = conn.execute(
            text("SELECT tableoid::regclass::text FROM object_events WHERE bucket = 'edge'")
        ).scalar_one()
        months = {p.lower for p in journal.partitions(conn)}
    assert default == 0
    assert edge == "object_events_2026_10"
    assert len(months) >= 12
    # New rows get ids after the copied ones, and redeliveries of copied events are still absorbed.
    with scratch_engine.begin() as conn:
        inserted = (
            conn.execute(
                text(
                    "INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, "
                    "record_timestamp, source, record_month) "
                    "SELECT bucket, key, sequence_number, record_type, event_name, record_timestamp, "
                    "'eventbridge', record_month FROM object_events WHERE id IN (0, 1, 2) "
                    "UNION ALL SELECT 'new', 'k', '1', 'CREATE', 'x', now(), 's3', "
                    "date_trunc('month', now() AT TIME ZONE 'UTC')::date "
                    "ON CONFLICT ON CONSTRAINT uq_object_events_identity DO NOTHING RETURNING id"
                )
            )
            .scalars()
            .all()
        )
    assert len(inserted) == 1 and inserted[0] > ROWS

    config = migrate.alembic_config()
    with scratch_engine.begin() as conn:
        conn.execute(text("DELETE FROM object_events WHERE bucket = 'new'"))
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    assert fingerprint(scratch_engine) == before
