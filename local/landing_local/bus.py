"""A local EventBridge bus (moto) whose rule sends landing's lifecycle events to a queue read back and shown."""

from __future__ import annotations

import json
import os
from typing import Any

LOCAL_BUS = "landing-local"
LOCAL_EVENTS_QUEUE = "landing-local-events"
# The rule a consumer would write (docs/events.md).
PATTERN = {
    "source": [{"prefix": "landing"}],
    "detail-type": ["Upload Completed", "Upload Rejected", "Upload Expired", "Upload Quarantined"],
}


def setup(events: Any, sqs: Any, bus: str = LOCAL_BUS, queue: str = LOCAL_EVENTS_QUEUE) -> str:
    """Bus, rule and queue target; EVENT_BUS_NAME names the bus for the handlers. Returns the queue URL."""
    queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if bus not in [b["Name"] for b in events.list_event_buses().get("EventBuses", [])]:
        events.create_event_bus(Name=bus)
    events.put_rule(Name="landing-uploads", EventBusName=bus, EventPattern=json.dumps(PATTERN))
    events.put_targets(Rule="landing-uploads", EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    os.environ["EVENT_BUS_NAME"] = bus
    from landing.outbox import publisher
    from landing.settings import get_settings

    get_settings.cache_clear()
    publisher.reset()
    return str(queue_url)


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """The events delivered since the last call, each read once."""
    out: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for message in messages:
            out.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def describe(event: dict[str, Any]) -> str:
    """One line per event: what a subscribed application would be told."""
    detail = event.get("detail", {})
    line = (
        f"{event.get('detail-type')}: upload {detail.get('upload_id')} {detail.get('key')} "
        f"({detail.get('previous_status')} -> {detail.get('status')}, size {detail.get('size')}, "
        f"event_id {detail.get('event_id')})"
    )
    if detail.get("rejection_reason"):
        line += f": {detail['rejection_reason']}"
    return line
