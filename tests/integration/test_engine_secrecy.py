"""The module engine never puts bound values into the exceptions (and so the logs) of failed statements."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from landing.db import engine as db


def test_a_failed_statement_does_not_carry_its_parameters():
    secret = "uploads/alice/secret-file-name.txt"
    with pytest.raises(DBAPIError) as failed, db.require_engine().connect() as conn:
        conn.execute(text("SELECT CAST(:value AS text), 1 / 0"), {"value": secret})
    assert secret not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)


@pytest.fixture
def every_new_upload_refused(clean_db):
    """A constraint the code knows nothing about: PostgreSQL's DETAIL then lists the whole row."""
    with db.require_engine().begin() as conn:
        conn.execute(text("ALTER TABLE uploads ADD CONSTRAINT secrecy_refuse_all CHECK (false) NOT VALID"))
    yield
    with db.require_engine().begin() as conn:
        conn.execute(text("ALTER TABLE uploads DROP CONSTRAINT secrecy_refuse_all"))


@pytest.fixture
def keys_unique_ignoring_case(clean_db):
    with db.require_engine().begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX secrecy_lower_key ON objects (lower(key))"))
    yield
    with db.require_engine().begin() as conn:
        conn.execute(text("DROP INDEX secrecy_lower_key"))


def test_a_constraint_violation_through_the_api_logs_no_row_data(every_new_upload_refused):
    """The API's 500 logs its traceback: without DETAIL ("Failing row contains (...)"), no key or owner."""
    from tests.support.api import Api
    from tests.support.logs import capture_logs

    owner, filename = "owner-7f3a9c", "payroll-2026-q4.csv"
    with capture_logs() as logs:
        status, body, _ = Api(sub=owner).call(
            "POST", "/uploads", body={"filename": filename, "content_type": "text/csv", "size": 10}
        )

    assert status == 500, body
    failed = [line for line in logs.lines if line["message"] == "request failed"]
    assert len(failed) == 1
    assert "23514" in logs.text and "secrecy_refuse_all" in logs.text  # what failed is still said
    assert filename not in logs.text and owner not in logs.text
    assert "Failing row" not in logs.text


def test_a_unique_violation_in_ingest_names_no_key_in_the_error_lambda_logs(
    keys_unique_ignoring_case, s3, lambda_context
):
    """A direct invocation raises and Lambda logs the exception's text: it names the constraint, not
    the key ("Key (lower(key))=(...) already exists")."""
    import traceback

    from landing.handlers.ingest import handler
    from tests.support.events import s3_event, s3_record
    from tests.support.logs import capture_logs

    secret = "hr/Salaries-2026.csv"
    with capture_logs() as logs, pytest.raises(DBAPIError) as failed:
        handler(
            s3_event(s3_record(secret, sequencer="01"), s3_record(secret.lower(), sequencer="02")),
            lambda_context,
        )

    logged = logs.text + "".join(traceback.format_exception(failed.value))
    assert "23505" in logged and "secrecy_lower_key" in logged
    assert secret.lower() not in logged.lower()
