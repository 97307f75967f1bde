"""The database is down or refuses sessions: classified error, reported for retry, nothing lost."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from landing.handlers.ingest import handler
from tests.faults.conftest import APP_PASSWORD, APP_USER, DATABASE, SUPERUSER_PASSWORD, table_state
from tests.support.events import s3_event, s3_record, sqs_event


def put(key: str, sequencer: str = "01") -> dict:
    return s3_event(s3_record(key, sequencer=sequencer))


def assert_no_secret(captured: str) -> None:
    assert APP_PASSWORD not in captured
    assert SUPERUSER_PASSWORD not in captured


def test_database_down_reports_every_message_and_recovers(
    fault_db, bind_landing, s3, lambda_context, landing_logs
):
    bind_landing()
    handler(sqs_event(put("before.txt")), lambda_context)  # a warm environment with a pooled connection
    fault_db.stop("fast")
    landing_logs.clear()

    batch = sqs_event(put("a.txt"), put("b.txt"))
    result = handler(batch, lambda_context)
    again = handler(batch, lambda_context)  # a redelivery while still down: same answer, no crash

    ids = sorted(r["messageId"] for r in batch["Records"])
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == ids
    assert again == result
    captured = landing_logs.text
    (first, second) = landing_logs.problems()
    assert first["error_category"] == "unavailable" and first["retryable"] is True
    assert "cannot connect" in first["error"] and "Connection refused" in first["error"]
    assert second["error_category"] == "unavailable"
    assert "exception" not in first  # a classified, expected failure: one line, no traceback
    assert_no_secret(captured)

    fault_db.start()
    assert handler(batch, lambda_context) == {"batchItemFailures": []}
    assert [row[1] for row in table_state(fault_db)["objects"]] == ["a.txt", "b.txt", "before.txt"]


def test_database_down_direct_invocation_raises_a_classified_error(
    fault_db, bind_landing, s3, lambda_context, landing_logs
):
    bind_landing()
    fault_db.stop("fast")
    landing_logs.clear()

    with pytest.raises(Exception) as raised:
        handler(put("a.txt"), lambda_context)

    (line,) = landing_logs.problems()
    assert line["message"] == "database write failed, the invocation will be retried"
    assert (line["error_category"], line["retryable"], line["records"]) == ("unavailable", True, 1)
    assert APP_PASSWORD not in str(raised.value)
    fault_db.start()
    assert handler(put("a.txt"), lambda_context)["journalled"] == 1


def test_too_many_connections_is_classified_and_retried(
    fault_db, bind_landing, s3, lambda_context, landing_logs
):
    """The role's CONNECTION LIMIT is used up by other clients: SQLSTATE 53300."""
    bind_landing()
    others = create_engine(fault_db.url(DATABASE, user=APP_USER, password=APP_PASSWORD), poolclass=NullPool)
    fault_db.sql(f"ALTER ROLE {APP_USER} CONNECTION LIMIT 2")
    held = [others.connect() for _ in range(2)]
    try:
        for conn in held:
            conn.execute(text("SELECT 1"))
        landing_logs.clear()
        batch = sqs_event(put("a.txt"))
        result = handler(batch, lambda_context)
        assert result["batchItemFailures"] == [{"itemIdentifier": batch["Records"][0]["messageId"]}]
        (line,) = landing_logs.problems()
        assert (line["error_category"], line["sqlstate"], line["retryable"]) == ("unavailable", "53300", True)
        assert "too many connections" in line["error"]
    finally:
        for conn in held:
            conn.close()
        others.dispose()
        fault_db.sql(f"ALTER ROLE {APP_USER} CONNECTION LIMIT 4")

    assert handler(batch, lambda_context) == {"batchItemFailures": []}
    assert len(table_state(fault_db)["journal"]) == 1


def test_wrong_password_is_a_permanent_configuration_error_without_the_password(
    fault_db, bind_landing, s3, lambda_context, landing_logs, cluster
):
    from dataclasses import replace

    from landing.db import engine as db
    from landing.settings import get_settings

    wrong = "wrong-pw-also-never-logged"
    settings = replace(
        get_settings(),
        database_url=cluster.url(DATABASE, user=APP_USER, password=wrong),
        database_tls="disable",
    )
    engine = db.build_engine(settings)
    original = db.engine
    db.engine = engine
    db.Session.configure(bind=engine)
    try:
        landing_logs.clear()
        result = handler(sqs_event(put("a.txt")), lambda_context)
    finally:
        db.engine = original
        db.Session.configure(bind=original)
        engine.dispose()

    assert len(result["batchItemFailures"]) == 1
    captured = landing_logs.text
    (line,) = landing_logs.problems()
    assert (line["error_category"], line["sqlstate"], line["retryable"]) == ("configuration", "28P01", False)
    assert wrong not in captured
