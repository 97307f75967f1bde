"""MigrateFunction: a CloudFormation custom resource that applies the Alembic migrations on deploy."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent

from landing.observability import logger

PHYSICAL_RESOURCE_ID = "landing-database-migrations"
# Answer FAILED this long before the Lambda deadline if the migration has not finished: a custom
# resource that never answers leaves the stack waiting until CloudFormation's own timeout.
DEADLINE_MARGIN_S = 10.0
RESPONSE_ATTEMPTS = 3
REASON_LIMIT = 1000


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


def _apply_migrations() -> str:
    # Imported here so that a broken configuration (say DATABASE_URL) is reported to CloudFormation
    # as FAILED with its message instead of failing the import and leaving the stack waiting.
    from landing.db import engine as db
    from landing.db import migrate

    revision = migrate.upgrade(db.require_engine())
    return revision or ""


def _watchdog(responder: Responder, context: Any) -> threading.Timer | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    delay = max(float(remaining()) / 1000 - DEADLINE_MARGIN_S, 0.0)

    def expire() -> None:
        try:
            responder.send("FAILED", "migration did not finish before the function timeout")
        except Exception:
            logger.exception("could not answer CloudFormation before the timeout")

    timer = threading.Timer(delay, expire)
    timer.daemon = True
    timer.start()
    return timer


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Create/Update: upgrade to head. Delete: keep the database. Always answer CloudFormation."""
    request = CloudFormationCustomResourceEvent(event)
    responder = Responder(request, request.physical_resource_id or PHYSICAL_RESOURCE_ID)
    timer = _watchdog(responder, context)
    status, reason, data = "SUCCESS", "", {}
    try:
        if request.request_type == "Delete":
            reason = "nothing to undo: migrations and data stay with the database"
        else:
            revision = _apply_migrations()
            reason, data = f"database at revision {revision}", {"Revision": revision}
    except Exception as error:
        logger.exception("migration failed", extra={"request_type": request.request_type})
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    finally:
        if timer is not None:
            timer.cancel()
    # Raising here (response could not be delivered) lets Lambda retry the asynchronous invocation.
    responder.send(status, reason, data)
    return {"Status": responder.sent, "Reason": reason[:REASON_LIMIT], "Data": data}
