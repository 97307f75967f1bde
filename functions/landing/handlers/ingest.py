"""IngestFunction: S3 notifications (direct, SQS, SNS, EventBridge), GuardDuty verdicts -> catalog rows."""

from __future__ import annotations

from typing import Any

from landing.coldstart import quiet_imports

with quiet_imports():
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from landing.ingest import batch
    from landing.lambda_context import local_context
    from landing.observability import logger, metrics
    from landing.s3 import deliveries, notifications
    from landing.s3.fields import InvalidEvent

# Lifecycle events of the uploads an invocation decided are published once its work has committed.


@metrics.log_metrics
@logger.inject_lambda_context
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        kind = deliveries.detect(event)
        if kind == "s3-test":
            logger.info("s3:TestEvent acknowledged")
            return {"records": 0, "skipped": 1}
        if kind == "sqs":
            return batch.sqs_batch(event, context)
        if kind == "eventbridge":
            parsed = notifications.from_eventbridge(event)
        elif kind == "guardduty":
            parsed = deliveries.from_guardduty(event)
        elif kind == "sns":
            parsed = deliveries.from_sns(event)
        else:
            parsed = notifications.from_s3_notification(event, source="s3")
    except InvalidEvent as error:
        # Raised, so Lambda's async retries and on-failure destination keep the event for a human.
        logger.error("event rejected: not a usable S3 event", extra={"error": str(error)})
        raise
    return batch.direct(parsed, context)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (landing.handlers.ingest.handler); a missing context gets a local one."""
    result: dict[str, Any] = _handle(event, context or local_context("IngestFunction"))
    return result
