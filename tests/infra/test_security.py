"""template.yaml resolved as CloudFormation would deploy it: secure with every parameter at its default."""

from __future__ import annotations

from typing import Any

import pytest

from landing import settings
from tests.infra import cfn
from tests.infra.resolve import Resolved

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_EXAMPLE"


def deploy(**parameters: str) -> Resolved:
    return Resolved(cfn.template(), **parameters)


def routes(stack: Resolved) -> dict[str, dict[str, Any]]:
    return {r["RouteKey"]: r for r in stack.resources("AWS::ApiGatewayV2::Route").values()}


def uploads_environment(stack: Resolved) -> dict[str, Any]:
    variables: dict[str, Any] = stack.resource("UploadsFunction")["Environment"]["Variables"]  # type: ignore[index]
    return variables


def test_default_deploy_is_valid_and_its_api_is_not_anonymous():
    stack = deploy()
    assert stack.rule_violations() == []
    assert routes(stack), "the API has routes"
    for key, route in routes(stack).items():
        assert route["AuthorizationType"] == "AWS_IAM", key
    assert uploads_environment(stack)["UPLOADS_ALLOW_ANONYMOUS"] == "false"


def test_with_an_issuer_every_route_requires_a_jwt():
    stack = deploy(JwtIssuer=ISSUER, JwtAudience="client-id")
    assert stack.rule_violations() == []
    for key, route in routes(stack).items():
        assert (route["AuthorizationType"], route["AuthorizerId"]) == (
            "JWT",
            {"Ref": "UploadsApiAuthorizer"},
        ), key
    assert uploads_environment(stack)["UPLOADS_ALLOW_ANONYMOUS"] == "false"


def test_anonymous_mode_is_explicit_and_caps_size_and_rate():
    stack = deploy(
        AllowAnonymousUploads="true", AnonymousUploadMaxSize="1000", AnonymousThrottlingRateLimit="3"
    )
    assert stack.rule_violations() == []
    assert {route["AuthorizationType"] for route in routes(stack).values()} == {"NONE"}
    variables = uploads_environment(stack)
    assert (variables["UPLOADS_ALLOW_ANONYMOUS"], variables["ANONYMOUS_UPLOAD_MAX_SIZE"]) == ("true", "1000")
    settings = stack.resource("UploadsApiStage")["DefaultRouteSettings"]  # type: ignore[index]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == ("3", "3")
    assert deploy(AllowAnonymousUploads="true", JwtIssuer=ISSUER).rule_violations() != []


def test_default_deploy_allows_no_cross_origin_access():
    stack = deploy()
    assert "CorsConfiguration" not in stack.resource("UploadsApi")  # type: ignore[operator]
    assert "CorsConfiguration" not in stack.resource("UploadBucket")  # type: ignore[operator]
    assert uploads_environment(stack)["CORS_ALLOW_ORIGINS"] == ""


@pytest.mark.parametrize("origins", ["*", "https://app.example.com,*"])
def test_a_wildcard_origin_is_refused_by_the_template(origins):
    assert deploy(CorsAllowedOrigins=origins).rule_violations() != []


def test_named_origins_reach_the_api_the_bucket_and_the_function():
    origins = ["https://app.example.com", "https://admin.example.com"]
    stack = deploy(CorsAllowedOrigins=",".join(origins))
    assert stack.rule_violations() == []
    assert stack.resource("UploadsApi")["CorsConfiguration"]["AllowOrigins"] == origins  # type: ignore[index]
    (rule,) = stack.resource("UploadBucket")["CorsConfiguration"]["CorsRules"]  # type: ignore[index]
    assert rule["AllowedOrigins"] == origins and "*" not in rule["AllowedHeaders"]
    assert uploads_environment(stack)["CORS_ALLOW_ORIGINS"] == ",".join(origins)


