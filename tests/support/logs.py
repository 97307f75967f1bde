"""Capture the structured log lines the handlers write, exactly as Powertools formats them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _Collect(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Logs:
    def __init__(self, collector: _Collect) -> None:
        self._collector = collector

    @property
    def text(self) -> str:
        """Everything logged, as written (to search for secrets)."""
        return "\n".join(self._collector.lines)

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._collector.lines]

    def problems(self) -> list[dict[str, Any]]:
        """WARNING and ERROR lines."""
        return [line for line in self.lines if line["level"] in ("WARNING", "ERROR", "CRITICAL")]

    def clear(self) -> None:
        self._collector.lines.clear()


@contextmanager
def capture_logs() -> Iterator[Logs]:
    from landing.observability import logger

    collector = _Collect(logger.registered_formatter)
    logger._logger.addHandler(collector)
    try:
        yield Logs(collector)
    finally:
        logger._logger.removeHandler(collector)
