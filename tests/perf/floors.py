"""The references the handler is measured against: raw pg8000 floors, the naive handler, an engine per call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.perf.workload import HeadStub

FLOOR_JOURNAL = """
INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, record_timestamp,
                           version_id, size, e_tag, request_id, source, record_month)
VALUES (:bucket, :key, :seq, 'CREATE', :event_name, :event_time, :version_id, :size, :e_tag,
        :request_id, 's3', date_trunc('month', CAST(:event_time AS timestamptz) AT TIME ZONE 'UTC')::date)
ON CONFLICT ON CONSTRAINT uq_object_events_identity DO NOTHING RETURNING 1"""

FLOOR_OBJECT = """
INSERT INTO objects (bucket, key, version_id, sequence_number, size, e_tag, content_type, storage_class,
                     user_metadata, checksum_algorithm, last_modified_date, is_deleted, deleted_at)
VALUES (:bucket, :key, :version_id, :seq, :size, :e_tag, :content_type, 'STANDARD',
        CAST(:user_metadata AS jsonb), NULL, :last_modified, false, NULL)
ON CONFLICT (bucket, key) DO UPDATE SET
    version_id = excluded.version_id, sequence_number = excluded.sequence_number,
    size = excluded.size, e_tag = excluded.e_tag, content_type = excluded.content_type,
    storage_class = excluded.storage_class, user_metadata = excluded.user_metadata,
    checksum_algorithm = excluded.checksum_algorithm,
    last_modified_date = excluded.last_modified_date, is_deleted = excluded.is_deleted,
    deleted_at = excluded.deleted_at, updated_at = now()
WHERE (objects.sequence_number, objects.is_deleted) < (excluded.sequence_number, excluded.is_deleted)"""

FLOOR_BOTH = f"""
WITH journalled AS ({FLOOR_JOURNAL}), applied AS ({FLOOR_OBJECT} RETURNING 1)
SELECT (SELECT count(*) FROM journalled), (SELECT count(*) FROM applied)"""


def floor_params(event: dict[str, Any]) -> dict[str, Any]:
    """The values the handler writes for this event (parsing and the HEAD answer done beforehand)."""
    from landing.s3 import notifications

    (record,) = notifications.from_s3_notification(event, source="s3").records
    head = HeadStub.RESPONSE
    return {
        "bucket": record.bucket,
        "key": record.key,
        "seq": record.sequencer,
        "event_name": record.event_name,
        "event_time": record.event_time,
        "version_id": record.version_id,
        "size": record.size,
        "e_tag": record.e_tag,
        "request_id": record.request_id,
        "content_type": head["ContentType"],
        "user_metadata": json.dumps(head["Metadata"]),
        "last_modified": head["LastModified"],
    }


def naive_handler(url: str) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The same handler work with the data layer the usual samples write: stock pg8000 through
    SQLAlchemy, pre-ping on every checkout, a journal insert and an objects upsert as separate
    statements built per call, one Session per invocation."""
    from sqlalchemy import create_engine, func, tuple_
    from sqlalchemy.dialects.postgresql import insert
    from sqlalchemy.orm import Session

    from landing.db.journal import month_start
    from landing.ingest import batch as ingest_batch
    from landing.ingest import catalog, rows
    from landing.ingest import service as ingest
    from landing.observability import logger, metrics
    from landing.s3 import notifications

    engine = create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)

    @metrics.log_metrics
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        parsed = notifications.from_s3_notification(event, source="s3")
        heads = ingest.enrich_records(parsed.records)
        journalled = applied = 0
        with Session(engine) as session:
            for record in parsed.records:
                head = heads.get(record.identity)
                month = month_start(record.event_time)
                journal = insert(catalog.object_events).values(
                    {**catalog._journal_row(record, None), "record_month": month}
                )
                journal = journal.on_conflict_do_nothing(constraint="uq_object_events_identity")
                journalled += session.execute(journal).rowcount  # type: ignore[attr-defined]
                row = catalog._object_row(record, head if not isinstance(head, Exception) else None)
                upsert = insert(rows.objects).values(row)
                upsert = upsert.on_conflict_do_update(
                    index_elements=["bucket", "key"],
                    set_={
                        **{c: upsert.excluded[c] for c in catalog.DECIDED_COLUMNS},
                        "updated_at": func.now(),
                    },
                    where=tuple_(rows.objects.c.sequence_number, rows.objects.c.is_deleted)
                    < tuple_(upsert.excluded.sequence_number, upsert.excluded.is_deleted),
                )
                applied += session.execute(upsert).rowcount  # type: ignore[attr-defined]
            session.commit()
        ingest_batch._count(catalog.WriteResult(len(parsed.records), journalled, applied), parsed.skipped)
        logger.info("recorded events", extra={"journalled": journalled, "applied": applied})
        return {"journalled": journalled, "applied": applied}

    handler.engine = engine  # type: ignore[attr-defined]
    return handler


