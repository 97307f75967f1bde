"""What the benchmark feeds the handler: S3 events, SQS batches, HeadObject answers, round-trip counting."""

from __future__ import annotations

import contextlib
import copy
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from tests.perf.environment import BUCKET

BODY = b"benchmark object body\n"
HEAD_ETAG = "4f8f3f4e34fcb0d1b2b4b3f4e1c4c1b1"  # what the botocore stub answers (any fixed value)


def s3_event(key: str, etag: str = HEAD_ETAG) -> dict[str, Any]:
    from tests.support.events import s3_record

    return {"Records": [s3_record(key, etag=etag, sequencer=f"{time.time_ns():020X}")]}


def delete_event(key: str) -> dict[str, Any]:
    """A direct S3 delete notification (unversioned bucket): no HeadObject, the journal row and the
    tombstone are the whole write."""
    from tests.support.events import s3_record

    record = s3_record(key, event_name="ObjectRemoved:Delete", sequencer=f"{time.time_ns():020X}")
    return {"Records": [record]}


def sqs_deletes(keys: list[str]) -> dict[str, Any]:
    from tests.support.events import sqs_event

    return sqs_event(*(delete_event(key) for key in keys))


def sqs_batch(keys: list[str], etag: str = HEAD_ETAG) -> dict[str, Any]:
    from tests.support.events import sqs_event

    return sqs_event(*(s3_event(key, etag) for key in keys))


def unique_key(prefix: str) -> str:
    return f"bench/{prefix}/{uuid.uuid4().hex}"


def context() -> Any:
    """A Lambda context for one invocation. Inputs are built when a round starts and a round can last
    tens of seconds, so each gets Lambda's longest timeout: an invocation must start with all of its
    time, or the unit of work shortens its statement timeout with an extra SET LOCAL round trip that
    no warm Lambda invocation pays."""
    from landing.lambda_context import local_context

    return local_context("IngestFunction", timeout_s=900)


def invocation(prefix: str) -> tuple[dict[str, Any], Any]:
    """A direct S3 event for a new key and a fresh Lambda context (each invocation has its own
    deadline, which bounds its statement timeouts)."""
    return s3_event(unique_key(prefix)), context()


def delete_invocation(prefix: str) -> tuple[dict[str, Any], Any]:
    """A direct S3 delete event for a new key and a fresh Lambda context."""
    return delete_event(unique_key(prefix)), context()


class HeadStub:
    """HeadObject answered at the product's own S3 client's before-call hook: parameter validation,
    endpoint resolution and serialisation run as usual; no HTTP request is built or parsed."""

    RESPONSE = {
        "ETag": f'"{HEAD_ETAG}"',
        "ContentType": "application/octet-stream",
        "ContentLength": len(BODY),
        "Metadata": {"origin": "benchmark"},
        "StorageClass": "STANDARD",
        "LastModified": datetime(2026, 11, 26, 10, 0, tzinfo=UTC),
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }

    def __init__(self) -> None:
        from botocore.awsrequest import AWSResponse

        from landing.s3 import clients

        self._http = AWSResponse("https://s3.amazonaws.com", 200, {}, None)
        self.client = clients.s3_client()
        self.client.meta.events.register("before-call.s3.HeadObject", self._answer)

    def _answer(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return self._http, copy.deepcopy(self.RESPONSE)


@contextlib.contextmanager
def s3_client(client: Any) -> Iterator[None]:
    """Make the product's HeadObject calls go through ``client`` (its cached client is swapped)."""
    from landing.s3 import head as enrich

    original = enrich.s3_client
    enrich.s3_client = lambda: client  # type: ignore[assignment]
    try:
        yield
    finally:
        enrich.s3_client = original  # type: ignore[assignment]


class MotoObjects:
    """moto in-process S3 with objects to HEAD; put outside any timing."""

    def __init__(self) -> None:
        import boto3

        self.client = boto3.client("s3", region_name="us-east-1")
        self.client.create_bucket(Bucket=BUCKET)
        answer = self.client.put_object(Bucket=BUCKET, Key="bench/etag-probe", Body=BODY)
        self.etag = answer["ETag"].strip('"')

    def put(self, keys: list[str]) -> None:
        for key in keys:
            self.client.put_object(Bucket=BUCKET, Key=key, Body=BODY, Metadata={"origin": "benchmark"})


def head_of(event: dict[str, Any]) -> Any:
    """The product's HeadObject call for the event's one object."""
    from landing.s3 import head as enrich

    obj = event["Records"][0]["s3"]["object"]
    return enrich.head(BUCKET, obj["key"], None, obj.get("eTag"))


class RoundTrips:
    """Counts pg8000 message exchanges that wait for ReadyForQuery (one per round trip)."""

    def __init__(self) -> None:
        from pg8000.core import CoreConnection

        self.count = 0
        self._class = CoreConnection
        self._original = CoreConnection.handle_messages

    def __enter__(self) -> RoundTrips:
        original = self._original
        counter = self

        def counting(connection: Any, context: Any) -> Any:
            counter.count += 1
            return original(connection, context)

        self._class.handle_messages = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._class.handle_messages = self._original  # type: ignore[method-assign]


def round_trips(run: Callable[[Any], Any], make: Callable[[int], Any], calls: int = 20) -> float:
    inputs = [make(-10_000 - i) for i in range(calls)]
    with RoundTrips() as counter:
        for item in inputs:
            run(item)
    return counter.count / calls
