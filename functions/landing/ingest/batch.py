"""The ingest strategy for one invocation: enrich outside any transaction, write in one statement.

Why not Powertools' BatchProcessor: it hands records to a function one at a time, so each message
would cost its own statement (and transaction). Here every good message of an SQS batch is written
by one statement in one transaction; only when the database blames the data is the batch redone with
one savepoint per message, so exactly the culprits are reported as batchItemFailures.
"""

from __future__ import annotations

from typing import Any

from landing import errors
from landing.db.uow import Work, session_scope, unit_of_work
from landing.ingest import service
from landing.ingest.catalog import WriteResult
from landing.observability import add_counts, logger
from landing.s3 import deliveries, notifications
from landing.s3.fields import InvalidEvent


def _log_failure(message: str, error: BaseException, **context: Any) -> None:
    """One log line per failure, classified (retryable or not, SQLSTATE), without SQL or parameters;
    only an unclassified error (a bug) carries its traceback."""
    classified = errors.classify(error)
    fields = {**context, **classified.log_fields()}
    if classified.category == "unexpected":
        logger.exception(message, extra=fields)
    else:
        logger.error(message, extra=fields)


def _count(result: WriteResult, skipped: int = 0, failed: int = 0) -> None:
    add_counts(
        RecordsWritten=result.journalled,
        DuplicatesAbsorbed=result.duplicates,
        StaleEventsIgnored=result.stale,
        **({"EventsSkipped": skipped} if skipped else {}),
        **({"Failures": failed} if failed else {}),
    )


def _summary(result: WriteResult, skipped: int) -> dict[str, Any]:
    return {
        "records": result.received,
        "journalled": result.journalled,
        "applied": result.applied,
        "duplicates": result.duplicates,
        "stale": result.stale,
        "skipped": skipped,
    }


def direct(parsed: notifications.Parsed, context: Any) -> dict[str, Any]:
    """Direct S3 / EventBridge: one unit of work, all or nothing; raising makes Lambda retry."""
    heads = service.enrich_records(parsed.records)
    failure = service.first_failure(parsed.records, heads)
    if failure is not None:
        add_counts(Failures=1)
        _log_failure(
            "HeadObject failed, the invocation will be retried", failure, records=len(parsed.records)
        )
        raise failure
    try:
        # Outside the upload prefix the write is the only statement: BEGIN, it and COMMIT travel
        # together, one round trip per invocation.
        one_statement = service.is_one_statement(parsed.records, parsed.scans)
        with unit_of_work(context, one_statement=one_statement) as session:
            result = service.apply(session, parsed.records, heads, parsed.scans)
    except errors.DATABASE_ERRORS as error:
        add_counts(Failures=1)
        _log_failure(
            "database write failed, the invocation will be retried", error, records=len(parsed.records)
        )
        raise
    _count(result, parsed.skipped)
    # A plain success writes only its metrics line at the deployed level (INFO): the summary is
    # DEBUG, for whoever turns that on to follow single invocations. Failures are logged above.
    logger.debug("recorded events", extra=_summary(result, parsed.skipped))
    return _summary(result, parsed.skipped)


def _parse_messages(event: dict[str, Any]) -> tuple[dict[str, notifications.Parsed], list[str]]:
    parsed: dict[str, notifications.Parsed] = {}
    failed: list[str] = []
    for message_id, body in deliveries.sqs_messages(event):
        try:
            parsed[message_id] = deliveries.from_sqs_body(body)
        except InvalidEvent as error:
            logger.warning("unusable SQS message", extra={"message_id": message_id, "error": str(error)})
            failed.append(message_id)
    return parsed, failed


def sqs_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch: one session; failed messages are reported, the rest commit.

    Fast path: every good message's records in one statement. If that statement fails on data,
    the transaction is redone with one savepoint per message so only the culprits are reported.
    """
    parsed, failed = _parse_messages(event)
    records = [r for p in parsed.values() for r in p.records]
    heads = service.enrich_records(records)
    good: dict[str, notifications.Parsed] = {}
    for message_id, message in parsed.items():
        failure = service.first_failure(message.records, heads)
        if failure is None:
            good[message_id] = message
        else:
            logger.warning(
                "HeadObject failed, message will be retried",
                extra={"message_id": message_id, **errors.classify(failure).log_fields()},
            )
            failed.append(message_id)
    good_records = [r for message in good.values() for r in message.records]
    good_scans = [scan for message in good.values() for scan in message.scans]
    result = WriteResult(0, 0, 0)
    with session_scope(context) as work:
        try:
            # One statement for the whole batch outside the upload prefix: one round trip.
            with work.transaction(
                one_statement=service.is_one_statement(good_records, good_scans)
            ) as session:
                result = service.apply(session, good_records, heads, good_scans)
        except errors.DATABASE_ERRORS as error:
            if errors.is_record_error(error):
                logger.warning(
                    "batch write failed on data, retrying per message",
                    extra=errors.classify(error).log_fields(),
                )
                result = _per_message(work, good, heads, failed)
            else:
                _log_failure("batch write failed, every message will be retried", error, messages=len(good))
                failed.extend(good)
    skipped = sum(p.skipped for p in parsed.values())
    _count(result, skipped, len(failed))
    summary = {**_summary(result, skipped), "failed_messages": len(failed)}
    if failed:
        # Each failed message was logged with its reason; this says what the rest of the batch did.
        logger.info("recorded batch, some messages failed", extra=summary)
    else:
        logger.debug("recorded batch", extra=summary)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _per_message(
    work: Work,
    good: dict[str, notifications.Parsed],
    heads: dict[Any, Any],
    failed: list[str],
) -> WriteResult:
    received = journalled = applied = 0
    try:
        with work.transaction() as session:
            for message_id, message in good.items():
                try:
                    with session.begin_nested():
                        result = service.apply(session, message.records, heads, message.scans)
                except errors.DATABASE_ERRORS as error:
                    if not errors.is_record_error(error):
                        raise
                    logger.warning(
                        "message rejected by the database",
                        extra={"message_id": message_id, **errors.classify(error).log_fields()},
                    )
                    failed.append(message_id)
                    continue
                received += result.received
                journalled += result.journalled
                applied += result.applied
    except errors.DATABASE_ERRORS as error:
        _log_failure("per-message retry failed, every message will be retried", error)
        failed.extend(message_id for message_id in good if message_id not in failed)
        return WriteResult(0, 0, 0)
    return WriteResult(received, journalled, applied)
