"""The monthly-partitioned journal: one event by two paths at a month boundary, late and early events,
the default partition, and retention dropping only expired partitions while ingestion runs."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from landing.db import engine as db
from landing.db import journal
from landing.db.engine import build_engine
from landing.db.uow import unit_of_work
from landing.handlers.ingest import handler as ingest
from landing.handlers.uploads import handler as uploads
from landing.ingest import catalog
from landing.s3.fields import normalise_sequencer
from landing.s3.notifications import S3Record
from landing.settings import get_settings
from tests.conftest import rows
from tests.support.events import eventbridge_event, load, s3_event, s3_record

pytestmark = pytest.mark.usefixtures("clean_db")


def ensure(now: datetime, ahead: int = journal.MONTHS_AHEAD) -> None:
    with db.require_engine().begin() as conn:
        journal.ensure_partitions(conn, now, ahead=ahead)


def placed() -> list[dict]:
    return rows(
        "SELECT tableoid::regclass::text AS partition, record_month, record_timestamp, source "
        "FROM object_events ORDER BY id"
    )


def eventbridge_at(key: str, sequencer: str, time: str) -> dict:
    event = eventbridge_event(key, sequencer=sequencer)
    event["time"] = time
    return event


@pytest.mark.usefixtures("s3")
@pytest.mark.parametrize(
    ("notification_time", "eventbridge_time", "partition"),
    [
        # The last 100 ms of November: S3 says .900, EventBridge (whole seconds) says 23:59:59.
        ("2026-11-30T23:59:59.900Z", "2026-11-30T23:59:59Z", "object_events_2026_11"),
        # The first second of December: .300 and 00:00:00 agree on the month too.
        ("2026-12-01T00:00:00.300Z", "2026-12-01T00:00:00Z", "object_events_2026_12"),
    ],
)
def test_one_event_by_two_paths_at_a_month_boundary_is_one_journal_row(
    notification_time, eventbridge_time, partition, lambda_context
):
    ensure(datetime(2026, 11, 15, tzinfo=UTC))
    sequencer = "0061A3F5C2B1D4E5F6"
    by_notification = s3_event(s3_record("edge.txt", sequencer=sequencer, event_time=notification_time))

    first = ingest(by_notification, lambda_context)
    second = ingest(eventbridge_at("edge.txt", sequencer, eventbridge_time), lambda_context)

    assert (first["journalled"], second["journalled"], second["duplicates"]) == (1, 0, 1)
    (row,) = placed()
    assert (row["partition"], row["source"]) == (partition, "s3")


def _record(key: str, when: datetime, sequencer: str = "0A") -> S3Record:
    return S3Record(
        bucket="b",
        key=key,
        event_name="ObjectCreated:Put",
        record_type="CREATE",
        event_time=when,
        sequencer=normalise_sequencer(sequencer, when),
        version_id=None,
        size=1,
        e_tag="e",
        request_id="R",
        source="s3",
    )


def _write(*records: S3Record) -> None:
    with unit_of_work() as session:
        catalog.record_events(session, list(records))


def test_late_and_early_events_land_in_the_default_partition_and_move_out_on_the_next_pass():
    now = datetime(2026, 11, 15, tzinfo=UTC)
    ensure(now)
    late = datetime(2019, 3, 31, 23, 59, 59, 999000, tzinfo=UTC)
    early = datetime(2031, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    _write(_record("late", late), _record("early", early), _record("now", now))
    assert [r["partition"] for r in placed()] == [
        journal.DEFAULT_PARTITION,
        journal.DEFAULT_PARTITION,
        "object_events_2026_11",
    ]

    with db.require_engine().begin() as conn:
        result = journal.maintain(conn, now, retention_days=None)

    assert (result.default_rows, result.moved_from_default) == (2, 2)
    assert {"object_events_2019_03", "object_events_2031_01"} <= set(result.partitions_created)
    assert sorted(r["partition"] for r in placed()) == [
        "object_events_2019_03",
        "object_events_2026_11",
        "object_events_2031_01",
    ]
    # A redelivery of the late event now meets its row in the new partition: still one row.
    _write(_record("late", late))
    assert len(placed()) == 3


def test_migrate_creates_this_month_and_the_months_ahead():
    with db.require_engine().connect() as conn:
        names = {p.name for p in journal.partitions(conn)}
    this_month = journal.month_start(datetime.now(UTC))
    for ahead in range(journal.MONTHS_AHEAD + 1):
        assert journal.partition_name(journal.add_months(this_month, ahead)) in names


def test_record_month_must_agree_with_record_timestamp():
    with pytest.raises(Exception, match="ck_object_events_record_month"), db.require_engine().begin() as c:
        c.execute(
            text(
                "INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, "
                "record_timestamp, source, record_month) VALUES ('b', 'k', '1', 'CREATE', 'x', "
                "'2026-11-30T23:59:59.9Z', 's3', '2026-12-01')"
            )
        )


def test_scheduled_pass_reports_the_default_partition_and_drops_expired_months(monkeypatch, capsys):
    now = datetime.now(UTC)
    old = journal.add_months(journal.month_start(now), -14)
    ensure(datetime.combine(old, datetime.min.time(), tzinfo=UTC), ahead=0)
    _write(_record("old", datetime.combine(old, datetime.min.time(), tzinfo=UTC) + timedelta(days=3)))
    stray_at = now + timedelta(days=3650)
    _write(_record("stray", stray_at))
    monkeypatch.setenv("JOURNAL_RETENTION_DAYS", "365")
    get_settings.cache_clear()
    try:
        uploads(load("eventbridge-scheduled.json"), None)
    finally:
        monkeypatch.delenv("JOURNAL_RETENTION_DAYS")
        get_settings.cache_clear()

    logged = capsys.readouterr().out
    assert '"JournalDefaultPartitionRows":[1.0]' in logged
    with db.require_engine().connect() as conn:
        names = {p.name for p in journal.partitions(conn)}
    assert journal.partition_name(old) not in names
    # The stray row is reported, then moved into a partition of its own month.
    assert placed()[0]["partition"] == journal.partition_name(journal.month_start(stray_at))
    assert [r["key"] for r in rows("SELECT key FROM object_events ORDER BY key")] == ["stray"]
    # The current state is never retention's business.
    assert [r["key"] for r in rows("SELECT key FROM objects ORDER BY key")] == ["old", "stray"]


def test_retention_drops_only_expired_partitions_while_ingestion_runs():
    now = datetime.now(UTC)
    this_month = journal.month_start(now)
    months = [journal.add_months(this_month, -n) for n in range(6, -1, -1)]
    ensure(datetime.combine(months[0], datetime.min.time(), tzinfo=UTC), ahead=6)
    for n, month in enumerate(months):
        start = datetime.combine(month, datetime.min.time(), tzinfo=UTC)
        _write(_record(f"history/{n}", start + timedelta(hours=1), sequencer=f"{n + 1:02X}"))
    retention_days = 100
    cutoff = now - timedelta(days=retention_days)

    stop, failures, written = threading.Event(), [], []

    def ingest_forever(worker: int) -> None:
        # One engine (one connection) per worker, as one Lambda execution environment has.
        engine = build_engine(get_settings())
        n = 0
        while not stop.is_set():
            try:
                with Session(engine) as session, session.begin():
                    live = _record(f"live/{worker}/{n}", datetime.now(UTC), sequencer=f"{n + 16:02X}")
                    catalog.record_events(session, [live])
                written.append(1)
            except Exception as error:  # pragma: no cover - reported by the assertion below
                failures.append(error)
            n += 1
        engine.dispose()

    workers = [threading.Thread(target=ingest_forever, args=(w,)) for w in range(2)]
    for worker in workers:
        worker.start()
    while len(written) < 5 and not failures:
        time.sleep(0.01)
    try:
        with db.require_engine().begin() as conn:
            result = journal.maintain(conn, now, retention_days)
    finally:
        stop.set()
        for worker in workers:
            worker.join()

    expired = [m for m in months if journal.add_months(m, 1) <= cutoff.date()]
    kept = [m for m in months if m not in expired]
    assert expired and kept
    assert sorted(result.partitions_dropped) == sorted(journal.partition_name(m) for m in expired)
    with db.require_engine().connect() as conn:
        names = {p.name for p in journal.partitions(conn)}
    assert all(journal.partition_name(m) in names for m in kept)
    assert not failures
    history = rows("SELECT record_month FROM object_events WHERE key LIKE 'history/%' ORDER BY 1")
    assert [r["record_month"] for r in history] == kept
    assert rows("SELECT count(*) AS n FROM object_events WHERE key LIKE 'live/%'") == [{"n": len(written)}]
    assert rows("SELECT count(*) AS n FROM objects WHERE key LIKE 'history/%'") == [{"n": len(months)}]


def test_month_arithmetic_crosses_years():
    assert journal.add_months(date(2026, 11, 1), 2) == date(2027, 1, 1)
    assert journal.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert journal.month_start(datetime(2026, 11, 30, 23, 59, 59, 900000, tzinfo=UTC)) == date(2026, 11, 1)


def test_the_functions_role_keeps_partitions_without_any_ddl_right_of_its_own():
    from sqlalchemy.exc import ProgrammingError

    from landing.db.roles import grant_application_role

    now = datetime.now(UTC)
    old = journal.add_months(journal.month_start(now), -20)
    ensure(datetime.combine(old, datetime.min.time(), tzinfo=UTC), ahead=0)
    _write(_record("old", datetime.combine(old, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)))
    _write(_record("stray", now + timedelta(days=4000)))
    with db.require_engine().begin() as conn:
        grant_application_role(conn, "landing_journal_app")

    with db.require_engine().begin() as conn:
        conn.execute(text("SET LOCAL ROLE landing_journal_app"))
        with pytest.raises(ProgrammingError, match="must be owner"), conn.begin_nested():
            conn.execute(text(f"DROP TABLE {journal.partition_name(old)}"))
        result = journal.maintain(conn, now, retention_days=400)

    assert journal.partition_name(old) in result.partitions_dropped
    assert result.moved_from_default == 1
    assert [r["partition"] for r in placed()] == [
        journal.partition_name(journal.month_start(now + timedelta(days=4000)))
    ]
