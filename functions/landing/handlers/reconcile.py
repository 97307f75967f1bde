"""ReconcileFunction: a scheduled event continues the reconcile of a bucket until its time runs short."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from landing.coldstart import quiet_imports

with quiet_imports():
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from landing.lambda_context import local_context
    from landing.observability import logger, metrics
    from landing.reconcile import scheduled
    from landing.settings import get_settings


def target(event: object) -> tuple[str, str]:
    """(bucket, prefix) from the event's ``bucket``/``prefix`` (the rule's input), else BUCKET_NAME.

    A plain EventBridge "Scheduled Event" carries neither, so BUCKET_NAME decides.
    """
    event = event if isinstance(event, Mapping) else {}
    bucket = event.get("bucket") or get_settings().bucket_name
    prefix = event.get("prefix") or ""
    if not isinstance(bucket, str) or not bucket:
        raise ValueError('no bucket to reconcile: set BUCKET_NAME or pass {"bucket": ...} in the event')
    if not isinstance(prefix, str):
        raise ValueError(f"prefix must be a string, got {type(prefix).__name__}")
    return bucket, prefix


@metrics.log_metrics
@logger.inject_lambda_context
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    bucket, prefix = target(event)
    summary = scheduled.resume(bucket, prefix, context)
    invocation = summary.get("invocation", {})
    for name, metric in (
        ("scanned", "ReconcileScanned"),
        ("inserted", "ReconcileInserted"),
        ("updated", "ReconcileUpdated"),
        ("deleted", "ReconcileDeleted"),
        ("left_alone", "ReconcileLeftAlone"),
    ):
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=int(invocation.get(name, 0)))
    logger.info("reconcile invocation finished", extra=summary)
    return summary


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (landing.handlers.reconcile.handler); a missing context gets a local one."""
    result: dict[str, Any] = _handle(event, context or local_context("ReconcileFunction", timeout_s=900))
    return result
