"""Faults injected while the soak runs, at random intervals: backends terminated, the database path
dropped, the path paused beyond the statement timeout, HeadObject throttled."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.support.pgcluster import Cluster
from tests.support.proxy import Proxy

KINDS = ("terminate", "drop", "pause", "throttle")


@dataclass(frozen=True)
class Fault:
    kind: str
    start: float
    end: float
    detail: str


@dataclass(frozen=True)
class FaultPlan:
    """Faults start at random intervals: a minimum gap plus an exponential extra. The minimum gap
    outlasts one fault and its victims' first retry (the visibility timeout, Lambda's retry delay), so
    every fault's cost is measured alone: the run compresses months of faults into minutes, and
    without the gap a message's every retry could land on another fault, which says something about
    the compression, not about the catalog."""

    first_s: float  # the first fault, once every worker is warm
    min_gap_s: float
    mean_extra_s: float
    count: int | None  # stop after this many (the smoke run: one of each kind); None: until the end
    pause_s: tuple[float, float]  # longer than the statement timeout (and sometimes the socket timeout)
    drop_s: tuple[float, float]
    throttle_s: tuple[float, float]


class Injector(threading.Thread):
    def __init__(
        self,
        plan: FaultPlan,
        cluster: Cluster,
        database: str,
        app_user: str,
        proxy: Proxy,
        throttle_until: Any,
        seed: int,
    ) -> None:
        super().__init__(name="soak-faults", daemon=True)
        self.plan = plan
        self.cluster = cluster
        self.database = database
        self.app_user = app_user
        self.proxy = proxy
        self.throttle_until = throttle_until
        self.rng = random.Random(seed)
        self.faults: list[Fault] = []
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        # Every kind comes round once in each cycle of four, in a random order: all of them are
        # exercised in a short run too.
        cycle: list[str] = []
        gap = self.plan.first_s
        while not self._halt.wait(gap):
            gap = self.plan.min_gap_s + self.rng.expovariate(1 / self.plan.mean_extra_s)
            if not cycle:
                cycle = list(KINDS)
                self.rng.shuffle(cycle)
            kind = cycle.pop()
            start = time.time()
            detail = getattr(self, f"_{kind}")()
            self.faults.append(Fault(kind, start, time.time(), detail))
            if self.plan.count is not None and len(self.faults) >= self.plan.count:
                return

    @property
    def done(self) -> bool:
        return self.plan.count is not None and len(self.faults) >= self.plan.count

    def _sleep(self, bounds: tuple[float, float]) -> float:
        seconds = self.rng.uniform(*bounds)
        self._halt.wait(seconds)
        return seconds

    def _terminate(self) -> str:
        killed = self.cluster.sql(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = :user AND datname = :db",
            self.database,
            user=self.app_user,
            db=self.database,
        )[0][0]
        return f"{killed} backends terminated"

    def _drop(self) -> str:
        # The path goes: every open link is reset and new connections are refused, then it comes back.
        self.proxy.refuse()
        self.proxy.cut()
        seconds = self._sleep(self.plan.drop_s)
        self.proxy.restore()
        return f"path down {seconds:.1f} s"

    def _pause(self) -> str:
        self.proxy.pause()
        seconds = self._sleep(self.plan.pause_s)
        self.proxy.resume()
        return f"path paused {seconds:.1f} s"

    def _throttle(self) -> str:
        seconds = self.rng.uniform(*self.plan.throttle_s)
        self.throttle_until.value = time.time() + seconds
        self._halt.wait(seconds)
        return f"HeadObject 503 SlowDown for {seconds:.1f} s"
