"""The delivery services the soak models: an SQS standard queue with its dead-letter queue, and Lambda's
asynchronous invocation (retries, then the on-failure destination).

SQS, as documented: a received message is invisible for the visibility timeout and comes back unless
deleted with its latest receipt handle; each receive adds one to ApproximateReceiveCount, and a message
whose count has reached maxReceiveCount is moved to the dead-letter queue instead of being received
again. Lambda's event source mapping deletes the messages of a batch that were not reported in
batchItemFailures, and none when the invocation itself fails. Asynchronous invocation: a failed event
is retried twice, after a delay, then sent to the on-failure destination.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class Message:
    id: str
    body: str
    op: int  # the S3 operation it carries; -1 for a poison message
    sent_at: float
    receive_count: int = 0
    receipt: int = 0
    first_received: float = 0.0


@dataclass(slots=True)
class Received:
    id: str
    receipt: str
    body: str
    receive_count: int
    sent_at: float
    first_received: float


class Queue:
    def __init__(self, visibility_timeout: float, max_receive_count: int) -> None:
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self._ids = itertools.count()
        self.messages: dict[str, Message] = {}
        self._visible: deque[str] = deque()
        self._invisible: list[tuple[float, str, int]] = []  # (visible again at, id, receipt)
        self.dead_letters: list[Message] = []
        self.receives = 0
        self.redeliveries = 0  # receives of a message received before

    def send(self, body: str, op: int, now: float) -> str:
        message = Message(f"m{next(self._ids):08d}", body, op, now)
        self.messages[message.id] = message
        self._visible.append(message.id)
        return message.id

    def _expire(self, now: float) -> None:
        while self._invisible and self._invisible[0][0] <= now:
            _, message_id, receipt = heapq.heappop(self._invisible)
            message = self.messages.get(message_id)
            if message is not None and message.receipt == receipt:
                self._visible.append(message_id)  # not deleted in time: visible again

    def receive(self, now: float, most: int) -> list[Received]:
        self._expire(now)
        batch: list[Received] = []
        while self._visible and len(batch) < most:
            message = self.messages.get(self._visible.popleft())
            if message is None:
                continue  # deleted after its visibility timeout ran out, before anyone received it again
            if message.receive_count >= self.max_receive_count:
                del self.messages[message.id]
                self.dead_letters.append(message)
                continue
            message.receive_count += 1
            message.receipt += 1
            if message.receive_count == 1:
                message.first_received = now
            else:
                self.redeliveries += 1
            self.receives += 1
            heapq.heappush(self._invisible, (now + self.visibility_timeout, message.id, message.receipt))
            batch.append(
                Received(
                    message.id,
                    f"{message.id}#{message.receipt}",
                    message.body,
                    message.receive_count,
                    message.sent_at,
                    message.first_received,
                )
            )
        return batch

    def delete(self, receipt: str) -> Message | None:
        """DeleteMessage: only the latest receipt handle deletes (an older one is ignored, as SQS may)."""
        message_id, _, number = receipt.partition("#")
        message = self.messages.get(message_id)
        if message is None or message.receipt != int(number):
            return None
        del self.messages[message_id]
        return message

    @property
    def outstanding(self) -> int:
        return len(self.messages)

    def next_visible_in(self, now: float) -> float | None:
        if self._visible:
            return 0.0
        return max(self._invisible[0][0] - now, 0.0) if self._invisible else None


@dataclass(order=True, slots=True)
class Invocation:
    due: float
    id: int
    payload: str = field(compare=False)
    op: int = field(compare=False)
    sent_at: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


class AsyncInvokes:
    """Lambda's asynchronous invocation queue for one function (direct S3 / EventBridge targets)."""

    def __init__(self, retry_delays: tuple[float, ...]) -> None:
        self.retry_delays = retry_delays  # AWS: about 1 and 2 minutes; the soak scales them down
        self._ids = itertools.count()
        self._due: list[Invocation] = []
        self.running: dict[int, Invocation] = {}
        self.failed: list[Invocation] = []  # the on-failure destination
        self.retries = 0

    def submit(self, payload: str, op: int, now: float) -> None:
        heapq.heappush(self._due, Invocation(now, next(self._ids), payload, op, now))

    def take(self, now: float) -> Invocation | None:
        if not self._due or self._due[0].due > now:
            return None
        invocation = heapq.heappop(self._due)
        invocation.attempts += 1
        self.running[invocation.id] = invocation
        return invocation

    def finish(self, invocation_id: int, ok: bool, now: float) -> Invocation:
        invocation = self.running.pop(invocation_id)
        if not ok:
            if invocation.attempts > len(self.retry_delays):
                self.failed.append(invocation)
            else:
                self.retries += 1
                invocation.due = now + self.retry_delays[invocation.attempts - 1]
                heapq.heappush(self._due, invocation)
        return invocation

    @property
    def outstanding(self) -> int:
        return len(self._due) + len(self.running)

    def next_due_in(self, now: float) -> float | None:
        return max(self._due[0].due - now, 0.0) if self._due else None
