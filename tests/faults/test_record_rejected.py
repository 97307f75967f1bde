"""The database refuses one message's rows: only that message fails, the rest of the batch commits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from landing.handlers.ingest import handler
from tests.faults.conftest import DATABASE, table_state
from tests.support.events import s3_event, s3_record, sqs_event


@pytest.fixture
def poison_key_refused(fault_db) -> Iterator[None]:
    """A constraint the database enforces and the parser knows nothing about (SQLSTATE 23514)."""
    fault_db.sql("ALTER TABLE objects ADD CONSTRAINT faults_no_poison CHECK (key <> 'poison.txt')", DATABASE)
    yield
    fault_db.sql("ALTER TABLE objects DROP CONSTRAINT faults_no_poison", DATABASE)


def test_message_rejected_by_the_database_fails_alone(
    poison_key_refused, fault_db, bind_landing, s3, lambda_context, landing_logs
):
    bind_landing()
    batch = sqs_event(
        s3_event(s3_record("a.txt", sequencer="01")),
        s3_event(s3_record("poison.txt", sequencer="01")),
        s3_event(s3_record("b.txt", sequencer="01")),
    )
    poison_id = batch["Records"][1]["messageId"]

    result = handler(batch, lambda_context)

    assert result == {"batchItemFailures": [{"itemIdentifier": poison_id}]}
    state = table_state(fault_db)
    assert [row[1] for row in state["objects"]] == ["a.txt", "b.txt"]
    assert [row[1] for row in state["journal"]] == ["a.txt", "b.txt"]  # poison's journal row rolled back
    rejected = [
        line for line in landing_logs.problems() if line["message"] == "message rejected by the database"
    ]
    assert len(rejected) == 1
    assert (rejected[0]["message_id"], rejected[0]["sqlstate"], rejected[0]["retryable"]) == (
        poison_id,
        "23514",
        False,
    )


def test_a_parameter_the_driver_cannot_encode_does_not_poison_the_pooled_connection(
    fault_db, bind_landing, s3, lambda_context
):
    """pg8000 raised UnicodeEncodeError half-way through its protocol messages; SQLAlchemy put the
    connection back in the pool and every later invocation in that environment read garbage
    (NoResultFound). The parser now rejects such values and the write statement sends rows as
    JSON, so a plain statement with a bound parameter stands in for a bug elsewhere.
    """
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DataError

    from landing import errors
    from landing.db import engine as db

    bind_landing()
    handler(s3_event(s3_record("before.txt", sequencer="01")), lambda_context)

    with pytest.raises(DataError) as raised, db.Session() as session, session.begin():
        session.execute(text("SELECT :value"), {"value": "lone \udc80 surrogate"})
    assert errors.is_record_error(raised.value)
    assert errors.classify(raised.value).category == "data"

    result = handler(s3_event(s3_record("after.txt", sequencer="02")), lambda_context)

    assert result["journalled"] == 1
    assert [row[1] for row in table_state(fault_db)["objects"]] == ["after.txt", "before.txt"]
