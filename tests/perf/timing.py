"""Interleaved timing: wall and client CPU per call, per round, and ratios taken round by round."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class Series:
    """Per-call wall times and client CPU times (seconds) of one case, kept per round so ratios can
    be taken round by round. CPU is ``time.process_time``: this process only, every thread, no
    waiting (the database server's work is not in it)."""

    rounds: list[list[float]] = field(default_factory=list)
    cpu_rounds: list[list[float]] = field(default_factory=list)

    def all(self, cpu: bool = False) -> list[float]:
        return [t for r in (self.cpu_rounds if cpu else self.rounds) for t in r]

    @property
    def median(self) -> float:
        return statistics.median(self.all())

    @property
    def cpu(self) -> float:
        """Median client CPU per call."""
        return statistics.median(self.all(cpu=True))

    def percentile(self, q: float, cpu: bool = False) -> float:
        values = sorted(self.all(cpu))
        return values[min(len(values) - 1, int(q * len(values)))]


@dataclass(frozen=True)
class Ratio:
    median: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.median:.2f}x ({self.low:.2f}-{self.high:.2f})"


def ratio(numerator: Series, denominator: Series, scale: float = 1.0, cpu: bool = False) -> Ratio:
    """Median of the per-round ratios of medians, with the lowest and highest round."""
    pick = (lambda s: s.cpu_rounds) if cpu else (lambda s: s.rounds)
    per_round = [
        scale * statistics.median(n) / statistics.median(d)
        for n, d in zip(pick(numerator), pick(denominator), strict=True)
    ]
    return Ratio(statistics.median(per_round), min(per_round), max(per_round))


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def spread(series: Series, scale: float = 1.0, cpu: bool = False) -> str:
    median = series.cpu if cpu else series.median
    return (
        f"{us(median * scale)} "
        f"(p10 {us(series.percentile(0.1, cpu) * scale)}, p90 {us(series.percentile(0.9, cpu) * scale)})"
    )


def both(series: Series, scale: float = 1.0) -> str:
    """Wall and CPU medians of a case, for the tables: "1,020 µs wall, 410 µs CPU"."""
    return f"{us(series.median * scale)} wall, {us(series.cpu * scale)} CPU"


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
    wall, cpu = time.perf_counter, time.process_time
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
        cpu_times: dict[str, list[float]] = {name: [] for name in names}
        for _, _, name, j in schedule:
            run, item = cases[name].run, inputs[name][j]
            start, start_cpu = wall(), cpu()
            run(item)
            end_cpu, end = cpu(), wall()
            times[name].append(end - start)
            cpu_times[name].append(end_cpu - start_cpu)
        for name in names:
            series[name].rounds.append(times[name])
            series[name].cpu_rounds.append(cpu_times[name])
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
