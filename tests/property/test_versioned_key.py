"""One versioned key, property-based: random puts, delete markers and version deletes against moto,
their events (hand-built in AWS's shape) delivered shuffled and duplicated, directly and through
SQS, some while the operations still go on; at the end `objects` says what HeadObject says, and a
reconcile run afterwards changes nothing."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landing.handlers.ingest import handler
from landing.reconcile import run as reconcile_run
from tests.conftest import rows
from tests.support.events import s3_event, s3_record, sqs_event

KEY = "model/key one.txt"
ENCODED_KEY = "model/key+one.txt"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_buckets = itertools.count()

# put (body length), delete marker, remove the n-th version still listed (objects and markers
# alike), or deliver part of what is pending (so HeadObject sometimes sees an intermediate state).
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.integers(1, 30)),
        st.tuples(st.just("marker"), st.just(0)),
        st.tuples(st.just("remove"), st.integers(0, 7)),
        st.tuples(st.just("deliver"), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=10,
)


def versions(s3: Any, bucket: str) -> list[str]:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=KEY)
    found = [*listed.get("Versions", ()), *listed.get("DeleteMarkers", ())]
    return sorted(str(v["VersionId"]) for v in found)


def event(bucket: str, n: int, name: str, version: str | None, **fields: Any) -> dict[str, Any]:
    """Record number n: sequencer and time grow with n, as S3's do for one key."""
    return s3_record(
        ENCODED_KEY,
        bucket=bucket,
        event_name=name,
        sequencer=f"{n:018X}",
        version_id=version,
        event_time=(T0 + timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
        request_id=f"REQ{n}",
        **fields,
    )


def deliver(batch: list[dict[str, Any]], via_sqs: bool, context: Any) -> None:
    if via_sqs:
        result = handler(sqs_event(*(s3_event(e) for e in batch)), context)
        assert result == {"batchItemFailures": []}
    else:
        handler(s3_event(*batch), context)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations, st.data())
def test_the_row_converges_on_what_head_object_says(s3, clean_db, lambda_context, ops, data):
    bucket = f"versioned-{next(_buckets)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    pending: list[dict[str, Any]] = []
    sequence = itertools.count(1)

    def flush(count: int) -> None:
        # Each pending event is delivered 1-2 times, in a shuffled order, in batches of 1-3.
        copies = [e for e in pending for _ in range(data.draw(st.integers(1, 2)))]
        order = data.draw(st.permutations(copies))
        for start in range(0, len(order), count):
            deliver(order[start : start + count], data.draw(st.booleans()), lambda_context)
        pending.clear()

    for op, arg in ops:
        if op == "put":
            answer = s3.put_object(Bucket=bucket, Key=KEY, Body=b"x" * arg)
            pending.append(
                event(
                    bucket,
                    next(sequence),
                    "ObjectCreated:Put",
                    answer["VersionId"],
                    size=arg,
                    etag=answer["ETag"].strip('"'),
                )
            )
        elif op == "marker":
            marker = s3.delete_object(Bucket=bucket, Key=KEY).get("VersionId")
            if marker is None:
                continue  # moto creates no marker for a key it never held (S3 would)
            name = data.draw(
                st.sampled_from(
                    ["ObjectRemoved:DeleteMarkerCreated", "LifecycleExpiration:DeleteMarkerCreated"]
                )
            )
            pending.append(event(bucket, next(sequence), name, marker))
        elif op == "remove":
            listed = versions(s3, bucket)
            if not listed:
                continue
            version = listed[arg % len(listed)]
            s3.delete_object(Bucket=bucket, Key=KEY, VersionId=version)
            name = data.draw(st.sampled_from(["ObjectRemoved:Delete", "LifecycleExpiration:Delete"]))
            pending.append(event(bucket, next(sequence), name, version))
        elif pending and arg:
            flush(arg)
    if pending:
        flush(data.draw(st.integers(1, 3)))

    found = rows("SELECT * FROM objects WHERE bucket = :bucket", bucket=bucket)
    if next(sequence) == 1:
        assert found == []  # nothing happened to the key
        return
    (row,) = found
    try:
        head = s3.head_object(Bucket=bucket, Key=KEY)
    except s3.exceptions.ClientError:
        assert row["is_deleted"] is True
    else:
        assert row["is_deleted"] is False
        assert (row["version_id"], row["e_tag"], row["size"]) == (
            head["VersionId"],
            head["ETag"].strip('"'),
            head["ContentLength"],
        )

    outcome = reconcile_run.run(bucket)
    assert (outcome.totals.inserted, outcome.totals.updated, outcome.totals.deleted) == (0, 0, 0)
    assert rows("SELECT * FROM objects WHERE bucket = :bucket", bucket=bucket) == found