def test_the_bucket_lets_a_browser_send_every_header_a_presigned_put_requires():
    from tests.unit.test_uploads_rules import signed_put

    stack = deploy(CorsAllowedOrigins="https://app.example.com")
    (rule,) = stack.resource("UploadBucket")["CorsConfiguration"]["CorsRules"]  # type: ignore[index]
    allowed = [h.lower() for h in rule["AllowedHeaders"]]
    for name in signed_put(metadata={"dept": "x"}).headers:
        name = name.lower()
        assert name in allowed or any(a.endswith("*") and name.startswith(a[:-1]) for a in allowed), name


def test_per_owner_quotas_are_template_parameters_the_api_function_reads():
    defaults = uploads_environment(deploy())
    assert defaults["UPLOAD_MAX_PENDING_PER_OWNER"] == "100"
    assert defaults["UPLOAD_MAX_BYTES_PER_DAY"] == str(50 * 1024**3)
    chosen = uploads_environment(deploy(UploadMaxPendingPerOwner="5", UploadMaxBytesPerDay="1048576"))
    assert (chosen["UPLOAD_MAX_PENDING_PER_OWNER"], chosen["UPLOAD_MAX_BYTES_PER_DAY"]) == ("5", "1048576")
    quotas = {k: chosen[k] for k in ("UPLOAD_MAX_PENDING_PER_OWNER", "UPLOAD_MAX_BYTES_PER_DAY")}
    loaded = settings.load({**quotas, "DATABASE_URL": "postgresql+pg8000://u@localhost/db"})
    assert (loaded.upload_max_pending_per_owner, loaded.upload_max_bytes_per_day) == (5, 1048576)


def test_the_api_function_has_reserved_concurrency_by_default_as_a_parameter():
    assert deploy().resource("UploadsFunction")["ReservedConcurrentExecutions"] == "10"  # type: ignore[index]
    assert (
        deploy(UploadsReservedConcurrency="25").resource("UploadsFunction")["ReservedConcurrentExecutions"]
        == "25"
    )  # type: ignore[index]
    assert "ReservedConcurrentExecutions" not in deploy(UploadsReservedConcurrency="0").resource(
        "UploadsFunction"
    )  # type: ignore[operator]


def test_only_migrations_connect_as_the_schema_owner_and_the_functions_as_the_dml_user():
    stack = deploy()
    functions = {
        name: [p["Ref"] for p in props["Policies"] if isinstance(p, dict) and "Ref" in p]
        for name, props in stack.resources("AWS::Serverless::Function").items()
    }
    assert functions.pop("MigrateFunction") == ["DatabaseMigrationConnectPolicy"]
    assert functions and all(policies == ["DatabaseConnectPolicy"] for policies in functions.values())
    db = cfn.database_template()
    assert db["Outputs"]["DatabaseUser"]["Value"] == {"Ref": "ApplicationUser"}
    assert db["Outputs"]["MigrationUser"]["Value"] == {"Ref": "DatabaseUser"}
    migrate = stack.resource("MigrateFunction")["Environment"]["Variables"]  # type: ignore[index]
    assert migrate["DATABASE_APP_ROLE"] == {"Fn::GetAtt": ["DatabaseStack", "Outputs.DatabaseUser"]}
    assert "Outputs.MigrationUser" in str(migrate["DATABASE_URL"])


def test_the_s3_endpoint_reaches_the_stacks_bucket_and_cloudformation_responses_only():
    endpoint = cfn.database_template()["Resources"]["S3GatewayEndpoint"]["Properties"]
    resources = [r for st in endpoint["PolicyDocument"]["Statement"] for r in cfn.render(st["Resource"])]
    assert resources and all(
        "${UploadBucketName}" in r or "cloudformation-custom-resource-response-" in r for r in resources
    )
    assert all("*" not in r.split(":::", 1)[1].split("/", 1)[0] for r in resources)


def test_every_log_group_has_a_retention():
    for template in (cfn.template(), cfn.database_template()):
        for name, group in cfn.resources(template, "AWS::Logs::LogGroup").items():
            assert "RetentionInDays" in group["Properties"], name
    # RDS creates its own group: the stack lookup gives it the retention (tests/infra/test_stack_lookups.py).
    rds = cfn.database_template()["Resources"]["DatabaseLogRetention"]["Properties"]
    assert rds["RetentionInDays"] == {"Ref": "LogRetentionDays"}
