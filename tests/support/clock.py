"""A stopped clock for LocalContext, so remaining-time assertions do not depend on how busy the machine is."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


class StoppedClock:
    """Time moves only when the test says so (``advance``)."""

    def __init__(self, now: float = 5000.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def stop_context_clock(monkeypatch: pytest.MonkeyPatch) -> StoppedClock:
    """LocalContext (and so InvokeContext) reads this clock instead of time.monotonic."""
    from landing import lambda_context

    clock = StoppedClock()
    monkeypatch.setattr(lambda_context, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock
