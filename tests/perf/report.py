"""The benchmark's results and their markdown: goal rows, the layer table, the cost table, notes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tests.perf.environment import machine
from tests.perf.timing import Sizes


@dataclass
class Results:
    database: str = ""
    head_mode: str = ""
    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    breakdown: list[tuple[str, ...]] = field(default_factory=list)
    cost: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Medians the cost table is computed from (seconds, or counts for round trips).
    measured: dict[str, float] = field(default_factory=dict)

    def row(self, what: str, ours: str, reference: str, value: str, goal: str, met: bool | None) -> None:
        verdict = "—" if met is None else ("yes" if met else "**no**")
        self.rows.append((what, ours, reference, value, goal, verdict))


def render(results: Results, sizes: Sizes, smoke: bool) -> str:
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        f"Benchmark ({'smoke' if smoke else 'full'} run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        "",
        f"- Machine: {machine()}; load average at the end {load}",
        f"- Database: {results.database}",
        f"- HeadObject: {results.head_mode}",
        f"- Timing: {sizes.rounds} interleaved rounds x {sizes.per_round} calls per case; times are "
        "medians (p10, p90) over all calls; ratios are the median of per-round ratios (lowest-highest). "
        "CPU is this process's `time.process_time` per call (client CPU: what Lambda bills for).",
        "",
        "| measure | ours | reference | ratio / value | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in results.rows]
    if results.breakdown:
        lines += [
            "",
            "Where the per-event time goes (direct delete event, same run; each line adds one layer):",
            "",
            "| layer | wall | CPU | CPU added | wall against the floor | CPU against the floor |",
            "|---|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in results.breakdown]
    if results.cost:
        lines += ["", *results.cost]
    if results.notes:
        lines += [""] + [f"- {note}" for note in results.notes]
    return "\n".join(lines)
