"""errors.classify on the exceptions pg8000 and SQLAlchemy really raise (built here, not mocked)."""

from __future__ import annotations

import pytest
from pg8000.exceptions import DatabaseError, InterfaceError
from sqlalchemy import exc

from landing import errors
from landing.errors import RetryableS3Error


def server_error(code: str, message: str = "m") -> exc.DBAPIError:
    """What SQLAlchemy raises for a PostgreSQL ErrorResponse through pg8000."""
    orig = DatabaseError({"S": "ERROR", "C": code, "M": message})
    return exc.DBAPIError.instance("SELECT 1", {"secret": "param-value"}, orig, DatabaseError)


@pytest.mark.parametrize(
    ("code", "category", "retryable"),
    [
        ("53300", "unavailable", True),
        ("57P03", "unavailable", True),
        ("08006", "unavailable", True),
        ("57P01", "connection-lost", True),
        ("25P03", "connection-lost", True),
        ("57014", "timeout", True),
        ("55P03", "timeout", True),
        ("40001", "conflict", True),
        ("40P01", "conflict", True),
        ("22003", "data", False),
        ("23514", "data", False),
        ("28P01", "configuration", False),
        ("3D000", "configuration", False),
        ("42P01", "configuration", False),
        ("XX000", "unexpected", False),
    ],
)
def test_server_errors_are_classified_by_sqlstate(code, category, retryable):
    classified = errors.classify(server_error(code, "the message"))
    assert (classified.category, classified.retryable, classified.sqlstate) == (category, retryable, code)
    assert classified.detail == "the message"
    assert errors.is_record_error(server_error(code)) == (category == "data")


def test_log_fields_never_carry_the_statement_or_its_parameters():
    fields = errors.classify(server_error("22003", "value out of range")).log_fields()
    assert "param-value" not in str(fields) and "SELECT" not in str(fields)


def test_transport_failures_are_retryable():
    refused = InterfaceError("Can't create a connection to host 10.0.0.1 and port 5432")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    connecting = errors.classify(exc.DBAPIError.instance(None, None, refused, DatabaseError))
    assert (connecting.category, connecting.retryable) == ("unavailable", True)
    assert "Connection refused" in connecting.detail

    lost = errors.classify(
        exc.DBAPIError.instance("SELECT 1", None, InterfaceError("network error"), DatabaseError)
    )
    assert (lost.category, lost.retryable) == ("connection-lost", True)

    timed_out = errors.classify(TimeoutError("timed out"))  # escaped pg8000 while connecting
    assert (timed_out.category, timed_out.detail) == (
        "unavailable",
        "cannot connect: no answer within the socket timeout",
    )
    assert errors.ends_session(TimeoutError()) and errors.ends_session(server_error("57P01"))
    assert not errors.ends_session(server_error("22003"))


def test_s3_and_unknown_errors():
    assert errors.classify(RetryableS3Error("HeadObject failed: 503")).category == "s3"
    unknown = errors.classify(KeyError("boom"))
    assert (unknown.category, unknown.retryable) == ("unexpected", False)
