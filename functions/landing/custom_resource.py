"""A CloudFormation custom resource's one answer: sent once, before the function's deadline, retried."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent

from landing.observability import logger

# Answer FAILED this long before the Lambda deadline if the work has not finished: a custom resource
# that never answers leaves the stack waiting until CloudFormation's own timeout (an hour).
DEADLINE_MARGIN_S = 10.0
RESPONSE_ATTEMPTS = 3
REASON_LIMIT = 1000

# Why not crhelper: its sender speaks HTTPS only and retries forever, its timeout fires 0.5 s before
# the deadline, and it reconfigures the root logger and builds three boto3 clients at import.


class Responder:
    """Sends the one response CloudFormation waits for, whichever of the handler and the watchdog is first."""

    def __init__(self, event: CloudFormationCustomResourceEvent, physical_resource_id: str) -> None:
        self._event = event
        self._physical_resource_id = physical_resource_id
        self._lock = threading.Lock()
        self.sent: str | None = None

    def send(self, status: str, reason: str, data: dict[str, str] | None = None) -> bool:
        with self._lock:
            if self.sent is not None:
                return False
            body = json.dumps(
                {
                    "Status": status,
                    "Reason": reason[:REASON_LIMIT],
                    "PhysicalResourceId": self._physical_resource_id,
                    "StackId": self._event.stack_id,
                    "RequestId": self._event.request_id,
                    "LogicalResourceId": self._event.logical_resource_id,
                    "NoEcho": False,
                    "Data": data or {},
                }
            ).encode()
            _put(self._event.response_url, body)
            self.sent = status
            logger.info("answered CloudFormation", extra={"status": status, "reason": reason[:REASON_LIMIT]})
            return True


def _put(url: str, body: bytes) -> None:
    """PUT to the presigned S3 URL (signed with an empty content type), with a few retries."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("ResponseURL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    for attempt in range(1, RESPONSE_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                response.read()
            return
        except OSError:
            if attempt == RESPONSE_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)


@contextmanager
def watchdog(responder: Responder, context: Any, margin_s: float) -> Iterator[None]:
    """Answer FAILED ``margin_s`` before the deadline unless the block finishes first."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        yield
        return

    def expire() -> None:
        try:
            responder.send("FAILED", "the work did not finish before the function timeout")
        except Exception:
            logger.exception("could not answer CloudFormation before the timeout")

    timer = threading.Timer(max(float(remaining()) / 1000 - margin_s, 0.0), expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


Work = Callable[[CloudFormationCustomResourceEvent], tuple[str, dict[str, str]]]


def respond(event: dict[str, Any], context: Any, physical_resource_id: str, work: Work) -> dict[str, Any]:
    """Run ``work`` (it returns the reason and the Data to answer) and answer CloudFormation: SUCCESS,
    or FAILED with the error, or FAILED at the deadline. Raises when no answer could be delivered, so
    Lambda retries the asynchronous invocation."""
    request = CloudFormationCustomResourceEvent(event)
    responder = Responder(request, request.physical_resource_id or physical_resource_id)
    status, reason = "SUCCESS", ""
    data: dict[str, str] = {}
    with watchdog(responder, context, DEADLINE_MARGIN_S):
        try:
            reason, data = work(request)
        except Exception as error:
            logger.exception("custom resource failed", extra={"request_type": request.request_type})
            status, reason = "FAILED", f"{type(error).__name__}: {error}"
    responder.send(status, reason, data)
    return {"Status": responder.sent, "Reason": reason[:REASON_LIMIT], "Data": data}
