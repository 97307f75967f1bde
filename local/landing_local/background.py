"""What AWS does between requests under landing serve: the queue drained into the ingest handler, the scheduled pass."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from landing_local.server import SCHEDULED_EVENT, UPLOADS_FUNCTION, Invoker, log, uploads_handler


class Background(threading.Thread):
    """What AWS does between requests: the SQS event source mapping and the expiry schedule.

    Drains the bucket's notification queue into the ingest handler every ``poll_s`` (so an upload's
    status moves on as in AWS), and invokes the uploads function's scheduled pass every ``sweep_s``.
    With ``events_queue_url`` (the local bus's rule target) it logs each lifecycle event published.
    """

    def __init__(
        self,
        invoker: Invoker,
        sqs: Any,
        queue_url: str,
        poll_s: float = 0.2,
        sweep_s: float = 60.0,
        events_queue_url: str | None = None,
    ) -> None:
        super().__init__(name="landing-background", daemon=True)
        self.invoker = invoker
        self.sqs = sqs
        self.queue_url = queue_url
        self.events_queue_url = events_queue_url
        self.poll_s = poll_s
        self.sweep_s = sweep_s
        self.stopping = threading.Event()

    def drain_once(self) -> dict[str, int]:
        from landing_local.queue import drain

        # drain() invokes the ingest handler per batch; holding the invoker's lock keeps it from
        # overlapping an API request (short: ReceiveMessage does not wait on an empty queue).
        with self.invoker.lock:
            totals = drain(self.sqs, self.queue_url, max_batches=10)
        if totals["messages"]:
            log.info(
                "IngestFunction: %d message(s) from the queue, %d failed",
                totals["messages"],
                totals["failed"],
            )
        return totals

    def sweep_once(self) -> Any:
        result = self.invoker.invoke(uploads_handler(), dict(SCHEDULED_EVENT), UPLOADS_FUNCTION, 60.0)
        events = result.get("events") or {}
        if any(v for k, v in result.items() if k != "events") or events.get("published"):
            log.info("UploadsFunction scheduled pass: %s", json.dumps(result))
        return result

    def show_events(self) -> list[dict[str, Any]]:
        """Log what an application subscribed to the bus receives (one line per event)."""
        if self.events_queue_url is None:
            return []
        from landing_local import bus

        published = bus.received(self.sqs, self.events_queue_url)
        for event in published:
            log.info("EventBridge %s", bus.describe(event))
        return published

    def run(self) -> None:
        next_sweep = time.monotonic() + self.sweep_s
        while not self.stopping.is_set():
            busy = False
            try:
                busy = self.drain_once()["messages"] > 0
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self.sweep_s
                    self.sweep_once()
                self.show_events()
            except Exception:
                # The loop outlives a failed batch, as the event source mapping does; SQS redelivers.
                log.exception("background invocation failed")
            if not busy:
                self.stopping.wait(self.poll_s)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
