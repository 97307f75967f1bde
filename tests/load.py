"""`make test` N times in a row while every core is kept busy: the suite's timing margins under load.

`python -m tests.load [--runs 10] [--command "make test"]` (`make test-under-load`; not part of
`make test`). One spinning process per core, at the suite's own priority, competes with it for the
whole time; stops at the first failing run and exits 1. Prints one line per run (seconds, load average).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shlex
import subprocess
import sys
import time


def _spin() -> None:
    value = 0
    while True:
        value = (value * 1103515245 + 12345) & 0x7FFFFFFF


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10, help="runs in a row (10)")
    parser.add_argument("--command", default="make test", help='what each run executes ("make test")')
    args = parser.parse_args(argv)

    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 1)]
    for spinner in spinners:
        spinner.start()
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            status = subprocess.call(shlex.split(args.command))
            load = " ".join(f"{value:.2f}" for value in os.getloadavg())
            print(
                f"run {run}/{args.runs}: exit {status} after {time.monotonic() - started:.0f} s, "
                f"load average {load} ({len(spinners)} spinning processes)",
                flush=True,
            )
            if status != 0:
                print(f"FAILED at run {run}", file=sys.stderr)
                return 1
    finally:
        for spinner in spinners:
            spinner.terminate()
    print(f"{args.runs} runs in a row passed under load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
