"""Least privilege: no wildcard in S3/SQS/RDS/Secrets Manager/KMS permissions, as written and as deployed."""

from __future__ import annotations

import pytest

from tests.infra import cfn


def test_template_grants_no_wildcard_on_guarded_services():
    assert cfn.iam_violations(cfn.template()) == []


def test_database_template_grants_no_wildcard_on_guarded_services():
    assert cfn.iam_violations(cfn.database_template()) == []


def test_deployed_roles_grant_no_wildcard_on_guarded_services():
    """After the SAM transform: what SAM adds for events and destinations counts too."""
    transformed = cfn.transformed_template()
    roles = cfn.resources(transformed, "AWS::IAM::Role")
    assert {
        "IngestFunctionRole",
        "UploadsFunctionRole",
        "ReconcileFunctionRole",
        "MigrateFunctionRole",
    } <= set(roles)
    assert cfn.iam_violations(transformed) == []


def _allow(action, resource):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        (_allow("s3:*", {"Fn::Sub": "${UploadBucket.Arn}/*"}), "wildcard action s3:*"),
        (_allow("s3:GetObject*", {"Fn::Sub": "${UploadBucket.Arn}/*"}), "wildcard action"),
        (_allow("s3:GetObject", "*"), "wildcard resource *"),
        (_allow("s3:GetObject", "arn:aws:s3:::*/*"), "wildcard resource"),
        (_allow("s3:ListBucket", {"Fn::Sub": "${OtherBucket.Arn}/*"}), "wildcard resource"),
        (_allow("sqs:ReceiveMessage", "arn:aws:sqs:*:123456789012:queue"), "wildcard resource"),
        (_allow("secretsmanager:GetSecretValue", "*"), "wildcard resource"),
        (_allow("rds-db:connect", "arn:aws:rds-db:us-east-1:1:dbuser:prx-1/*"), "wildcard resource"),
        (_allow("rds-db:connect", "arn:aws:rds:us-east-1:1:db-proxy:prx-1"), "does not name one db user"),
        (_allow("*", "*"), "wildcard action *"),
        (
            _allow(
                "events:PutRule",
                {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/*"},
            ),
            "wildcard resource",
        ),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "NotAction"),
    ],
)
def test_linter_flags_each_kind_of_wildcard(statement, problem):
    violations = cfn.statement_violations("Test", statement)
    assert any(problem in v for v in violations), violations


@pytest.mark.parametrize(
    "statement",
    [
        _allow(["s3:GetObject", "s3:GetObjectVersion"], {"Fn::Sub": "${UploadBucket.Arn}/*"}),
        _allow("s3:PutObject", {"Fn::Sub": "${UploadBucket.Arn}/uploads/*"}),
        _allow("sqs:ReceiveMessage", {"Fn::GetAtt": ["IngestQueue", "Arn"]}),
        _allow(
            ["events:PutRule", "events:DescribeRule"],
            {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:"
                "rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
            },
        ),
        _allow("logs:CreateLogStream", "*"),  # not a guarded service
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*"},
    ],
)
def test_linter_accepts_named_resources_and_denies(statement):
    assert cfn.statement_violations("Test", statement) == []


def test_linter_flags_sam_policy_templates_and_broad_managed_policies():
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"Policies": [{"S3ReadPolicy": {}}]}},
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "ManagedPolicyArns": [
                        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
                    ]
                },
            },
        }
    }
    violations = cfn.iam_violations(template)
    assert any("SAM policy template" in v for v in violations)
    assert any("AWSLambdaSQSQueueExecutionRole" in v for v in violations)


def _function_statements(name):
    (policy,) = [p for p in cfn.template()["Resources"][name]["Properties"]["Policies"] if "Statement" in p]
    return policy["Statement"]


def _grants(name):
    return {
        (action, resource)
        for statement in _function_statements(name)
        for action in cfn.as_list(statement["Action"])
        for resource in cfn.render(statement["Resource"])
    }


def test_get_object_is_granted_on_the_upload_bucket_only():
    for name in ("IngestFunction", "ReconcileFunction"):
        objects = {r for a, r in _grants(name) if a in ("s3:GetObject", "s3:GetObjectVersion")}
        assert objects == {"${UploadBucket.Arn}/*"}, name
    assert not any(a.startswith("s3:Get") for a, _ in _grants("UploadsFunction"))


def test_object_tags_are_read_on_the_upload_bucket_objects_only():
    for name in ("IngestFunction", "ReconcileFunction"):
        tags = {(a, r) for a, r in _grants(name) if "Tagging" in a}
        assert tags == {
            ("s3:GetObjectTagging", "${UploadBucket.Arn}/*"),
            ("s3:GetObjectVersionTagging", "${UploadBucket.Arn}/*"),
        }, name


def test_uploads_function_writes_under_the_uploads_prefix_only():
    s3 = {(a, r) for a, r in _grants("UploadsFunction") if a.startswith("s3:")}
    assert {r for _, r in s3} == {"${UploadBucket.Arn}/uploads/*"}
    # Besides S3 it only publishes lifecycle events (test_template checks that grant's bus).
    assert {a for a, _ in _grants("UploadsFunction")} - {a for a, _ in s3} == {"events:PutEvents"}
    assert {a for a, _ in s3} == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    }


def test_reconcile_function_lists_and_reads_the_bucket():
    assert _grants("ReconcileFunction") == {
        ("s3:ListBucket", "${UploadBucket.Arn}"),
        ("s3:ListBucketVersions", "${UploadBucket.Arn}"),
        ("s3:GetObject", "${UploadBucket.Arn}/*"),
        ("s3:GetObjectVersion", "${UploadBucket.Arn}/*"),
        ("s3:GetObjectTagging", "${UploadBucket.Arn}/*"),
        ("s3:GetObjectVersionTagging", "${UploadBucket.Arn}/*"),
    }


def test_ingest_function_consumes_only_its_queue():
    sqs = {(a, r) for a, r in _grants("IngestFunction") if a.startswith("sqs:")}
    assert {r for _, r in sqs} == {"${IngestQueue.Arn}"}
    assert {a for a, _ in sqs} == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }


def test_rds_connect_is_granted_for_the_proxy_user_only():
    policy = cfn.template()["Resources"]["DatabaseConnectPolicy"]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds-db:connect"
    created, existing = cfn.render(statement["Resource"])
    assert created.endswith(":dbuser:${ProxyId}/${User}")
    assert existing.endswith(":dbuser:${ExistingDatabaseResourceId}/${ExistingDatabaseIamUser}")
    proxy_id = statement["Resource"]["Fn::If"][1]["Fn::Sub"][1]
    assert proxy_id["ProxyId"] == {"Fn::GetAtt": ["DatabaseStack", "Outputs.ProxyResourceId"]}
    assert policy["Condition"] == "UseIamAuth"


def test_every_function_gets_the_database_policies_it_may_need():
    for name, function in cfn.resources(cfn.template(), "AWS::Serverless::Function").items():
        conditional = [p["Fn::If"] for p in function["Properties"]["Policies"] if "Fn::If" in p]
        connect = ["UseIamAuth", {"Ref": "DatabaseConnectPolicy"}, {"Ref": "AWS::NoValue"}]
        if name == "MigrateFunction":
            # The created database's master user for migrations; an existing database's one user otherwise.
            connect = ["CreateDatabase", {"Ref": "DatabaseMigrationConnectPolicy"}, {"Fn::If": connect}]
        assert connect in conditional, name
        assert ["UseSecret", {"Ref": "DatabaseSecretPolicy"}, {"Ref": "AWS::NoValue"}] in conditional, name