def engine_per_invocation(handler: Callable[..., Any]) -> Callable[[dict[str, Any], Any], Any]:
    """Our handler, but with an engine built inside the invocation and disposed after it."""
    from landing.db import engine as db
    from landing.settings import get_settings

    def run(event: dict[str, Any], context: Any) -> Any:
        engine = db.build_engine(get_settings())
        db.Session.configure(bind=engine)
        try:
            return handler(event, context)
        finally:
            db.Session.configure(bind=db.engine)
            engine.dispose()

    return run


# The issue-17 floor: the physical minimum for a delete event. One statement prepared once,
# autocommit (one round trip, one WAL flush), writing the journal row and the guarded tombstone
# upsert the handler writes for it.
FLOOR_DELETE = """
WITH journalled AS (
    INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, record_timestamp,
                               version_id, size, e_tag, request_id, source, record_month)
    VALUES (:bucket, :key, :seq, 'DELETE', :event_name, :event_time, NULL, NULL, NULL, :request_id, 's3',
            date_trunc('month', CAST(:event_time AS timestamptz) AT TIME ZONE 'UTC')::date)
    ON CONFLICT ON CONSTRAINT uq_object_events_identity DO NOTHING RETURNING 1),
applied AS (
    INSERT INTO objects (bucket, key, version_id, sequence_number, size, e_tag, content_type,
                         storage_class, user_metadata, checksum_algorithm, last_modified_date,
                         is_deleted, deleted_at)
    VALUES (:bucket, :key, NULL, :seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, :event_time)
    ON CONFLICT (bucket, key) DO UPDATE SET
        version_id = excluded.version_id, sequence_number = excluded.sequence_number,
        size = excluded.size, e_tag = excluded.e_tag, content_type = excluded.content_type,
        storage_class = excluded.storage_class, user_metadata = excluded.user_metadata,
        checksum_algorithm = excluded.checksum_algorithm,
        last_modified_date = excluded.last_modified_date, is_deleted = excluded.is_deleted,
        deleted_at = excluded.deleted_at, updated_at = now()
    WHERE (objects.sequence_number, objects.is_deleted) < (excluded.sequence_number, excluded.is_deleted)
    RETURNING 1)
SELECT (SELECT count(*) FROM journalled), (SELECT count(*) FROM applied)"""

# The same for a batch: every record in one prepared statement (one array per column), autocommit.
FLOOR_DELETE_BATCH = """
WITH events AS (
    SELECT * FROM unnest(CAST(:buckets AS text[]), CAST(:keys AS text[]), CAST(:seqs AS text[]),
                         CAST(:names AS text[]), CAST(:times AS timestamptz[]),
                         CAST(:requests AS text[]))
        AS e(bucket, key, seq, event_name, event_time, request_id)),
journalled AS (
    INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, record_timestamp,
                               version_id, size, e_tag, request_id, source, record_month)
    SELECT bucket, key, seq, 'DELETE', event_name, event_time, NULL, NULL, NULL, request_id, 's3',
           date_trunc('month', event_time AT TIME ZONE 'UTC')::date
    FROM events
    ON CONFLICT ON CONSTRAINT uq_object_events_identity DO NOTHING RETURNING 1),
applied AS (
    INSERT INTO objects (bucket, key, version_id, sequence_number, size, e_tag, content_type,
                         storage_class, user_metadata, checksum_algorithm, last_modified_date,
                         is_deleted, deleted_at)
    SELECT bucket, key, NULL, seq, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true, event_time FROM events
    ON CONFLICT (bucket, key) DO UPDATE SET
        version_id = excluded.version_id, sequence_number = excluded.sequence_number,
        size = excluded.size, e_tag = excluded.e_tag, content_type = excluded.content_type,
        storage_class = excluded.storage_class, user_metadata = excluded.user_metadata,
        checksum_algorithm = excluded.checksum_algorithm,
        last_modified_date = excluded.last_modified_date, is_deleted = excluded.is_deleted,
        deleted_at = excluded.deleted_at, updated_at = now()
    WHERE (objects.sequence_number, objects.is_deleted) < (excluded.sequence_number, excluded.is_deleted)
    RETURNING 1)
SELECT (SELECT count(*) FROM journalled), (SELECT count(*) FROM applied)"""


def delete_params(event: dict[str, Any], source: str = "s3") -> dict[str, Any]:
    """The values the handler writes for a delete event (parsed beforehand, as the floor's caller
    would have them)."""
    from landing.s3 import notifications

    (record,) = notifications.from_s3_notification(event, source=source).records  # type: ignore[arg-type]
    return {
        "bucket": record.bucket,
        "key": record.key,
        "seq": record.sequencer,
        "event_name": record.event_name,
        "event_time": record.event_time,
        "request_id": record.request_id,
    }


def delete_batch_params(events: list[dict[str, Any]]) -> dict[str, Any]:
    rows = sorted((delete_params(event, "sqs") for event in events), key=lambda r: (r["bucket"], r["key"]))
    return {
        "buckets": [r["bucket"] for r in rows],
        "keys": [r["key"] for r in rows],
        "seqs": [r["seq"] for r in rows],
        "names": [r["event_name"] for r in rows],
        "times": [r["event_time"] for r in rows],
        "requests": [r["request_id"] for r in rows],
    }
