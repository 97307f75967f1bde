"""A progress bar on stderr for `landing upload` (drawn only on a terminal; safe from several threads)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

MIB = 1024**2
WIDTH = 30


class Progress:
    def __init__(self, name: str, total: int, stream: TextIO | None = None) -> None:
        self.name = name if len(name) <= 30 else name[:27] + "..."
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.lock = threading.Lock()

    def add(self, sent: int) -> None:
        with self.lock:
            self.done = min(self.total, self.done + sent)
            if self.live:
                self.stream.write("\r" + self.line())
                self.stream.flush()

    def line(self) -> str:
        filled = WIDTH * self.done // self.total
        return (
            f"{self.name} [{'#' * filled}{' ' * (WIDTH - filled)}] {100 * self.done // self.total:3d}% "
            f"{self.done / MIB:.1f}/{self.total / MIB:.1f} MiB"
        )

    def finish(self, outcome: str) -> None:
        with self.lock:
            self.stream.write(("\r" if self.live else "") + f"{self.line()}  {outcome}\n")
            self.stream.flush()
