"""Concurrent invocations: each has its own session; the tables converge to the truth exactly."""

from __future__ import annotations

import dataclasses
import itertools
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import Session

from landing.db import engine as db
from landing.db.engine import build_engine, connect_args
from landing.handlers.ingest import handler
from landing.lambda_context import local_context
from landing.settings import get_settings
from tests.conftest import rows
from tests.support.events import delete_record, s3_event, s3_record

WORKERS = 16


def storm_events(keys: int = 24, seed: int = 7) -> list[dict]:
    """Per key: a few creates and deletes with distinct sequencers (some of differing lengths)."""
    rnd = random.Random(seed)
    events = []
    for k in range(keys):
        key = f"storm/{k:03d}/file+{k}.txt"
        sequencers = rnd.sample(range(1, 4000), 4)
        for i, seq in enumerate(sequencers):
            sequencer = f"{seq:06X}" + ("" if i % 2 else "00")  # mixed lengths, right-padded in storage
            if rnd.random() < 0.3:
                events.append(s3_event(delete_record(key, sequencer)))
            else:
                events.append(s3_event(s3_record(key, sequencer=sequencer, etag=f"e{seq}", size=seq)))
    return events


def expected_truth(events: list[dict]) -> tuple[dict, int]:
    """Pure-Python model of the contract: greatest right-padded sequencer wins; DELETE wins ties."""
    winners: dict[str, tuple] = {}
    identities = set()
    for e in events:
        rec = e["Records"][0]
        key = rec["s3"]["object"]["key"].replace("+", " ")
        seq = rec["s3"]["object"]["sequencer"].upper().ljust(32, "0")
        deleted = rec["eventName"].startswith("ObjectRemoved")
        identities.add((key, seq, deleted))
        rank = (seq, deleted)
        if key not in winners or rank > winners[key][0]:
            size = None if deleted else rec["s3"]["object"]["size"]
            winners[key] = (rank, deleted, size)
    return {k: (v[1], v[2], v[0][0]) for k, v in winners.items()}, len(identities)


@pytest.fixture
def per_worker_pool() -> Iterator[None]:
    """Like 16 Lambda environments: a connection per worker (the module pool holds one)."""
    settings = get_settings()
    engine = build_engine(dataclasses.replace(settings, pool_size=WORKERS))
    original = db.Session.kw["bind"]
    db.Session.configure(bind=engine)
    try:
        yield
    finally:
        db.Session.configure(bind=original)
        engine.dispose()


@pytest.mark.usefixtures("clean_db", "s3", "per_worker_pool")
def test_storm_of_shuffled_redelivered_events_converges_exactly():
    events = storm_events()
    deliveries = [e for e in events for _ in range(3)]
    random.Random(42).shuffle(deliveries)

    sessions: dict[int, int] = {}
    serial = itertools.count()
    shared: list[str] = []

    @event.listens_for(Session, "after_begin")
    def track(session, transaction, connection):
        owner = session.info.setdefault("thread", threading.get_ident())
        if owner != threading.get_ident():
            shared.append(f"session used by threads {owner} and {threading.get_ident()}")
        if "serial" not in session.info:
            session.info["serial"] = next(serial)
            sessions[session.info["serial"]] = owner

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(lambda e: handler(e, local_context("IngestFunction")), deliveries))
    finally:
        event.remove(Session, "after_begin", track)

    truth, distinct_events = expected_truth(events)
    stored = {
        r["key"]: (r["is_deleted"], r["size"], r["sequence_number"])
        for r in rows("SELECT key, is_deleted, size, sequence_number FROM objects")
    }
    assert stored == truth
    assert rows("SELECT count(*) AS n FROM object_events")[0]["n"] == distinct_events
    assert sum(r["journalled"] for r in results) == distinct_events
    # Never shared: one new session per invocation, each used by a single thread.
    assert shared == []
    assert len(sessions) == len(deliveries)
    assert len(set(sessions.values())) > 1  # the storm really ran on several threads


def test_fifty_invocations_use_one_server_connection(clean_db, s3):
    engine = db.require_engine()
    engine.dispose()  # start from an empty pool: the first invocation opens the connection
    opened: list[object] = []

    def count_connect(dbapi_connection, record):
        opened.append(dbapi_connection)

    event.listen(engine, "connect", count_connect)
    try:
        for i in range(50):
            handler(
                s3_event(s3_record(f"reuse/{i}", sequencer=f"{i + 1:04X}")), local_context("IngestFunction")
            )
    finally:
        event.remove(engine, "connect", count_connect)

    settings = get_settings()
    observer = create_engine(settings.url, connect_args=connect_args(settings))
    with observer.connect() as conn:
        server_side = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'landing' AND datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    observer.dispose()
    assert len(opened) == 1
    assert server_side == 1
    assert rows("SELECT count(*) AS n FROM objects")[0]["n"] == 50
