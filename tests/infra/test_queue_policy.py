"""Who may post to IngestQueue: the queue policy evaluated for the senders an attacker would try (issue 24).

Same-account principals need no grant in a queue policy (their identity policy suffices), so an Allow
for the bucket alone kept nobody out: only an explicit Deny does. The evaluation below follows IAM's
documented rules for the operators the policy uses: an explicit Deny wins; a condition key missing from
the request fails ArnEquals/StringEquals and satisfies ArnNotEquals/StringNotEquals; several values
in one condition match when any does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.infra import cfn

ACCOUNT = "ACCOUNT"
BUCKET = "UploadBucket.Arn"
DLQ = "IngestDeadLetterQueue.Arn"


def symbol(value: Any) -> Any:
    """Template expressions as the names of what they resolve to, so requests can name them too."""
    if isinstance(value, list):
        return [symbol(v) for v in value]
    if value == {"Ref": "AWS::AccountId"}:
        return ACCOUNT
    if value == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}:
        return DLQ
    if isinstance(value, dict) and "Fn::Sub" in value:
        bucket_name = cfn.template()["Resources"]["UploadBucket"]["Properties"]["BucketName"]["Fn::Sub"]
        sub = value["Fn::Sub"]
        if sub == ["arn:${AWS::Partition}:s3:::" + bucket_name[0], bucket_name[1]]:
            return BUCKET
    return value


@dataclass(frozen=True)
class Request:
    """One sqs:SendMessage as IAM sees it."""

    principal: str  # "service:s3.amazonaws.com" or an IAM ARN
    context: dict[str, str] = field(default_factory=dict)
    identity_allows: bool = False  # a same-account principal whose own policy grants the action


def _matches(operator: str, values: Any, present: str | None) -> bool:
    wanted = values if isinstance(values, list) else [values]
    if operator in ("ArnEquals", "StringEquals"):
        return present is not None and present in wanted
    if operator in ("ArnNotEquals", "StringNotEquals"):
        return present is None or present not in wanted
    raise AssertionError(f"operator {operator} is not modelled here; extend the evaluation first")


def _applies(statement: dict[str, Any], request: Request) -> bool:
    principal = statement["Principal"]
    if principal != "*" and f"service:{principal.get('Service')}" != request.principal:
        return False
    assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == {
        "Fn::GetAtt": ["IngestQueue", "Arn"]
    }
    return all(
        _matches(operator, symbol(values), request.context.get(key))
        for operator, keys in statement.get("Condition", {}).items()
        for key, values in keys.items()
    )


def allowed(request: Request) -> bool:
    statements = cfn.template()["Resources"]["IngestQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    applying = [s for s in statements if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applying):
        return False
    return request.identity_allows or any(s["Effect"] == "Allow" for s in applying)


def test_the_buckets_notifications_are_allowed():
    notification = Request(
        "service:s3.amazonaws.com", {"aws:SourceArn": BUCKET, "aws:SourceAccount": ACCOUNT}
    )
    assert allowed(notification)


@pytest.mark.parametrize(
    "request_",
    [
        # The attacker: an IAM principal of the account whose own policy grants sqs:SendMessage.
        Request("arn:aws:iam::ACCOUNT:user/mallory", identity_allows=True),
        Request("arn:aws:sts::ACCOUNT:assumed-role/admin/mallory", identity_allows=True),
        # Another bucket's notifications (any account), or this bucket's name claimed by another account.
        Request(
            "service:s3.amazonaws.com", {"aws:SourceArn": "arn:aws:s3:::other", "aws:SourceAccount": ACCOUNT}
        ),
        Request("service:s3.amazonaws.com", {"aws:SourceArn": BUCKET, "aws:SourceAccount": "OTHER"}),
        # Another service of the account (an SNS topic, an EventBridge rule) pointed at the queue.
        Request(
            "service:sns.amazonaws.com", {"aws:SourceArn": "arn:aws:sns:::t", "aws:SourceAccount": ACCOUNT}
        ),
    ],
    ids=["iam-user", "role-session", "other-bucket", "other-account", "other-service"],
)
def test_nobody_else_may_send_whatever_their_own_policy_grants(request_):
    assert not allowed(request_)


def test_messages_moved_back_from_the_dead_letter_queue_are_not_denied():
    """A redrive is a SendMessage on behalf of the redriving principal; when SQS names the dead-letter
    queue as its source, the deny lets it through (a person cannot set aws:SourceArn)."""
    redrive = Request(
        "arn:aws:iam::ACCOUNT:role/operator",
        {"aws:SourceArn": DLQ, "aws:SourceAccount": ACCOUNT},
        identity_allows=True,
    )
    assert allowed(redrive)
