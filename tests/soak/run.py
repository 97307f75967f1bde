"""`make soak`: a long run of S3 events through the real ingest handler, faults injected while it runs,
checked against a model of what S3 holds at the end. Prints one final line; details in a JSON report.

    python -m tests.soak.run                      1,000,000 events, 4 workers, faults every ~20 s
    python -m tests.soak.run --events 3000 --smoke   the few-second version `make test` runs

A private PostgreSQL cluster (fsync off, like the fault tests'), a TCP proxy in front of it, and
worker processes forked before anything imports the product: each imports
landing.handlers.ingest.handler and so builds its own module-level engine, through the proxy.
The broker (this process) plays S3, SQS with its dead-letter queue and Lambda's event source mapping
and asynchronous invocation; HeadObject is answered inside each worker's real botocore client from
the same history (tests/soak/s3stub.py).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from array import array
from collections import Counter
from dataclasses import asdict
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from tests.soak import check, worker
from tests.soak import scenario as history
from tests.soak.faults import FaultPlan, Injector
from tests.soak.scenario import DIRECT_EB, DIRECT_S3, Mix, Scenario
from tests.soak.sqs import AsyncInvokes, Queue
from tests.support.pgcluster import Cluster
from tests.support.proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "landing"
APP_USER = "ingest"
APP_PASSWORD = "soak-ingest-pw"
SUPERUSER_PASSWORD = "soak-superuser-pw"
# The template's defaults (IngestBatchSize, IngestMaxReceiveCount); the queue's visibility timeout
# (210 s) and Lambda's async retry delays (about 1 and 2 minutes) are scaled down so that retries
# happen within the run, still longer than the 15 s an invocation is bounded by.
BATCH_SIZE = 100
# Full run: the product's own time bounds (statement timeout 5 s, socket timeout 8 s): a pause lasts
# longer than the statement timeout, mostly longer than the socket timeout too. The visibility
# timeout outlasts the slowest failing invocation (a reconnect after a socket timeout, about 16 s).
FULL = {
    "visibility_timeout": 30.0,
    "retry_delays": (10.0, 20.0),
    "max_receive_count": 5,
    "env": {},
    "faults": FaultPlan(
        first_s=20.0,
        min_gap_s=45.0,
        mean_extra_s=15.0,
        count=None,
        pause_s=(6.0, 10.0),
        drop_s=(0.5, 3.0),
        throttle_s=(1.0, 5.0),
    ),
}
# Smoke run (make test): one fault of each kind, with the product's bounds turned down (statement
# timeout 1 s, socket timeout 2 s) so that a pause beyond them costs seconds, not tens of seconds.
SMOKE = {
    "visibility_timeout": 5.0,
    "retry_delays": (1.0, 2.0),
    "max_receive_count": 5,
    "env": {
        "DATABASE_STATEMENT_TIMEOUT_MS": "1000",
        "DATABASE_MIN_STATEMENT_TIMEOUT_MS": "1000",
        "DATABASE_SOCKET_TIMEOUT": "2",
    },
    "faults": FaultPlan(
        first_s=5.0,
        min_gap_s=8.0,
        mean_extra_s=1.0,
        count=4,
        pause_s=(2.5, 3.0),
        drop_s=(0.3, 1.0),
        throttle_s=(0.5, 1.5),
    ),
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.soak.run", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=int(os.environ.get("EVENTS") or 1_000_000))
    p.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS") or 4))
    p.add_argument("--seed", type=int, default=28)
    p.add_argument("--smoke", action="store_true", help="short timeouts and frequent faults (make test)")
    p.add_argument("--no-faults", action="store_true")
    p.add_argument("--report", type=Path, default=ROOT / ".local" / "soak" / "report.json")
    return p.parse_args(argv)


class Broker:
    """S3's notifications, the queue, the event source mapping and async invocation, in one loop."""

    def __init__(
        self,
        s: Scenario,
        plan: list[history.Delivery],
        workers: dict[Connection, int],
        clock: Any,
        visibility_timeout: float,
        retry_delays: tuple[float, ...],
        max_receive_count: int,
    ) -> None:
        self.s = s
        self.plan = plan
        self.workers = workers
        self.clock = clock
        self.queue = Queue(visibility_timeout, max_receive_count)
        self.invokes = AsyncInvokes(retry_delays)
        # Enough in flight to keep every worker's batches full, not the whole run queued at once.
        self.cap = len(workers) * BATCH_SIZE * 2
        self.first_sent = array("d", bytes(8 * s.events))
        self.acked = array("d", bytes(8 * s.events))
        self.failures: list[tuple[float, str, int, str | None]] = []  # (when, path, messages, error)
        self.invocations = Counter[str]()
        self.stats: dict[int, dict[str, Any]] = {}
        self.started = 0.0
        self.finished = 0.0

    def _produce(self, now: float) -> None:
        budget = len(self.plan)
        if self.pace:  # deliveries spread evenly over ``pace`` seconds
            budget = int((now - self.started) / self.pace * len(self.plan)) + 1
        while (
            self.sent < min(budget, len(self.plan))
            and self.queue.outstanding + self.invokes.outstanding < self.cap
        ):
            d = self.plan[self.sent]
            self.sent += 1
            if d.op >= 0:
                self.clock.value = max(self.clock.value, min(int(d.slot), self.s.events - 1))
                body = self.s.payload(d.op, d.path)
                if not self.first_sent[d.op]:
                    self.first_sent[d.op] = now
            else:
                body = d.poison or ""
            if d.path in (DIRECT_S3, DIRECT_EB):
                self.invokes.submit(body, d.op, now)
            else:
                self.queue.send(body, d.op, now)
        if self.sent == len(self.plan):
            self.clock.value = self.s.events - 1

    def _work(self, now: float) -> tuple[Any, ...]:
        invocation = self.invokes.take(now)
        if invocation is not None:
            self.invocations["direct"] += 1
            return ("direct", invocation.id, invocation.payload)
        batch = self.queue.receive(now, BATCH_SIZE)
        if batch:
            self.invocations["sqs"] += 1
            return ("sqs", batch)
        if self._drained():
            return ("stop",)
        waits = [w for w in (self.queue.next_visible_in(now), self.invokes.next_due_in(now)) if w is not None]
        return ("wait", min([0.02, *waits]))

    def _progress(self, now: float) -> None:
        """A line on stderr now and then: a full run takes tens of minutes."""
        done = sum(1 for t in self.acked if t)
        elapsed = now - self.started
        print(
            f"soak: {elapsed:,.0f} s, {done:,} of {self.s.events:,} events have their row "
            f"({done / elapsed:,.0f}/s), {self.sent:,} of {len(self.plan):,} deliveries sent, "
            f"{len(self.failures)} failed invocations, {len(self.queue.dead_letters)} dead letters",
            file=sys.stderr,
            flush=True,
        )

    def _drained(self) -> bool:
        return (
            self.sent == len(self.plan)
            and not self.queue.outstanding
            and not self.invokes.outstanding
            and not self.keep_going()
        )

    def _ack(self, op: int, when: float) -> None:
        if op >= 0 and not self.acked[op]:
            self.acked[op] = when

    def _result(self, result: dict[str, Any]) -> None:
        when = result["finished"]
        if result["kind"] == "sqs":
            failed = set(result["failed"])
            for receipt in result["receipts"]:
                message_id = receipt.partition("#")[0]
                if message_id in failed:
                    continue
                message = self.queue.delete(receipt)
                if message is not None:
                    self._ack(message.op, when)
            if failed:
                poison = sum(1 for i in failed if (m := self.queue.messages.get(i)) is not None and m.op < 0)
                if len(failed) > poison:
                    self.failures.append((when, "sqs", len(failed) - poison, result["error"]))
        else:
            invocation = self.invokes.finish(result["id"], result["ok"], time.time())
            if result["ok"]:
                self._ack(invocation.op, when)
            elif invocation.op >= 0:
                self.failures.append((when, "direct", 1, result["error"]))

    def run(self, keep_going: Any = lambda: False, pace: float | None = None) -> None:
        """Until every delivery is acknowledged or parked (and ``keep_going()`` is false); with
        ``pace``, the deliveries are sent evenly over that many seconds instead of as fast as taken."""
        self.keep_going = keep_going
        self.pace = pace
        self.sent = 0
        self.started = time.time()
        active = dict(self.workers)
        shown = self.started
        while active:
            now = time.time()
            self._produce(now)
            if now - shown >= PROGRESS_EVERY_S:
                shown = now
                self._progress(now)
            for conn in wait(list(active), timeout=0.05):
                try:
                    kind, payload = conn.recv()
                except EOFError:
                    raise SystemExit(f"worker {active[conn]} died (see its log)") from None
                if kind == "bye":
                    self.stats[active.pop(conn)] = payload
                    continue
                if kind == "next" and payload is not None:
                    self._result(payload)
                if kind in ("next", "ready"):
                    if kind == "ready":
                        continue
                    work = self._work(time.time())
                    if work[0] == "stop":
                        self.finished = self.finished or time.time()
                    conn.send(work)


