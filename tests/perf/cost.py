"""Estimated AWS bill per million events, from this run's client CPU and round trips; every assumption stated."""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import Any

from tests.perf.report import Results

# Public list prices, US East (N. Virginia), looked up 2026-11-30 (sources in docs/benchmarks.md).
PRICES_AS_OF = "2026-11-30"
LAMBDA_ARM_GB_SECOND = 0.0000133334  # arm64 duration, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1e6  # per invocation, either architecture
SQS_REQUEST = 0.40 / 1e6  # standard queue, first 100 billion requests a month, per 64 KB chunk
LOGS_INGEST_GB = 0.50  # CloudWatch Logs ingestion (standard class), per GB
RDS_PROXY_VCPU_HOUR = 0.015  # per vCPU of the target instance per hour (minimum 2): not per request

# Assumptions (each is printed with the table).
FULL_VCPU_MB = 1769  # Lambda allocates CPU in proportion to memory: one full vCPU at 1,769 MB
MEMORY_SIZES = (128, 256, 512, 1024)
ROUND_TRIP_MS = 1.0  # Lambda -> RDS Proxy -> PostgreSQL and back, same AZ, statement and commit included
HEAD_MS = 10.0  # one S3 HeadObject from Lambda (creates only); the batch runs 4 at a time
HEAD_WORKERS = 4
# Per event through SQS: S3's SendMessage, plus Lambda's ReceiveMessage and DeleteMessageBatch,
# each carrying up to 10 messages (an event is far below 64 KB).
SQS_REQUESTS_PER_EVENT = 1 + 0.1 + 0.1
# Lambda's START, END and REPORT lines per invocation in text format; none for a successful
# invocation when the template's SystemLogLevel is WARN (they are INFO system logs).
PLATFORM_TEXT_LOG_BYTES = 330
PROXY_VCPUS = 2
# The bill this table is held to (issue 28), per million events at any memory size.
GOAL_DIRECT = 0.40
GOAL_BATCHED = 0.46


def platform_log_bytes() -> int:
    """What Lambda itself writes per successful invocation, under the template's logging configuration."""
    from tests.infra import cfn

    logging = cfn.template()["Globals"]["Function"].get("LoggingConfig", {})
    return 0 if logging.get("SystemLogLevel") == "WARN" else PLATFORM_TEXT_LOG_BYTES


@dataclass(frozen=True)
class Path:
    name: str
    events_per_invocation: int
    cpu_s: float  # client CPU per invocation, measured here
    round_trips: float  # per invocation
    wait_ms: float  # other waiting per invocation (HeadObject)
    sqs: bool


def share(memory_mb: int) -> float:
    return memory_mb / FULL_VCPU_MB


def billed_ms(path: Path, memory_mb: int) -> int:
    """CPU time stretched by the memory's vCPU share, plus the waits; Lambda rounds up to 1 ms."""
    ms = path.cpu_s * 1e3 / share(memory_mb) + path.round_trips * ROUND_TRIP_MS + path.wait_ms
    return math.ceil(ms)


def per_million(path: Path, memory_mb: int, log_bytes: float, platform_bytes: int) -> dict[str, float]:
    invocations = 1e6 / path.events_per_invocation
    duration = invocations * billed_ms(path, memory_mb) / 1e3 * memory_mb / 1024 * LAMBDA_ARM_GB_SECOND
    requests = invocations * LAMBDA_REQUEST
    sqs = 1e6 * SQS_REQUESTS_PER_EVENT * SQS_REQUEST if path.sqs else 0.0
    logs = invocations * (log_bytes + platform_bytes) / 1e9 * LOGS_INGEST_GB
    return {"duration": duration, "requests": requests, "sqs": sqs, "logs": logs}


def _goal_line(totals: dict[str, dict[int, float]], sqs_floor: float) -> str:
    def verdict(kind: str, goal: float) -> str:
        met = [m for m, total in totals[kind].items() if total <= goal]
        missed = [m for m, total in totals[kind].items() if total > goal]
        low, high = min(totals[kind].values()), max(totals[kind].values())
        said = f"${low:.3f}-{high:.3f}: "
        if not missed:
            return said + "met at every memory size"
        if not met:
            return said + "**not met** at any memory size"
        return said + (
            f"met at {', '.join(f'{m} MB' for m in met)}; **not met** at {', '.join(f'{m} MB' for m in missed)}"
        )

    line = (
        f"Goal: at most ${GOAL_DIRECT:.2f} per million direct events and ${GOAL_BATCHED:.2f} batched (deletes). "
        f"Direct {verdict('direct', GOAL_DIRECT)}. Batched {verdict('sqs', GOAL_BATCHED)}"
    )
    if sqs_floor > GOAL_BATCHED:
        line += (
            f": SQS's own requests are ${sqs_floor:.3f} per million events under these assumptions, "
            "above the goal before Lambda or logs cost anything"
        )
    return line + "."


def handler_output_bytes(event: dict[str, Any], context: Any) -> int:
    """Bytes one successful invocation writes to stdout at the template's default LogLevel (INFO):
    its log lines (none since the success summaries are DEBUG) and its EMF metrics line."""
    from landing.handlers import ingest as ingest_handler

    with tempfile.TemporaryFile() as out:
        saved = os.dup(1)
        os.dup2(out.fileno(), 1)
        try:
            ingest_handler.handler(event, context)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        return int(out.tell())


