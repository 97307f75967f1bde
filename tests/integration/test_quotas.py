"""Per-owner quotas: open uploads at once and bytes announced per day, answered 429 with Retry-After."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from landing.db import engine as db
from landing.db.engine import build_engine
from landing.s3 import clients
from landing.settings import get_settings
from landing.uploads import quotas
from tests.conftest import rows
from tests.support.api import Api

TEXT = {"filename": "notes.txt", "content_type": "text/plain", "size": 12}


@pytest.fixture
def env(monkeypatch, s3, clean_db):
    clients.reset()

    def apply(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
    clients.reset()


def call(owner: str, **body):
    return Api(owner).call("POST", "/uploads", body={**TEXT, **body})


def test_open_uploads_above_the_quota_are_429_with_retry_after_and_no_row(env):
    env(UPLOAD_MAX_PENDING_PER_OWNER="2", PRESIGN_EXPIRES="900")
    assert call("alice")[0] == 201
    assert call("alice")[0] == 201

    status, body, headers = call("alice")

    assert (status, body["error"]["code"]) == (429, "quota_exceeded")
    assert 1 <= int(headers["Retry-After"]) <= 900
    assert len(rows("SELECT id FROM uploads WHERE owner = 'alice'")) == 2
    assert call("bob")[0] == 201, "another owner has a quota of their own"
    with db.require_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE uploads SET status = 'uploaded' WHERE owner = 'alice' AND ctid IN "
                "(SELECT ctid FROM uploads WHERE owner = 'alice' LIMIT 1)"
            )
        )
    assert call("alice")[0] == 201, "a decided upload no longer counts"


def test_bytes_per_day_above_the_quota_wait_until_old_announcements_age_out(env):
    env(UPLOAD_MAX_BYTES_PER_DAY="100")
    assert call("alice", size=60)[0] == 201

    status, body, headers = call("alice", size=50)
    assert (status, body["error"]["code"]) == (429, "quota_exceeded")
    assert 86400 - 60 <= int(headers["Retry-After"]) <= 86400

    with db.require_engine().begin() as conn:
        conn.execute(text("UPDATE uploads SET created_at = now() - interval '23 hours'"))
    assert 3600 - 60 <= int(call("alice", size=50)[2]["Retry-After"]) <= 3600
    with db.require_engine().begin() as conn:
        conn.execute(text("UPDATE uploads SET created_at = now() - interval '25 hours'"))
    assert call("alice", size=50)[0] == 201
    assert call("alice", size=40)[0] == 201
    assert call("alice", size=11)[0] == 429


def test_an_upload_larger_than_the_daily_quota_is_413(env):
    env(UPLOAD_MAX_BYTES_PER_DAY="100")
    status, body, _ = call("alice", size=101)
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert rows("SELECT id FROM uploads") == []


def test_concurrent_requests_of_one_owner_are_counted_one_after_another(env):
    """The per-owner lock: a second request waits for the first to commit, then sees its row."""
    env(UPLOAD_MAX_PENDING_PER_OWNER="1")
    settings = get_settings()
    engine = build_engine(dataclasses.replace(settings, pool_size=3))
    now = datetime.now(UTC)
    first = Session(engine)
    quotas.check(first, settings, "alice", 12, now)
    first.execute(
        text(
            "INSERT INTO uploads (id, bucket, key, content_type, max_size, owner, status, expires_at) "
            "VALUES (:id, 'example-bucket', 'uploads/alice/x/a.txt', 'text/plain', 12, 'alice', 'pending', :at)"
        ),
        {"id": uuid.uuid4(), "at": now + timedelta(minutes=15)},
    )
    outcome: list[object] = []

    def second() -> None:
        with Session(engine) as session, session.begin():
            try:
                quotas.check(session, settings, "alice", 12, now)
                outcome.append("allowed")
            except quotas.QuotaExceeded as exceeded:
                outcome.append(exceeded)

    worker = threading.Thread(target=second)
    worker.start()
    waiting = 0
    for _ in range(500):  # until the second request waits on the lock (bounded, not timed)
        with engine.connect() as conn:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            ).scalar_one()
        if waiting:
            break
        worker.join(0.01)
    assert waiting == 1 and not outcome
    first.commit()
    first.close()
    worker.join()
    engine.dispose()
    assert len(outcome) == 1 and isinstance(outcome[0], quotas.QuotaExceeded)
