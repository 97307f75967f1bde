"""infra/database.yaml's stack lookups: the functions' egress reaches S3 by its prefix list only, the RDS log
group gets a retention without naming (and so replacing) the database, and the custom resource's inline code
does both against moto, answering CloudFormation as it would in Lambda."""

from __future__ import annotations

import json
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from tests.infra import cfn

REGION = "eu-west-1"
RDS_GROUP = "/aws/rds/instance/database-abc123/postgresql"


def resources() -> dict[str, Any]:
    found: dict[str, Any] = cfn.database_template()["Resources"]
    return found


# --- the template ------------------------------------------------------------------------------------------


def test_the_database_instance_is_not_named_so_upgrading_a_stack_never_replaces_it() -> None:
    """DBInstanceIdentifier is an update-requires-replacement property: the stacks created so far have a
    generated one, so naming it would replace (or, with deletion protection, fail to update) their database."""
    database = resources()["Database"]
    assert "DBInstanceIdentifier" not in database["Properties"]
    assert database["DeletionPolicy"] == database["UpdateReplacePolicy"] == "Snapshot"
    assert database["Properties"]["EnableCloudwatchLogsExports"] == ["postgresql"]


def test_the_rds_log_group_gets_the_stacks_retention_through_the_lookup() -> None:
    retention = resources()["DatabaseLogRetention"]
    assert retention["Type"] == "AWS::CloudFormation::CustomResource"
    props = retention["Properties"]
    assert props["ServiceToken"] == {"Fn::GetAtt": ["StackLookupFunction", "Arn"]}
    assert props["LogGroupName"] == {"Fn::Sub": "/aws/rds/instance/${Database}/postgresql"}
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    # The permission to touch that one group only, attached before the resource asks for it.
    assert retention["DependsOn"] == "DatabaseLogRetentionPolicy"
    policy = resources()["DatabaseLogRetentionPolicy"]["Properties"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert sorted(statement["Action"]) == ["logs:CreateLogGroup", "logs:PutRetentionPolicy"]
    assert all("/aws/rds/instance/${Database}/postgresql" in r for r in cfn.render(statement["Resource"]))


def _function_egress() -> list[dict[str, Any]]:
    rules = list(resources()["FunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"])
    for resource in cfn.resources(cfn.database_template(), "AWS::EC2::SecurityGroupEgress").values():
        if resource["Properties"]["GroupId"] == {"Ref": "FunctionSecurityGroup"}:
            rules.append(resource["Properties"])
    return rules


def test_functions_reach_s3_by_its_prefix_list_the_endpoints_and_the_proxy_and_nothing_else() -> None:
    destinations = set()
    for rule in _function_egress():
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule
        assert rule["IpProtocol"] == "tcp"
        target = rule.get("DestinationPrefixListId") or rule["DestinationSecurityGroupId"]
        destinations.add((rule["FromPort"], rule["ToPort"], json.dumps(target, sort_keys=True)))
    assert destinations == {
        (443, 443, json.dumps({"Fn::GetAtt": ["S3PrefixList", "PrefixListId"]})),
        (443, 443, json.dumps({"Ref": "EndpointSecurityGroup"})),
        (5432, 5432, json.dumps({"Ref": "ProxySecurityGroup"})),
    }
    lookup = resources()["S3PrefixList"]["Properties"]
    assert lookup["PrefixListName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}


def test_the_lookup_function_runs_outside_the_vpc_with_its_own_log_retention() -> None:
    function = resources()["StackLookupFunction"]["Properties"]
    assert "VpcConfig" not in function  # the EC2 and Logs APIs have no endpoint in the VPC
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": "StackLookupLogs"}
    assert resources()["StackLookupLogs"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# --- the inline code, run as Lambda would run it -----------------------------------------------------------


class _Answers(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(
            {"content_type": self.headers["Content-Type"], "body": json.loads(self.rfile.read(length))}
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stand-in for CloudFormation's presigned response URL: records what is PUT to it."""
    received: list[dict[str, Any]] = []
    handler = type("Answers", (_Answers,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response?X-Amz-Signature=x", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3


def inline_code() -> types.ModuleType:
    source = resources()["StackLookupFunction"]["Properties"]["Code"]["ZipFile"]
    module = types.ModuleType("index")
    exec(compile(source, "index.py", "exec"), module.__dict__)
    return module


def invoke(url: str, request: str, **properties: Any) -> None:
    event = {
        "RequestType": request,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/landing-db/abc",
        "RequestId": f"req-{request}",
        "LogicalResourceId": "Lookup",
        "ResourceType": "AWS::CloudFormation::CustomResource",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:x",
            **properties,
        },
    }
    if request != "Create":
        event["PhysicalResourceId"] = "Lookup"
    inline_code().handler(event, None)


def retention(boto3: Any, group: str) -> int | None:
    (found,) = boto3.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    value: int | None = found.get("retentionInDays")
    return value


def test_inline_code_answers_the_s3_prefix_list_id_of_the_region(
    aws: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    (expected,) = aws.client("ec2").describe_managed_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["PrefixLists"]
    invoke(url, "Create", PrefixListName=f"com.amazonaws.{REGION}.s3")
    (answer,) = received
    assert answer["content_type"] == ""  # the presigned URL is signed for an empty content type
    assert answer["body"]["Status"] == "SUCCESS", answer
    assert answer["body"]["Data"] == {"PrefixListId": expected["PrefixListId"]}
    assert answer["body"]["RequestId"] == "req-Create"
    assert answer["body"]["PhysicalResourceId"] == "Lookup"


def test_inline_code_fails_the_stack_when_no_prefix_list_has_that_name(
    aws: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    invoke(url, "Create", PrefixListName="com.amazonaws.nowhere-1.s3")
    (answer,) = received
    assert answer["body"]["Status"] == "FAILED"
    assert "0 managed prefix lists named com.amazonaws.nowhere-1.s3" in answer["body"]["Reason"]


def test_inline_code_sets_the_retention_whether_or_not_rds_created_the_group_first(
    aws: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    invoke(url, "Create", LogGroupName=RDS_GROUP, RetentionInDays="30")
    assert retention(aws, RDS_GROUP) == 30
    other = "/aws/rds/instance/database-def456/postgresql"
    aws.client("logs").create_log_group(logGroupName=other)  # RDS exported before the lookup ran
    invoke(url, "Create", LogGroupName=other, RetentionInDays="14")
    assert retention(aws, other) == 14
    assert [a["body"]["Status"] for a in received] == ["SUCCESS", "SUCCESS"]


def test_inline_code_updates_the_retention_and_deletes_nothing(
    aws: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = response_url
    invoke(url, "Create", LogGroupName=RDS_GROUP, RetentionInDays="30")
    invoke(url, "Update", LogGroupName=RDS_GROUP, RetentionInDays="365")
    assert retention(aws, RDS_GROUP) == 365
    invoke(url, "Delete", LogGroupName=RDS_GROUP, RetentionInDays="365")
    assert retention(aws, RDS_GROUP) == 365  # the database's snapshot outlives the stack; so do its logs
    assert [a["body"]["Status"] for a in received] == ["SUCCESS"] * 3
