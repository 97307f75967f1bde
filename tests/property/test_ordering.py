"""Ordering, property-based: any permutation and duplication of a set of events, delivered in any
batches, leaves the same tables: the newest event per key in `objects`, each distinct event once
in the journal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote_plus

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from landing.db import engine as db
from landing.ingest import service as ingest
from landing.s3 import fields, notifications
from tests.conftest import scaled_examples
from tests.support.events import delete_record, s3_event, s3_record

KEYS = ("a.txt", "dir/b c.txt", "c+d.txt")

# An event's identity: (key index, sequencer value, is delete). Its payload is a function of the
# identity, so two deliveries of one identity are the same event, as with S3 redeliveries.
identities = st.tuples(st.sampled_from(range(len(KEYS))), st.integers(1, 40), st.booleans())


def spelling(value: int, variant: int) -> str:
    """One sequencer value in the spellings S3 may use: any case, any right zero padding."""
    digits = f"{value:016X}"
    if variant % 2:
        digits = digits.lower()
    return digits + "0" * (variant % 5)


def event_for(identity: tuple[int, int, bool], variant: int) -> dict[str, Any]:
    key_index, value, is_delete = identity
    # S3 keeps "/" as is; moto encodes it as %2F: both decode to the same key.
    encoded = quote_plus(KEYS[key_index], safe="" if variant % 3 == 0 else "/")
    sequencer = spelling(value, variant)
    if is_delete:
        return delete_record(encoded, sequencer)
    return s3_record(encoded, sequencer=sequencer, etag=f"etag-{value}", size=value)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[set[tuple[int, int, bool]], list[list[dict[str, Any]]]]:
    """A set of distinct events, then every event delivered 1-3 times, shuffled, in random batches."""
    events = draw(st.sets(identities, min_size=1, max_size=8))
    copies = [
        (identity, draw(st.integers(0, 9))) for identity in events for _ in range(draw(st.integers(1, 3)))
    ]
    shuffled = draw(st.permutations(copies))
    batches: list[list[dict[str, Any]]] = []
    while shuffled:
        size = draw(st.integers(1, len(shuffled)))
        batches.append([event_for(identity, variant) for identity, variant in shuffled[:size]])
        shuffled = shuffled[size:]
    return events, batches


Identity = tuple[int, int, bool]
Delivery = tuple[set[Identity], list[list[dict[str, Any]]]]
CREATE, DELETE = False, True


def delivered(*invocations: list[Identity | tuple[Identity, int]]) -> Delivery:
    """An explicit delivery for @example: each list is one invocation; an identity may carry a spelling."""
    events: set[Identity] = set()
    batches = []
    for invocation in invocations:
        batch = []
        for item in invocation:
            identity, variant = item if isinstance(item[0], tuple) else (item, 0)
            events.add(identity)  # type: ignore[arg-type]
            batch.append(event_for(identity, variant))  # type: ignore[arg-type]
        batches.append(batch)
    return events, batches


# Every ordering edge, whatever the profile draws: ties between a CREATE and a DELETE with one
# sequencer (in two invocations, either order, or in one batch), stale events on both sides, a
# legitimate re-create, redeliveries spelled differently, and two keys whose ties interleave.
ORDERING_EDGES = [
    delivered([(0, 5, CREATE)], [(0, 5, DELETE)]),
    delivered([(0, 5, DELETE)], [(0, 5, CREATE)]),
    delivered([(0, 5, CREATE), (0, 5, DELETE)]),
    delivered([(0, 5, DELETE), (0, 5, CREATE)]),
    delivered([((0, 5, CREATE), 0)], [((0, 5, DELETE), 3)], [((0, 5, CREATE), 4)]),
    delivered([(0, 6, DELETE)], [(0, 5, CREATE)]),
    delivered([(0, 6, CREATE)], [(0, 5, DELETE)]),
    delivered([(0, 5, DELETE)], [(0, 6, CREATE)]),
    delivered([((0, 5, CREATE), 1)], [(0, 6, DELETE)], [((0, 5, CREATE), 2)], [((0, 6, DELETE), 3)]),
    delivered([(0, 5, CREATE), (1, 5, DELETE)], [(1, 5, CREATE), (0, 5, DELETE)]),
    delivered([(0, 16, CREATE)], [(0, 1, DELETE)], [(0, 16, DELETE)]),
]


def with_ordering_edges(test: Any) -> Any:
    for edge in reversed(ORDERING_EDGES):
        test = example(edge)(test)
    return test


@contextmanager
def rolled_back_session() -> Iterator[Session]:
    """One example's tables: a real transaction, rolled back afterwards (one flow at a time)."""
    connection = db.require_engine().connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def tables(session: Session) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    objects = session.execute(
        text(
            "SELECT key, sequence_number, is_deleted, size, e_tag, version_id, deleted_at IS NOT NULL "
            "FROM objects ORDER BY key"
        )
    ).all()
    journal = session.execute(
        text(
            "SELECT key, sequence_number, record_type, event_name, size, e_tag, record_timestamp, request_id "
            "FROM object_events ORDER BY key, sequence_number, record_type"
        )
    ).all()
    return [tuple(r) for r in objects], [tuple(r) for r in journal]


def expected(events: set[tuple[int, int, bool]]) -> tuple[list[tuple[Any, ...]], int]:
    """The model: per key, the greatest (sequencer, is delete) wins; every identity journalled once."""
    newest: dict[int, tuple[int, bool]] = {}
    for key_index, value, is_delete in events:
        if key_index not in newest or (value, is_delete) > newest[key_index]:
            newest[key_index] = (value, is_delete)
    rows = []
    for key_index, (value, is_delete) in newest.items():
        sequencer = f"{value:016X}".ljust(fields.SEQUENCER_WIDTH, "0")
        if is_delete:
            rows.append((KEYS[key_index], sequencer, True, None, None, None, True))
        else:
            rows.append((KEYS[key_index], sequencer, False, value, f"etag-{value}", None, False))
    return sorted(rows), len(events)


@settings(
    max_examples=scaled_examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@with_ordering_edges
@given(deliveries())
def test_any_permutation_and_duplication_of_events_yields_the_same_tables(delivery):
    events, batches = delivery
    with rolled_back_session() as session:
        for batch in batches:
            records = notifications.from_s3_notification(s3_event(*batch), source="s3").records
            with session.begin_nested():  # one invocation's unit of work
                ingest.apply(session, records, {})
        objects, journal = tables(session)

    want_objects, want_journal = expected(events)
    assert objects == want_objects
    assert len(journal) == want_journal
    assert len(set(journal)) == len(journal)


@settings(max_examples=scaled_examples(25), deadline=None)
@given(deliveries(), st.randoms(use_true_random=False))
def test_two_deliveries_of_one_event_set_leave_identical_tables(delivery, rnd):
    """Beyond the model: the journal rows themselves (names, times, request ids) do not depend on
    the order either."""
    _, batches = delivery
    flat = [event for batch in batches for event in batch]
    reordered = flat[:]
    rnd.shuffle(reordered)
    results = []
    for order in (flat, reordered):
        with rolled_back_session() as session:
            for event in order:
                records = notifications.from_s3_notification(s3_event(event), source="s3").records
                with session.begin_nested():
                    ingest.apply(session, records, {})
            results.append(tables(session))
    assert results[0] == results[1]
