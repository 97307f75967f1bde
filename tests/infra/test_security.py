"""template.yaml resolved as CloudFormation would deploy it: secure with every parameter at its default."""

from __future__ import annotations

from typing import Any

import pytest

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


def test_the_api_function_has_reserved_concurrency_by_default_as_a_parameter():
    assert deploy().resource("UploadsFunction")["ReservedConcurrentExecutions"] == "10"  # type: ignore[index]
    assert (
        deploy(UploadsReservedConcurrency="25").resource("UploadsFunction")["ReservedConcurrentExecutions"]
        == "25"
    )  # type: ignore[index]
    assert "ReservedConcurrentExecutions" not in deploy(UploadsReservedConcurrency="0").resource(
        "UploadsFunction"
    )  # type: ignore[operator]
