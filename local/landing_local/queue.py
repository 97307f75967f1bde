"""Feed the ingest handler from an SQS queue the way the Lambda event source mapping does."""

from __future__ import annotations

from typing import Any

from landing.lambda_context import local_context


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from a ReceiveMessage batch."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {},
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def drain(sqs: Any, queue_url: str, *, max_batches: int = 100, wait_s: int = 0) -> dict[str, int]:
    """Receive batches until the queue is empty; delete what the handler did not report as failed."""
    from landing.handlers.ingest import handler

    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    region = sqs.meta.region_name
    totals = {"batches": 0, "messages": 0, "failed": 0}
    for _ in range(max_batches):
        received = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s, AttributeNames=["All"]
        ).get("Messages", [])
        if not received:
            break
        result = handler(sqs_event(received, arn, region), local_context("IngestFunction"))
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        done = [m for m in received if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        totals["batches"] += 1
        totals["messages"] += len(received)
        totals["failed"] += len(failed)
    return totals
