"""Revision 0010 adds S3 Metadata's columns to a populated catalog without rewriting a row, and back."""

from __future__ import annotations

from datetime import date

from alembic import command
from sqlalchemy import text

from landing.db import journal, migrate
from tests.integration.test_journal_migration import scratch_engine  # noqa: F401  (fixture)

ROWS = """
INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, record_timestamp,
                           size, e_tag, source, record_month)
SELECT 'b', 'k/' || n, lpad(to_hex(n), 32, '0'), 'CREATE', 'ObjectCreated:Put', ts, n, md5(n::text), 's3',
       date_trunc('month', ts AT TIME ZONE 'UTC')::date
FROM (SELECT n, now() - n * interval '1 hour' AS ts FROM generate_series(1, 2000) AS n) AS made
UNION ALL
SELECT 'b', 'old', '1', 'CREATE', 'ObjectCreated:Put', timestamptz '2019-05-05 00:00:00+00', 1, 'e', 's3',
       date '2019-05-01'"""
FILES = "SELECT c.relname, pg_relation_filenode(c.oid) FROM pg_class c WHERE c.relname LIKE 'object_events%' AND c.relkind = 'r'"


def test_0010_adds_columns_without_rewriting_and_moves_default_rows_with_them(scratch_engine):  # noqa: F811
    migrate.upgrade(scratch_engine, "0009")
    with scratch_engine.begin() as conn:
        conn.execute(text(ROWS))
        conn.execute(
            text("INSERT INTO objects (bucket, key, sequence_number, e_tag) VALUES ('b', 'k/1', '1', 'e')")
        )
        before = dict(conn.execute(text(FILES)).all())
        count = conn.execute(text("SELECT count(*) FROM object_events")).scalar_one()

    assert migrate.upgrade(scratch_engine, "0010") == "0010"

    with scratch_engine.begin() as conn:
        # Same storage for every journal table: nothing was rewritten.
        assert {name: node for name, node in conn.execute(text(FILES)).all() if name in before} == before
        assert (
            conn.execute(text("SELECT count(*) FROM object_events WHERE object_tags IS NULL")).scalar_one()
            == count
        )
        conn.execute(
            text(
                "INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, "
                "record_timestamp, source, record_month, object_tags, requester) VALUES ('b', 'older', '1', "
                "'CREATE', 'ObjectCreated:Put', '2018-03-03T00:00:00Z', 's3', '2018-03-01', "
                "'{\"a\": \"1\"}', 'me')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, "
                "record_timestamp, source, record_month, object_tags) VALUES ('b', 'k/1', 'F', "
                "'UPDATE_METADATA', 'ObjectTagging:Put', now(), 's3', "
                "date_trunc('month', now() AT TIME ZONE 'UTC')::date, '{}')"
            )
        )
        # A 2018 row sits in the default partition; making its month moves it, new columns and all.
        assert journal.create_partition_as_definer(conn, date(2018, 3, 1)) == 1
        moved = conn.execute(
            text(
                "SELECT tableoid::regclass::text, object_tags, requester FROM object_events WHERE key = 'older'"
            )
        ).one()
    assert tuple(moved) == ("object_events_2018_03", {"a": "1"}, "me")

    config = migrate.alembic_config()
    with scratch_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
        assert conn.execute(text("SELECT count(*) FROM object_events")).scalar_one() == count + 1
        columns = conn.execute(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = 'objects'")
        ).scalars()
        assert "object_tags" not in set(columns)
