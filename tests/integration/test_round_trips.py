"""The hot path's round trips: a warm invocation is one exchange with PostgreSQL (BEGIN, the write and
COMMIT together), with the same transaction semantics and the same errors as pg8000's own execution."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pg8000.core import CoreConnection
from sqlalchemy import exc

from landing.db import engine as db
from landing.db import pgwire
from landing.db.uow import unit_of_work
from landing.handlers.ingest import handler
from landing.ingest import catalog
from landing.lambda_context import local_context
from landing.s3.notifications import S3Record, from_s3_notification
from landing.settings import get_settings
from tests.conftest import rows
from tests.support.events import s3_event, s3_record, sqs_event

pytestmark = pytest.mark.usefixtures("clean_db", "s3")


@pytest.fixture
def exchanges(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every pg8000 exchange that waits for ReadyForQuery, i.e. one round trip each."""
    seen: list[str] = []
    original = CoreConnection.handle_messages

    def counting(connection, context):
        seen.append(str(context.statement).split()[0].lower() if context.statement else "?")
        return original(connection, context)

    monkeypatch.setattr(CoreConnection, "handle_messages", counting)
    yield seen


def record(key: str) -> S3Record:
    (parsed,) = from_s3_notification(s3_event(s3_record(key)), source="s3").records
    return parsed


def test_a_warm_direct_invocation_is_one_round_trip(exchanges):
    handler(s3_event(s3_record("warm/first")), local_context("IngestFunction"))
    exchanges.clear()

    result = handler(s3_event(s3_record("warm/second")), local_context("IngestFunction"))

    # BEGIN and COMMIT travel with the write statement.
    assert exchanges == ["with"]
    assert result["journalled"] == 1
    assert rows("SELECT count(*) AS n FROM objects WHERE key = 'warm/second'")[0]["n"] == 1


def test_a_warm_sqs_batch_is_one_round_trip(exchanges):
    handler(s3_event(s3_record("warm/first")), local_context("IngestFunction"))
    exchanges.clear()

    batch = sqs_event(*(s3_event(s3_record(f"batch/{i}")) for i in range(5)))
    result = handler(batch, local_context("IngestFunction"))

    assert result == {"batchItemFailures": []}
    assert exchanges == ["with"]
    assert rows("SELECT count(*) AS n FROM objects WHERE key LIKE 'batch/%'")[0]["n"] == 5


def test_a_key_under_the_upload_prefix_keeps_its_statements_in_one_transaction(exchanges):
    handler(s3_event(s3_record("warm/first")), local_context("IngestFunction"))
    exchanges.clear()

    handler(s3_event(s3_record(f"{get_settings().upload_prefix}a/b.txt")), local_context("IngestFunction"))

    # The write, the announced-upload lookup, then COMMIT: nothing commits before the last statement.
    assert exchanges[0] == "with"
    assert exchanges[-1] == "commit"
    assert len(exchanges) >= 3


def test_a_statement_after_the_committing_one_raises_instead_of_running_outside_the_transaction():
    with (
        pytest.raises(exc.InterfaceError, match="no statement may follow"),
        unit_of_work(one_statement=True) as session,
    ):
        catalog.record_events(session, [record("one/first")])
        catalog.record_events(session, [record("one/second")])

    # The promised statement committed; the one that broke the promise never reached the server.
    assert [r["key"] for r in rows("SELECT key FROM objects")] == ["one/first"]
    assert handler(s3_event(s3_record("one/after")), local_context("IngestFunction"))["journalled"] == 1


def test_a_failed_statement_with_commit_leaves_nothing_and_the_connection_recovers():
    raw = db.require_engine().raw_connection()
    try:
        connection = raw.dbapi_connection
        assert isinstance(connection, pgwire.Connection)
        cursor = connection.cursor()
        connection.execute_prepared(cursor, "CREATE TEMP TABLE t (n int) ON COMMIT PRESERVE ROWS", (), True)
        with pytest.raises(Exception) as failed:
            connection.execute_prepared(cursor, "INSERT INTO t SELECT 1 / %s", (0,), commit=True)
        assert failed.value.args[0]["C"] == "22012"
        # The server skipped the COMMIT: the transaction is aborted until the usual ROLLBACK.
        assert connection.in_transaction
        connection.rollback()

        connection.execute_prepared(cursor, "INSERT INTO t SELECT 10 / %s", (5,), commit=True)
        assert not connection.in_transaction
        connection.commit()  # nothing left to commit: no round trip, no warning
        cursor.execute("SELECT n FROM t")
        assert cursor.fetchall() == ([2],)
        connection.rollback()
    finally:
        raw.invalidate()  # its temp table and prepared statements must not reach the next test


def test_the_write_statement_is_prepared_once_per_connection():
    for i in range(3):
        handler(s3_event(s3_record(f"prepared/{i}")), local_context("IngestFunction"))

    # The pool holds one connection: this is the one the invocations used.
    with db.require_engine().connect() as conn:
        statements = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars().all()
    assert len(statements) == 1
    assert "json_to_recordset" in statements[0]


def test_a_prepared_write_rolled_back_leaves_nothing():
    # The pipelined BEGIN really opens the transaction: rolling back undoes the write.
    with db.Session() as session:
        session.begin()
        result = catalog.record_events(session, [record("rolled/back")])
        session.rollback()

    assert result.journalled == 1
    assert rows("SELECT count(*) AS n FROM object_events") == [{"n": 0}]
    assert rows("SELECT count(*) AS n FROM objects") == [{"n": 0}]


def test_a_failed_prepared_statement_raises_what_pg8000_raises_and_the_connection_recovers():
    raw = db.require_engine().raw_connection()
    try:
        connection = raw.dbapi_connection
        assert isinstance(connection, pgwire.Connection)
        cursor = connection.cursor()
        with pytest.raises(Exception) as stock:
            cursor.execute("SELECT 1 / %s", (0,))
        connection.rollback()

        with pytest.raises(Exception) as prepared:
            connection.execute_prepared(cursor, "SELECT 1 / %s", (0,))
        connection.rollback()

        assert type(prepared.value) is type(stock.value)
        assert prepared.value.args[0]["C"] == stock.value.args[0]["C"] == "22012"
        connection.execute_prepared(cursor, "SELECT 10 / %s", (5,))
        assert cursor.fetchall() == ([2],)
        connection.commit()
    finally:
        raw.close()


def test_a_statement_deallocated_behind_our_back_is_prepared_again():
    handler(s3_event(s3_record("stale/1")), local_context("IngestFunction"))
    with db.require_engine().connect() as conn:
        conn.exec_driver_sql("DEALLOCATE ALL")
        conn.commit()

    # The invocation that finds its statement gone fails (and is retried by Lambda)...
    with pytest.raises(exc.DBAPIError):
        handler(s3_event(s3_record("stale/2")), local_context("IngestFunction"))
    # ...and the next one prepares it again.
    handler(s3_event(s3_record("stale/2")), local_context("IngestFunction"))

    assert [r["key"] for r in rows("SELECT key FROM objects ORDER BY key")] == ["stale/1", "stale/2"]
