"""DATABASE_PREPARED_STATEMENTS=false keeps connections free of server-side prepared statements."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from landing.db import engine as db
from landing.db.engine import build_engine
from landing.handlers.ingest import handler
from landing.lambda_context import local_context
from landing.settings import get_settings, load
from tests.conftest import rows
from tests.support.events import s3_event, s3_record


def test_setting_is_read_from_the_environment():
    assert load({}).database_prepared_statements is True
    assert load({"DATABASE_PREPARED_STATEMENTS": "false"}).database_prepared_statements is False


def bound_to(prepare: bool) -> Iterator[Engine]:
    engine = build_engine(dataclasses.replace(get_settings(), database_prepared_statements=prepare))
    original = db.Session.kw["bind"]
    db.Session.configure(bind=engine)
    try:
        yield engine
    finally:
        db.Session.configure(bind=original)
        engine.dispose()


def prepared_on_pooled_connection(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one())


@pytest.mark.usefixtures("clean_db", "s3")
@pytest.mark.parametrize(("prepare", "expected"), [(True, 1), (False, 0)])
def test_ingest_prepares_the_write_only_when_enabled(prepare, expected):
    for engine in bound_to(prepare):
        for i in range(3):
            handler(s3_event(s3_record(f"p/{i}", sequencer=f"{i + 1:02X}")), local_context("IngestFunction"))
        assert prepared_on_pooled_connection(engine) == expected
    assert rows("SELECT count(*) AS n FROM objects")[0]["n"] == 3
