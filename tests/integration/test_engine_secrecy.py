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
