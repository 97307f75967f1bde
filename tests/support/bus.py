"""A moto EventBridge bus with a rule that forwards landing's events to an SQS queue the test reads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

BUS = "landing-test"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def documented(section: str) -> dict[str, Any]:
    """The first JSON block under a heading of docs/events.md: the tests use what the docs show."""
    text = DOCS.read_text().split(section, 1)[1]
    block = re.search(r"```json\n(.*?)```", text, re.S)
    assert block, f"no JSON block under {section!r} in {DOCS}"
    return dict(json.loads(block.group(1)))


# The rule pattern consumers copy, minus its example bucket (the test bus sees one bucket anyway).
PATTERN = {k: v for k, v in documented("## Subscribe").items() if k != "detail"}
DETAIL_SCHEMA = documented("## Schema of `detail`")


@dataclass
class Bus:
    name: str
    queue_url: str

    def create(self) -> None:
        """The bus, its rule and its target (call inside mock_aws)."""
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.create_event_bus(Name=self.name)
        events.put_rule(Name="uploads", EventBusName=self.name, EventPattern=json.dumps(PATTERN))
        events.put_targets(Rule="uploads", EventBusName=self.name, Targets=[{"Id": "queue", "Arn": arn}])

    def received(self) -> list[dict[str, Any]]:
        """Every event delivered to the queue since the last call (each read once)."""
        sqs = boto3.client("sqs", region_name="us-east-1")
        out: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def new_bus(create: bool = True) -> Bus:
    sqs = boto3.client("sqs", region_name="us-east-1")
    bus = Bus(BUS, sqs.create_queue(QueueName="landing-events")["QueueUrl"])
    if create:
        bus.create()
    return bus
