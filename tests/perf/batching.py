"""SQS batches: per-record cost against the single-event path and against a raw pg8000 batch floor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.perf import floors
from tests.perf.environment import raw_connection
from tests.perf.report import Results
from tests.perf.timing import Case, Sizes, interleave, quiet_stdout, ratio, spread, us
from tests.perf.workload import (
    HEAD_ETAG,
    HeadStub,
    MotoObjects,
    context,
    delete_event,
    head_of,
    round_trips,
    s3_client,
    s3_event,
    sqs_batch,
    sqs_deletes,
    unique_key,
)


def batch(results: Results, url: str, sizes: Sizes, stub: HeadStub, moto: MotoObjects) -> None:
    """(4) SQS batch of 100 one-record messages: per-record cost against the single-event path
    (creates, HeadObject stubbed or answered by moto) and against the raw batch floor (deletes)."""
    size = sizes.batch_size
    from landing.handlers import ingest as ingest_handler

    def run(item: tuple[dict[str, Any], Any]) -> None:
        response = ingest_handler.handler(*item)
        assert not response.get("batchItemFailures"), response

    def batch_input(prefix: str, etag: str, put: bool) -> Callable[[int], tuple[dict[str, Any], Any]]:
        def make(i: int) -> tuple[dict[str, Any], Any]:
            keys = [unique_key(prefix) for _ in range(size)]
            if put:
                moto.put(keys)
            return sqs_batch(keys, etag), context()

        return make

    def single_input(prefix: str, etag: str, put: bool) -> Callable[[int], tuple[dict[str, Any], Any]]:
        def make(i: int) -> tuple[dict[str, Any], Any]:
            key = unique_key(prefix)
            if put:
                moto.put([key])
            return s3_event(key, etag), context()

        return make

    raw = raw_connection(url)
    prepared = raw.prepare(floors.FLOOR_DELETE_BATCH)

    def floor_input(i: int) -> dict[str, Any]:
        return floors.delete_batch_params([delete_event(unique_key("batch-floor")) for _ in range(size)])

    def deletes_input(i: int) -> tuple[dict[str, Any], Any]:
        return sqs_deletes([unique_key("batch-deletes") for _ in range(size)]), context()

    goal_cases = {
        "floor": Case(floor_input, lambda p: prepared.run(**p), calls=sizes.batch_per_round),
        "batch": Case(deletes_input, run, calls=sizes.batch_per_round),
    }
    with s3_client(stub.client), quiet_stdout():
        series = interleave(goal_cases, sizes, warmup=2)
        trips = round_trips(run, deletes_input, calls=3)
    raw.close()
    handler, floor = series["batch"], series["floor"]
    reference = (
        f"floor: raw pg8000, {size} journal rows + guarded tombstone upserts in one statement "
        "prepared once, autocommit"
    )
    wall = ratio(handler, floor)
    results.row(
        f"SQS batch of {size} deletes, per record, wall against the floor",
        spread(handler, scale=1 / size),
        f"{reference}: {spread(floor, scale=1 / size)}",
        str(wall),
        "≤ 2.0x",
        wall.median <= 2.0,
    )
    cpu = ratio(handler, floor, cpu=True)
    results.row(
        f"SQS batch of {size} deletes, per record, client CPU against the floor",
        spread(handler, scale=1 / size, cpu=True),
        f"floor: {spread(floor, scale=1 / size, cpu=True)}; {trips:.0f} round trip(s) per batch",
        str(cpu),
        "≤ 2.5x",
        cpu.median <= 2.5,
    )
    results.measured.update(
        batch_size=size,
        batch_wall=handler.median / size,
        batch_cpu=handler.cpu / size,
        batch_round_trips=trips,
    )

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
        if goal:
            results.measured.update(create_batch_cpu=series["batch"].cpu / size)