PROGRESS_EVERY_S = 30.0


class ConnectionWatch(threading.Thread):
    """Samples the server's backends of the application role once a second."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(name="soak-connections", daemon=True)
        self.cluster = cluster
        self.most = 0
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(1.0):
            try:
                count = self.cluster.sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = :u", DATABASE, u=APP_USER
                )[0][0]
            except Exception:  # the cluster is never the thing under test here; keep sampling
                continue
            self.samples += 1
            self.most = max(self.most, int(count))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _database(cluster: Cluster) -> None:
    cluster.sql(f'CREATE DATABASE "{DATABASE}"')
    cluster.sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url(DATABASE),
        "DATABASE_TLS": "disable",
        "DATABASE_APP_ROLE": APP_USER,
    }
    subprocess.run(
        [sys.executable, "-m", "landing", "migrate"], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL
    )


def _worker_env(cluster: Cluster, proxy: Proxy) -> dict[str, str]:
    return {
        "DATABASE_URL": cluster.url(DATABASE, user=APP_USER, password=APP_PASSWORD, port=proxy.port),
        "DATABASE_TLS": "disable",
        "BUCKET_NAME": history.BUCKET,
        "AWS_ACCESS_KEY_ID": "soak",
        "AWS_SECRET_ACCESS_KEY": "soak",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Nothing may leave the machine: a call the stub does not answer fails at once.
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "POWERTOOLS_SERVICE_NAME": "landing",
        "POWERTOOLS_METRICS_NAMESPACE": "Landing",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "EVENT_BUS_NAME": "",
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return (
        statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]
        if len(values) > 1
        else values[0]
    )


def _attribute(
    failures: list[tuple[float, str, int, str | None]], faults: list[Any], grace: float
) -> dict[str, Any]:
    """Each failed delivery charged to the latest fault that was on (or had just ended) when it failed."""
    cost: dict[str, Counter[str]] = {}
    for when, path, count, error in failures:
        blamed = "none"
        for fault in reversed(faults):
            if fault.start <= when <= fault.end + grace:
                blamed = fault.kind
                break
        c = cost.setdefault(blamed, Counter())
        c[f"{path} failures"] += count
        c[f"{path} failed invocations"] += 1
        c[f"error {(error or 'reported failures').split(':', 1)[0]}"] += 1
    return {kind: dict(counts) for kind, counts in cost.items()}


def _logs(paths: list[Path]) -> dict[str, Any]:
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    metric_lines = other = written = 0
    for path in paths:
        text = path.read_text(errors="replace")
        written += len(text.encode())
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                other += 1
                continue
            if "_aws" in record:
                metric_lines += 1
            elif isinstance(record, dict) and "level" in record:
                levels[record["level"]] += 1
                messages[f"{record['level']} {record.get('message')}"] += 1
            else:
                other += 1
    return {
        "levels": dict(levels),
        "messages": dict(messages.most_common(20)),
        "metric_lines": metric_lines,
        "unstructured_lines": other,
        "bytes": written,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    profile = SMOKE if args.smoke else FULL
    out = args.report.parent
    out.mkdir(parents=True, exist_ok=True)
    mix = Mix(poison_sqs=3, poison_direct=1) if args.smoke else Mix()
    t0 = time.time()
    s = Scenario.generate(args.events, args.seed, mix)
    plan = history.deliveries(s)
    generated = time.time() - t0

    ctx = multiprocessing.get_context("fork")
    clock = ctx.RawValue("q", -1)
    throttle_until = ctx.RawValue("d", 0.0)
    conns: dict[Connection, int] = {}
    procs = []
    logs = [out / f"worker-{n}.log" for n in range(args.workers)]
    # Forked before any thread or product import exists here: each child imports landing itself.
    for n in range(args.workers):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(
            target=worker.run,
            args=(child_end, n, str(logs[n]), s, clock, throttle_until),
            name=f"soak-worker-{n}",
        )
        proc.start()
        conns[parent_end] = n
        procs.append(proc)

    cluster = Cluster(superuser_password=SUPERUSER_PASSWORD).init()
    cluster.start()
    proxy = None
    injector = None
    watch = None
    try:
        _database(cluster)
        proxy = Proxy("127.0.0.1", cluster.port)
        env = {**_worker_env(cluster, proxy), **profile["env"]}
        for conn in conns:
            conn.send(("env", env))
        broker = Broker(
            s,
            plan,
            conns,
            clock,
            profile["visibility_timeout"],
            profile["retry_delays"],
            profile["max_receive_count"],
        )
        watch = ConnectionWatch(cluster)
        watch.start()
        injector = Injector(profile["faults"], cluster, DATABASE, APP_USER, proxy, throttle_until, args.seed)
        if not args.no_faults:
            injector.start()
        # A run with a fixed number of faults (the smoke run) lasts until all of them happened.
        plan_faults = injector.plan
        broker.run(
            keep_going=lambda: plan_faults.count is not None and not args.no_faults and not injector.done,
            # The smoke run's events span its faults, so that each fault has victims.
            pace=plan_faults.first_s + plan_faults.count * plan_faults.min_gap_s
            if plan_faults.count and not args.no_faults
            else None,
        )
        if not args.no_faults:
            injector.stop()
        watch.stop()
        for proc in procs:
            proc.join(30)
        findings = check.Findings()
        check.catalog(cluster.url(DATABASE), s, findings)
        report = _report(args, s, broker, injector, watch, findings, logs, generated)
    finally:
        if injector is not None and injector.is_alive():
            injector.stop()
        if proxy is not None:
            proxy.close()
        for proc in procs:
            if proc.is_alive():
                proc.kill()
        cluster.destroy()
    args.report.write_text(json.dumps(report, indent=2, default=str))
    print(report["line"])
    return 0 if report["ok"] else 1


def _report(
    args: argparse.Namespace,
    s: Scenario,
    broker: Broker,
    injector: Injector,
    watch: ConnectionWatch,
    findings: check.Findings,
    logs: list[Path],
    generated: float,
) -> dict[str, Any]:
    poison_sqs = sorted(
        d.poison or "" for d in broker.plan if d.op < 0 and d.path not in (DIRECT_S3, DIRECT_EB)
    )
    poison_direct = sorted(
        d.poison or "" for d in broker.plan if d.op < 0 and d.path in (DIRECT_S3, DIRECT_EB)
    )
    dlq = sorted(m.body for m in broker.queue.dead_letters)
    async_failed = sorted(i.payload for i in broker.invokes.failed)
    if dlq != poison_sqs:
        findings.add(
            f"dead-letter queue holds {len(dlq)} messages, {len(poison_sqs)} poison planted: "
            f"{[b[:80] for b in dlq if b not in poison_sqs][:5]}"
        )
    if async_failed != poison_direct:
        findings.add(
            f"on-failure destination holds {len(async_failed)} events, {len(poison_direct)} poison planted"
        )
    latencies = [broker.acked[op] - broker.first_sent[op] for op in range(s.events) if broker.acked[op]]
    unacked = s.events - len(latencies)
    if unacked:
        findings.add(f"{unacked} events never acknowledged")
    memory = {}
    for n, stats in sorted(broker.stats.items()):
        samples = stats["rss"]
        base = samples[len(samples) // 10][1] if samples else stats["rss_end"]
        memory[n] = {
            "after_warmup_mb": base,
            "end_mb": stats["rss_end"],
            "growth_mb": round(stats["rss_end"] - base, 2),
        }
    most_per_worker = max((st["most_connections"] for st in broker.stats.values()), default=0)
    growth = max((m["growth_mb"] for m in memory.values()), default=0.0)
    faults = Counter(f.kind for f in injector.faults)
    # Until the last event's row: the poison messages' trips to the dead-letter queue are not throughput.
    elapsed = max(broker.acked, default=broker.started) - broker.started
    rate = s.events / elapsed if elapsed else 0.0
    p50 = _percentile(latencies, 0.5) * 1000
    p99 = _percentile(latencies, 0.99) * 1000
    ok = (
        findings.mismatches == 0
        and most_per_worker <= 1
        and watch.most <= args.workers
        and growth <= MEMORY_GROWTH_LIMIT_MB
    )
    fault_text = ", ".join(f"{kind} {faults[kind]}" for kind in ("terminate", "drop", "pause", "throttle"))
    line = (
        f"soak: events={s.events:,} deliveries={len(broker.plan):,} workers={args.workers} "
        f"faults={sum(faults.values())} ({fault_text}) mismatches={findings.mismatches} "
        f"events/s={rate:,.0f} send-to-row p50={p50:,.0f} ms p99={p99:,.0f} ms "
        f"connections<=1/worker={'yes' if most_per_worker <= 1 else 'NO'} (server max {watch.most}) "
        f"memory growth max {growth:+.1f} MB {'OK' if ok else 'FAILED'}"
    )
    return {
        "line": line,
        "ok": ok,
        "events": s.events,
        "deliveries": len(broker.plan),
        "seed": args.seed,
        "workers": args.workers,
        "generated_s": round(generated, 1),
        "elapsed_s": round(elapsed, 1),
        "events_per_s": round(rate, 1),
        "latency_ms": {
            "p50": round(p50, 1),
            "p90": round(_percentile(latencies, 0.9) * 1000, 1),
            "p99": round(p99, 1),
            "max": round(max(latencies, default=0) * 1000, 1),
        },
        "mismatches": findings.mismatches,
        "mismatch_examples": findings.examples,
        "objects_checked": findings.objects_checked,
        "journal_rows": findings.journal_rows,
        "invocations": dict(broker.invocations),
        "sqs": {
            "receives": broker.queue.receives,
            "redeliveries": broker.queue.redeliveries,
            "dead_letters": len(dlq),
            "poison_planted": len(poison_sqs),
        },
        "async": {
            "retries": broker.invokes.retries,
            "on_failure_destination": len(async_failed),
            "poison_planted": len(poison_direct),
        },
        "faults": [asdict(f) for f in injector.faults],
        "fault_counts": dict(faults),
        "retry_cost_by_fault": _attribute(broker.failures, injector.faults, grace=15.0),
        "connections": {
            "most_per_worker": most_per_worker,
            "server_most": watch.most,
            "server_samples": watch.samples,
            "opened_per_worker": {n: st["connections_opened"] for n, st in broker.stats.items()},
        },
        "memory": memory,
        "workers_detail": {n: {k: v for k, v in st.items() if k != "rss"} for n, st in broker.stats.items()},
        "logs": _logs(logs),
        "broker_cpu_s": round(sum(os.times()[:2]), 1),
        "load_average": os.getloadavg(),
    }


MEMORY_GROWTH_LIMIT_MB = 10.0

if __name__ == "__main__":
    raise SystemExit(main())