def cost_table(results: Results, log_bytes: dict[str, float]) -> None:
    m = results.measured
    batch = int(m["batch_size"])
    paths = [
        Path("direct S3 event, delete", 1, m["direct_cpu"], m["direct_round_trips"], 0.0, False),
        Path(
            f"SQS batch of {batch}, deletes", batch, m["batch_cpu"] * batch, m["batch_round_trips"], 0.0, True
        ),
        Path(
            "direct S3 event, create (+1 HeadObject)",
            1,
            m["create_cpu"],
            m["direct_round_trips"],
            HEAD_MS,
            False,
        ),
        Path(
            f"SQS batch of {batch}, creates (+{batch} HeadObject, {HEAD_WORKERS} at a time)",
            batch,
            m["create_batch_cpu"] * batch,
            m["batch_round_trips"],
            HEAD_MS * batch / HEAD_WORKERS,
            True,
        ),
    ]
    lines = [
        f"Estimated cost per million events (arm64, US East list prices of {PRICES_AS_OF}, USD; "
        "free tiers and savings plans left out):",
        "",
        "| path | memory | vCPU share | billed ms / invocation | Lambda duration | Lambda requests | SQS requests "
        "| CloudWatch Logs | total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    platform = platform_log_bytes()
    # The goal is stated for the reference paths, deletes: {path kind: {memory: total}}.
    totals: dict[str, dict[int, float]] = {"direct": {}, "sqs": {}}
    for path in paths:
        out = log_bytes["sqs" if path.sqs else "direct"]
        for memory in MEMORY_SIZES:
            c = per_million(path, memory, out, platform)
            if "delete" in path.name:
                totals["sqs" if path.sqs else "direct"][memory] = sum(c.values())
            lines.append(
                f"| {path.name} | {memory} MB | {share(memory):.3f} | {billed_ms(path, memory)} "
                f"| ${c['duration']:.3f} | ${c['requests']:.3f} | ${c['sqs']:.3f} | ${c['logs']:.3f} "
                f"| ${sum(c.values()):.3f} |"
            )
    proxy_month = PROXY_VCPUS * RDS_PROXY_VCPU_HOUR * 730
    sqs_floor = SQS_REQUESTS_PER_EVENT * SQS_REQUEST * 1e6
    lines += [
        "",
        _goal_line(totals, sqs_floor),
        "",
        "Assumptions of this table:",
        "",
        f"- Billed duration = measured client CPU per invocation / vCPU share (memory / {FULL_VCPU_MB} MB; "
        "one core of this machine taken as one Graviton vCPU) + round trips x "
        f"{ROUND_TRIP_MS:.1f} ms (Lambda -> RDS Proxy -> PostgreSQL, same AZ, statement and commit "
        f"included) + HeadObject waits ({HEAD_MS:.0f} ms each, {HEAD_WORKERS} in parallel in a batch), "
        "rounded up to 1 ms per invocation. Init (cold start) duration is not included.",
        f"- Measured here: direct delete {m['direct_cpu'] * 1e6:,.0f} µs CPU and "
        f"{m['direct_round_trips']:.0f} round trip(s); direct create {m['create_cpu'] * 1e6:,.0f} µs CPU; "
        f"batch {m['batch_cpu'] * 1e6:,.0f} µs CPU per delete record, "
        f"{m['create_batch_cpu'] * 1e6:,.0f} µs per create record, {m['batch_round_trips']:.0f} round "
        "trip(s) per batch.",
        f"- Lambda arm64 ${LAMBDA_ARM_GB_SECOND} per GB-second, ${LAMBDA_REQUEST * 1e6:.2f} per million "
        f"requests; SQS standard ${SQS_REQUEST * 1e6:.2f} per million requests, "
        f"{SQS_REQUESTS_PER_EVENT:.1f} requests per event (S3's SendMessage, then ReceiveMessage and "
        "DeleteMessageBatch of 10 messages each).",
        f"- CloudWatch Logs ${LOGS_INGEST_GB:.2f} per GB ingested: measured handler output of a successful "
        f"invocation at LogLevel INFO {log_bytes['direct']:,.0f} bytes per direct invocation, "
        f"{log_bytes['sqs']:,.0f} per batch (the EMF metrics line; failures add their lines), "
        + (
            "+ 0 bytes of Lambda platform lines (template: JSON logs, SystemLogLevel WARN, so no "
            "START/END/REPORT for a successful invocation)."
            if platform == 0
            else f"+ {platform} bytes of Lambda platform lines (START, END, REPORT in text format)."
        ),
        f"- RDS Proxy is billed per vCPU-hour of the database instance, not per request: "
        f"{PROXY_VCPUS} vCPU x ${RDS_PROXY_VCPU_HOUR} x 730 h = ${proxy_month:.2f} a month whatever "
        f"the traffic (${proxy_month / (10 * 3600 * 730 / 1e6):.3f} per million events at a steady "
        f"10 events/s, ${proxy_month / (100 * 3600 * 730 / 1e6):.4f} at 100/s); not in the totals.",
    ]
    results.cost.extend(lines)
