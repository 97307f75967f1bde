"""template.yaml and infra/database.yaml: the deployable shape the design and a cautious platform team expect."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement

from landing import settings
from tests.infra import cfn

FUNCTIONS = {
    "IngestFunction": "landing.handlers.ingest.handler",
    "UploadsFunction": "landing.handlers.uploads.handler",
    "ReconcileFunction": "landing.handlers.reconcile.handler",
    "MigrateFunction": "landing.handlers.migrate.handler",
}


def resources(type_: str) -> dict[str, dict[str, Any]]:
    return cfn.resources(cfn.template(), type_)


def props(name: str) -> dict[str, Any]:
    return cfn.template()["Resources"][name]["Properties"]


def globals_() -> dict[str, Any]:
    return cfn.template()["Globals"]["Function"]


def parameter(name: str) -> dict[str, Any]:
    return cfn.template()["Parameters"][name]


def function_timeout(name: str) -> int:
    return int(props(name).get("Timeout", globals_()["Timeout"]))


# --- functions and the package ---------------------------------------------------------------------------


def test_functions_and_handlers_match_the_design():
    functions = resources("AWS::Serverless::Function")
    assert {name: f["Properties"]["Handler"] for name, f in functions.items()} == FUNCTIONS
    assert globals_()["CodeUri"] == "functions/"
    assert globals_()["Runtime"] == "python3.12"
    assert all("CodeUri" not in f["Properties"] for f in functions.values())


@pytest.mark.parametrize("handler", FUNCTIONS.values())
def test_every_handler_exists_in_the_package(handler):
    module, function = handler.rsplit(".", 1)
    path = cfn.ROOT / "functions" / Path(*module.split(".")).with_suffix(".py")
    assert path.exists(), f"{handler}: {path} is missing"
    assert re.search(rf"^def {function}\(", path.read_text(), re.M), f"{handler}: no {function}()"


def test_environment_contract_is_set_for_every_function():
    variables = globals_()["Environment"]["Variables"]
    for name in ("DATABASE_URL", "BUCKET_NAME", "DATABASE_SECRET_ARN", "DATABASE_IAM_AUTH"):
        assert name in variables, name
    assert variables["DATABASE_TLS"] == "verify-full"
    assert variables["BUCKET_NAME"] == {"Ref": "UploadBucket"}
    created, existing = cfn.render(variables["DATABASE_URL"])
    assert created == "postgresql+pg8000://${User}@${Endpoint}:5432/${Name}"
    assert existing == "${ExistingDatabaseUrl}"
    assert props("ReconcileFunction")["Environment"]["Variables"]["BUCKET_NAME"] == {"Ref": "UploadBucket"}


def test_created_database_url_passes_lambda_settings_validation():
    env = {
        "DATABASE_URL": "postgresql+pg8000://landing@landing-5b9d6c70.proxy-abc.us-east-1.rds.amazonaws.com:5432/landing",
        "DATABASE_IAM_AUTH": "true",
        "DATABASE_SECRET_ARN": "",
        "DATABASE_TLS": "verify-full",
        "DATABASE_CA_BUNDLE": "",
        "AWS_LAMBDA_FUNCTION_NAME": "landing-IngestFunction-abc",
    }
    assert settings.load(env).database_iam_auth is True


def test_powertools_logging_metrics_and_tracing_come_from_parameters():
    variables = globals_()["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "landing"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_LOGGER_SAMPLE_RATE"] == {"Ref": "LogSampleRate"}
    assert globals_()["Tracing"] == {"Ref": "TracingMode"}
    assert parameter("LogSampleRate")["MaxValue"] == 1


def test_logs_are_json_filtered_by_level_and_lambda_writes_only_its_warnings():
    # Lambda's own START/END/REPORT are INFO system logs: at WARN a successful invocation writes
    # none of them (docs/benchmarks.md's cost table counts 0 platform bytes because of this).
    logging = globals_()["LoggingConfig"]
    assert logging["LogFormat"] == "JSON"
    assert logging["SystemLogLevel"] == "WARN"
    assert logging["ApplicationLogLevel"] == {"Fn::If": ["LogLevelIsWarning", "WARN", {"Ref": "LogLevel"}]}


def test_every_function_logs_to_a_group_with_retention():
    for name in FUNCTIONS:
        group = props(name)["LoggingConfig"]["LogGroup"]["Ref"]
        assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}


# --- bucket -----------------------------------------------------------------------------------------------


def test_bucket_is_private_encrypted_versioned_and_aborts_stale_multipart_uploads():
    bucket = props("UploadBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    lifecycle = bucket["LifecycleConfiguration"]["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") for r in lifecycle)
    assert cfn.template()["Resources"]["UploadBucket"]["DeletionPolicy"] == "Retain"


def test_bucket_cors_allows_browser_uploads_and_exposes_the_etag():
    condition, configured, _ = props("UploadBucket")["CorsConfiguration"]["Fn::If"]
    (rule,) = configured["CorsRules"]
    assert condition == "HasCorsOrigins"
    assert {"POST", "PUT"} <= set(rule["AllowedMethods"])
    assert "ETag" in rule["ExposedHeaders"]
    assert rule["AllowedOrigins"] == {"Ref": "CorsAllowedOrigins"}


def test_bucket_policy_denies_requests_without_tls():
    document = props("UploadBucketPolicy")["PolicyDocument"]
    denies = [s for s in cfn.statements(document) if s["Effect"] == "Deny"]
    insecure = [
        s for s in denies if s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert insecure, "no statement denies aws:SecureTransport=false"
    assert set(cfn.render(insecure[0]["Resource"])) == {"${UploadBucket.Arn}", "${UploadBucket.Arn}/*"}
    assert props("UploadBucketPolicy")["Bucket"] == {"Ref": "UploadBucket"}


# --- the event path ---------------------------------------------------------------------------------------


def test_bucket_notifies_the_ingest_queue_of_creates_deletes_and_metadata_updates():
    configs = props("UploadBucket")["NotificationConfiguration"]["QueueConfigurations"]
    # Exactly the types ingest records (replication and reduced-redundancy events are not sent).
    assert {c["Event"] for c in configs} == {
        "s3:ObjectCreated:*",
        "s3:ObjectRemoved:*",
        "s3:ObjectTagging:*",
        "s3:ObjectAcl:Put",
        "s3:ObjectRestore:*",
        "s3:LifecycleTransition",
        "s3:IntelligentTiering",
    }
    assert all(c["Queue"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]} for c in configs)
    # S3 verifies it may send before it accepts the notification configuration.
    assert cfn.template()["Resources"]["UploadBucket"]["DependsOn"] == "IngestQueuePolicy"


def test_only_this_bucket_in_this_account_may_send_to_the_ingest_queue():
    statements = props("IngestQueuePolicy")["PolicyDocument"]["Statement"]
    (statement,) = [s for s in statements if s["Effect"] == "Allow"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    condition = statement["Condition"]
    assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    source = condition["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    bucket_name = props("UploadBucket")["BucketName"]["Fn::Sub"]
    # The same name expression: the policy names exactly the bucket this stack creates.
    assert source[0] == "arn:${AWS::Partition}:s3:::" + bucket_name[0]
    assert source[1] == bucket_name[1]


def test_ingest_queue_visibility_outlasts_six_function_timeouts_and_the_batching_window():
    visibility = props("IngestQueue")["VisibilityTimeout"]
    window = parameter("IngestBatchingWindowSeconds")["MaxValue"]
    assert visibility >= 6 * function_timeout("IngestFunction") + window


def test_ingest_queue_sends_poison_messages_to_the_dead_letter_queue():
    redrive = props("IngestQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "IngestMaxReceiveCount"}
    assert (
        props("IngestDeadLetterQueue")["MessageRetentionPeriod"]
        > props("IngestQueue")["MessageRetentionPeriod"]
    )
    for queue in ("IngestQueue", "IngestDeadLetterQueue", "AsyncFailureQueue"):
        assert props(queue)["SqsManagedSseEnabled"] is True


def test_ingest_event_source_reports_partial_failures_with_bounded_concurrency():
    (mapping,) = [
        r["Properties"]
        for r in resources("AWS::Lambda::EventSourceMapping").values()
        if r["Properties"]["FunctionName"] == {"Ref": "IngestFunction"}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "IngestBatchingWindowSeconds"}
    assert parameter("IngestBatchingWindowSeconds")["Default"] > 0
    assert mapping["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "IngestMaximumConcurrency"}
    concurrency = parameter("IngestMaximumConcurrency")
    assert concurrency["Type"] == "Number"
    assert concurrency["MinValue"] == 2  # Lambda's lower bound for MaximumConcurrency


def test_dead_letter_queue_depth_raises_an_alarm():
    alarms = [
        a["Properties"]
        for a in resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"]["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["IngestDeadLetterQueue", "QueueName"]}
    ]
    (alarm,) = alarms
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def failure_destinations(template: dict[str, Any]) -> list[str]:
    """Functions with no way to keep a failed event: no DLQ, no on-failure destination."""
    problems = []
    queues = cfn.resources(template, "AWS::SQS::Queue")
    for name, function in cfn.resources(template, "AWS::Serverless::Function").items():
        properties = function["Properties"]
        destination = properties.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure")
        if not destination and not properties.get("DeadLetterQueue"):
            problems.append(f"{name}: no DeadLetterQueue or EventInvokeConfig OnFailure destination")
        for event_name, event in properties.get("Events", {}).items():
            if (
                event["Type"] in ("Schedule", "EventBridgeRule")
                and "DeadLetterConfig" not in event["Properties"]
            ):
                problems.append(f"{name}.{event_name}: the rule has no DeadLetterConfig")
            if event["Type"] == "SQS":
                problems.append(
                    f"{name}.{event_name}: use an explicit EventSourceMapping (SAM grants sqs:* on *)"
                )
    for name, mapping in cfn.resources(template, "AWS::Lambda::EventSourceMapping").items():
        source = mapping["Properties"]["EventSourceArn"]
        queue = queues.get(source.get("Fn::GetAtt", [""])[0]) if isinstance(source, dict) else None
        if queue is None or "deadLetterTargetArn" not in queue["Properties"].get("RedrivePolicy", {}):
            problems.append(f"{name}: its queue has no redrive policy to a dead-letter queue")
    return problems


def test_every_function_keeps_its_failed_events():
    assert failure_destinations(cfn.template()) == []


def test_the_failure_check_notices_a_function_without_a_destination():
    template = json.loads(json.dumps(cfn.template()))
    del template["Resources"]["UploadsFunction"]["Properties"]["EventInvokeConfig"]
    del template["Resources"]["IngestQueue"]["Properties"]["RedrivePolicy"]
    del template["Resources"]["ReconcileFunction"]["Properties"]["Events"]["ReconcileSchedule"]["Properties"][
        "DeadLetterConfig"
    ]
    problems = failure_destinations(template)
    assert any(p.startswith("UploadsFunction:") for p in problems)
    assert any(p.startswith("IngestQueueEventSource:") for p in problems)
    assert any(p.startswith("ReconcileFunction.ReconcileSchedule:") for p in problems)


def test_schedule_rules_may_send_their_failures_to_the_failure_queue():
    (statement,) = props("AsyncFailureQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    sources = cfn.render(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    rules = {
        f"{name}{event_name}"
        for name, function in resources("AWS::Serverless::Function").items()
        for event_name, event in function["Properties"].get("Events", {}).items()
        if event["Type"] == "Schedule"
    } | {
        name
        for name, rule in resources("AWS::Events::Rule").items()
        if "DeadLetterConfig" in rule["Properties"]["Targets"][0]
    }
    assert {re.sub(r"^\$\{(\w+)\.Arn\}$", r"\1", s) for s in sources if s != "AWS::NoValue"} == rules


# --- uploads API --------------------------------------------------------------------------------------------


def test_uploads_api_routes_reach_the_uploads_function():
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in resources("AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == {
        "POST /uploads",
        "GET /uploads",
        "GET /uploads/{id}",
        "POST /uploads/{id}/complete",
        "DELETE /uploads/{id}",
        "GET /objects",
        "GET /s3/limits",
        "GET /s3/params",
        "POST /s3/multipart",
        "GET /s3/multipart/{uploadId}",
        "GET /s3/multipart/{uploadId}/{partNumber}",
        "POST /s3/multipart/{uploadId}/complete",
        "DELETE /s3/multipart/{uploadId}",
    }
    (integration_name,) = resources("AWS::ApiGatewayV2::Integration")
    integration = props(integration_name)
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["UploadsFunction", "Arn"]}
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["TimeoutInMillis"] > function_timeout("UploadsFunction") * 1000
    for route in routes.values():
        assert route["Target"] == {"Fn::Sub": f"integrations/${{{integration_name}}}"}
        assert route["AuthorizationType"] == {
            "Fn::If": ["HasJwtAuthorizer", "JWT", {"Fn::If": ["AnonymousUploads", "NONE", "AWS_IAM"]}]
        }
        assert route["AuthorizerId"]["Fn::If"][1] == {"Ref": "UploadsApiAuthorizer"}
    assert props("UploadsApi")["ProtocolType"] == "HTTP"


def test_cors_lets_a_page_elsewhere_drive_uppys_routes_with_a_bearer_token():
    """Uppy's calls from another origin: GET/POST/DELETE with Authorization and a JSON Content-Type; the
    parts and forms go to the bucket, whose ETag a part's upload must expose."""
    from landing.uploads.api import cors

    api = props("UploadsApi")["CorsConfiguration"]["Fn::If"][1]
    assert {"authorization", "content-type"} <= {h.lower() for h in api["AllowHeaders"]}
    assert {"GET", "POST", "DELETE", "OPTIONS"} <= set(api["AllowMethods"])
    (bucket,) = props("UploadBucket")["CorsConfiguration"]["Fn::If"][1]["CorsRules"]
    assert {"POST", "PUT"} <= set(bucket["AllowedMethods"]) and "ETag" in bucket["ExposedHeaders"]
    config = cors()
    assert config is None or {"Authorization", "Content-Type"} <= set(config.allow_headers)


def test_sam_local_start_api_reads_the_http_api_routes():
    """SAM CLI picks one API reader by the first API-shaped resource: it must be the ApiGatewayV2 one,
    or `sam local start-api` sees only the functions' (absent) Api events and serves nothing."""
    api_shaped = {
        "AWS::Serverless::Function",
        "AWS::Serverless::Api",
        "AWS::Serverless::HttpApi",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Route",
    }
    first = next(r["Type"] for r in cfn.template()["Resources"].values() if r["Type"] in api_shaped)
    assert first == "AWS::ApiGatewayV2::Api"
    permission = props("UploadsApiInvokePermission")
    assert permission["FunctionName"] == {"Ref": "UploadsFunction"}
    assert permission["Principal"] == "apigateway.amazonaws.com"


def test_anonymous_callers_are_refused_unless_anonymous_mode_is_chosen():
    variables = props("UploadsFunction")["Environment"]["Variables"]
    assert variables["UPLOADS_ALLOW_ANONYMOUS"] == {"Fn::If": ["AnonymousUploads", "true", "false"]}
    assert variables["CORS_ALLOW_ORIGINS"] == {"Fn::Join": [",", {"Ref": "CorsAllowedOrigins"}]}
    cors = props("UploadsApi")["CorsConfiguration"]["Fn::If"]
    assert cors[0] == "HasCorsOrigins" and cors[1]["AllowOrigins"] == {"Ref": "CorsAllowedOrigins"}


def test_jwt_authorizer_is_optional_and_configured_by_issuer_and_audience():
    authorizer = cfn.template()["Resources"]["UploadsApiAuthorizer"]
    assert authorizer["Condition"] == "HasJwtAuthorizer"
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Issuer": {"Ref": "JwtIssuer"},
        "Audience": {"Ref": "JwtAudience"},
    }
    assert parameter("JwtIssuer")["Default"] == ""
    assert cfn.template()["Conditions"]["HasJwtAuthorizer"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]
    }


def test_api_stage_is_throttled_and_access_logged():
    stage = props("UploadsApiStage")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"]["Fn::If"][2] == {
        "Ref": "ApiThrottlingRateLimit"
    }
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["UploadsApiLogs", "Arn"]}
    assert "$context.requestId" in stage["AccessLogSettings"]["Format"]


def test_pending_uploads_expire_on_a_schedule():
    event = props("UploadsFunction")["Events"]["ExpireUploads"]
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == {"Ref": "UploadExpirySchedule"}
    sample = json.loads((cfn.ROOT / "tests" / "events" / "uploads-expire-schedule.json").read_text())
    assert (sample["source"], sample["detail-type"]) == ("aws.events", "Scheduled Event")


def test_reconcile_schedule_is_disabled_unless_enabled_by_parameter():
    event = props("ReconcileFunction")["Events"]["ReconcileSchedule"]
    assert event["Type"] == "Schedule"
    assert event["Properties"]["State"] == {"Fn::If": ["ReconcileEnabled", "ENABLED", "DISABLED"]}
    assert parameter("EnableReconcile")["Default"] == "false"
    assert cfn.template()["Conditions"]["ReconcileEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableReconcile"}, "true"]
    }


# --- migrations ---------------------------------------------------------------------------------------------


def test_migrations_run_before_any_function_takes_traffic():
    migrations = cfn.template()["Resources"]["DatabaseMigrations"]
    assert migrations["Type"].startswith("Custom::")
    assert migrations["Properties"]["ServiceToken"] == {"Ref": "MigrateFunction.Alias"}
    # A new function version (new code, maybe new migrations) changes the resource, so it runs again.
    assert migrations["Properties"]["CodeVersion"] == {"Ref": "MigrateFunction.Version"}
    assert props("MigrateFunction")["AutoPublishAlias"]
    assert 0 < migrations["Properties"]["ServiceTimeout"] <= 3600
    assert migrations["Properties"]["ServiceTimeout"] > function_timeout("MigrateFunction")
    for name in ("IngestFunction", "UploadsFunction", "ReconcileFunction"):
        assert cfn.template()["Resources"][name]["DependsOn"] == "DatabaseMigrations", name


# --- database -----------------------------------------------------------------------------------------------


def test_database_is_created_by_the_nested_stack_or_taken_from_parameters():
    stack = cfn.template()["Resources"]["DatabaseStack"]
    assert stack["Type"] == "AWS::Serverless::Application"
    assert stack["Condition"] == "CreateDatabase"
    assert stack["Properties"]["Location"] == "infra/database.yaml"
    outputs = cfn.database_template()["Outputs"]
    used = set(re.findall(r"\"DatabaseStack\", \"Outputs\.(\w+)\"", json.dumps(cfn.template())))
    assert used and used <= set(outputs)
    for name in (
        "ExistingDatabaseUrl",
        "ExistingDatabaseSecretArn",
        "ExistingDatabaseIamAuth",
        "ExistingSubnetIds",
    ):
        assert name in cfn.template()["Parameters"]
    vpc = globals_()["VpcConfig"]["Fn::If"]
    assert vpc[0] == "InVpc" and vpc[2] == {"Ref": "AWS::NoValue"}


def db_props(name: str) -> dict[str, Any]:
    return cfn.database_template()["Resources"][name]["Properties"]


def test_database_only_accepts_tls_and_is_private_and_encrypted():
    assert db_props("DatabaseParameterGroup")["Parameters"]["rds.force_ssl"] == "1"
    database = db_props("Database")
    assert database["DBParameterGroupName"] == {"Ref": "DatabaseParameterGroup"}
    assert database["PubliclyAccessible"] is False
    assert database["StorageEncrypted"] is True
    # RDS creates and rotates the master password; no template or parameter ever holds it.
    assert database["ManageMasterUserPassword"] is True and "MasterUserPassword" not in database
    assert database["EnableIAMDatabaseAuthentication"] is True
    assert cfn.database_template()["Resources"]["Database"]["DeletionPolicy"] == "Snapshot"


def test_proxy_requires_tls_and_iam_authentication():
    proxy = db_props("DatabaseProxy")
    assert proxy["RequireTLS"] is True
    (auth,) = proxy["Auth"]
    assert auth["IAMAuth"] == "REQUIRED"
    assert auth["SecretArn"] == {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
    assert proxy["DefaultAuthScheme"] == "IAM_AUTH"
    assert not cfn.resources(cfn.database_template(), "AWS::SecretsManager::Secret")
    assert db_props("DatabaseProxyTargetGroup")["DBInstanceIdentifiers"] == [{"Ref": "Database"}]


def test_database_network_is_private_with_an_s3_gateway_endpoint():
    template = cfn.database_template()
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not kinds & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"}
    for subnet in cfn.resources(template, "AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    endpoints = cfn.resources(template, "AWS::EC2::VPCEndpoint")
    (endpoint,) = [e for e in endpoints.values() if e["Properties"]["VpcEndpointType"] == "Gateway"]
    assert endpoint["Properties"]["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
    assert endpoint["Properties"]["RouteTableIds"] == [{"Ref": "PrivateRouteTable"}]


def test_database_accepts_connections_from_the_proxy_only():
    ingress = [
        r["Properties"]
        for r in cfn.resources(cfn.database_template(), "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Ref": "DatabaseSecurityGroup"}
    ]
    assert ingress == [
        {
            "GroupId": {"Ref": "DatabaseSecurityGroup"},
            "Description": "PostgreSQL from the proxy only",
            "IpProtocol": "tcp",
            "FromPort": 5432,
            "ToPort": 5432,
            "SourceSecurityGroupId": {"Ref": "ProxySecurityGroup"},
        }
    ]
    assert "SecurityGroupIngress" not in db_props("DatabaseSecurityGroup")


# --- local invoke files and the artifact's requirements -----------------------------------------------------


def declared_variables(function: str) -> set[str]:
    own = props(function).get("Environment", {}).get("Variables", {})
    return set(globals_()["Environment"]["Variables"]) | set(own)


def test_env_json_only_sets_variables_the_template_declares():
    """sam local invoke --env-vars ignores variables a function does not declare."""
    env = json.loads(cfn.ENV_JSON.read_text())
    for section, variables in env.items():
        functions = FUNCTIONS if section == "Parameters" else [section]
        for function in functions:
            assert function in FUNCTIONS, section
            assert set(variables) <= declared_variables(function), (
                function,
                set(variables) - declared_variables(function),
            )


def test_env_json_points_at_a_local_database_the_settings_accept_under_sam_local():
    variables = json.loads(cfn.ENV_JSON.read_text())["Parameters"]
    env = {**variables, "AWS_SAM_LOCAL": "true", "AWS_LAMBDA_FUNCTION_NAME": "IngestFunction"}
    loaded = settings.load(env)
    assert loaded.database_is_local
    assert loaded.database_tls == "disable"


def _requirements() -> dict[str, Requirement]:
    lines = (cfn.ROOT / "functions" / "requirements.txt").read_text().splitlines()
    parsed = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {r.name.lower(): r for r in parsed}


def test_artifact_requirements_pin_exactly_the_runtime_dependencies():
    project = tomllib.loads((cfn.ROOT / "pyproject.toml").read_text())["project"]
    declared = {Requirement(d).name.lower(): Requirement(d) for d in project["dependencies"]}
    pinned = _requirements()
    assert set(pinned) == set(declared)
    for name, requirement in pinned.items():
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{name} is not pinned"
        assert declared[name].specifier.contains(spec.version), (
            f"{name}=={spec.version} outside {declared[name]}"
        )


def test_rules_reject_a_half_described_existing_database_before_creating_anything():
    database_rules = {"ExistingDatabaseIsDescribed", "VpcNeedsSecurityGroups", "IamAuthIsScoped"}
    rules = {name: rule for name, rule in cfn.template()["Rules"].items() if name in database_rules}
    assert set(rules) == database_rules
    for rule in rules.values():
        assert '{"Fn::Equals": [{"Ref": "CreateDatabase"}, "false"]}' in json.dumps(rule["RuleCondition"])
    asserted = json.dumps([rule["Assertions"] for rule in rules.values()])
    for parameter_name in (
        "ExistingDatabaseUrl",
        "ExistingDatabaseSecretArn",
        "ExistingSecurityGroupIds",
        "ExistingDatabaseResourceId",
        "ExistingDatabaseIamUser",
    ):
        assert parameter_name in asserted, parameter_name


def test_database_network_reaches_eventbridge_through_an_interface_endpoint():
    template = cfn.database_template()
    endpoint = cfn.resources(template, "AWS::EC2::VPCEndpoint")["EventsInterfaceEndpoint"]["Properties"]
    assert endpoint["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.events"}
    assert endpoint["PrivateDnsEnabled"] is True
    group = cfn.resources(template, "AWS::EC2::SecurityGroup")["EndpointSecurityGroup"]["Properties"]
    assert [(r["FromPort"], r["SourceSecurityGroupId"]) for r in group["SecurityGroupIngress"]] == [
        (443, {"Ref": "FunctionSecurityGroup"})
    ]


def test_only_the_functions_that_change_uploads_publish_and_only_to_the_bus():
    functions = cfn.resources(cfn.template(), "AWS::Serverless::Function")
    publishers = {}
    for name, function in functions.items():
        for policy in function["Properties"].get("Policies", []):
            for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
                if "events:PutEvents" in cfn.as_list(statement["Action"]):
                    publishers[name] = statement["Resource"]
    bus = {
        "Fn::If": [
            "CreateEventBus",
            {"Fn::GetAtt": ["EventBus", "Arn"]},
            {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
            },
        ]
    }
    assert publishers == {"IngestFunction": bus, "UploadsFunction": bus}
    for name in publishers:
        variables = functions[name]["Properties"]["Environment"]["Variables"]
        assert variables["EVENT_BUS_NAME"] == {
            "Fn::If": ["CreateEventBus", {"Ref": "EventBus"}, {"Ref": "EventBusName"}]
        }
    assert "EVENT_BUS_NAME" not in str(functions["ReconcileFunction"]["Properties"].get("Environment"))


def test_an_outbox_older_than_the_threshold_alarms():
    alarm = cfn.resources(cfn.template(), "AWS::CloudWatch::Alarm")["EventOutboxAgeAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"]) == (
        "OutboxOldestAgeSeconds",
        {"Ref": "EventBacklogAlarmSeconds"},
    )


def test_accepted_bodies_that_stay_replaced_pass_after_pass_alarm():
    alarm = cfn.resources(cfn.template(), "AWS::CloudWatch::Alarm")["AcceptedBodyReplacedAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == (
        "AcceptedBodiesReplaced",
        "Minimum",
        0,
    )
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["EvaluationPeriods"] >= 2


# --- malware protection -------------------------------------------------------------------------------------

MALWARE_RESOURCES = {
    "MalwareProtectionRole",
    "MalwareProtectionPlan",
    "MalwareScanResultRule",
    "MalwareScanResultPermission",
}


def test_malware_protection_is_optional_and_off_by_default():
    assert parameter("EnableMalwareProtection")["Default"] == "false"
    assert parameter("RequireCleanScan")["Default"] == "false"
    template = cfn.template()
    assert template["Conditions"]["MalwareProtection"] == {
        "Fn::Equals": [{"Ref": "EnableMalwareProtection"}, "true"]
    }
    for name in MALWARE_RESOURCES:
        assert template["Resources"][name]["Condition"] == "MalwareProtection", name
    rule = template["Rules"]["CleanScanNeedsScanning"]
    assert rule["Assertions"][0]["Assert"] == {"Fn::Equals": [{"Ref": "EnableMalwareProtection"}, "true"]}
    assert globals_()["Environment"]["Variables"]["REQUIRE_CLEAN_SCAN"] == {"Ref": "RequireCleanScan"}


def test_the_plan_scans_the_whole_upload_bucket_and_tags_results():
    plan = props("MalwareProtectionPlan")
    assert plan["ProtectedResource"] == {"S3Bucket": {"BucketName": {"Ref": "UploadBucket"}}}
    assert plan["Actions"] == {"Tagging": {"Status": "ENABLED"}}
    assert plan["Role"] == {"Fn::GetAtt": ["MalwareProtectionRole", "Arn"]}
    trust = props("MalwareProtectionRole")["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "malware-protection-plan.guardduty.amazonaws.com"}


def test_scan_results_reach_the_ingest_function_with_retries_and_a_dead_letter_queue():
    rule = props("MalwareScanResultRule")
    assert rule["EventPattern"]["source"] == ["aws.guardduty"]
    assert rule["EventPattern"]["detail-type"] == ["GuardDuty Malware Protection Object Scan Result"]
    assert rule["EventPattern"]["detail"] == {"s3ObjectDetails": {"bucketName": [{"Ref": "UploadBucket"}]}}
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["IngestFunction", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["AsyncFailureQueue", "Arn"]}}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    permission = props("MalwareScanResultPermission")
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": ["MalwareScanResultRule", "Arn"]}


def test_bucket_policy_denies_reading_objects_guardduty_found_infected():
    document = props("UploadBucketPolicy")["PolicyDocument"]
    (deny,) = [s for s in cfn.statements(document) if s.get("Sid") == "DenyReadingInfectedObjects"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert set(deny["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert deny["Condition"] == {
        "StringEquals": {"s3:ExistingObjectTag/GuardDutyMalwareScanStatus": "THREATS_FOUND"}
    }
    (tags,) = [s for s in cfn.statements(document) if s.get("Sid") == "OnlyGuardDutyTagsScanResults"]
    assert tags["Condition"]["StringNotEquals"]["aws:PrincipalArn"] == {
        "Fn::GetAtt": ["MalwareProtectionRole", "Arn"]
    }


def test_daily_inventory_of_every_version_is_written_to_a_private_bucket_when_enabled():
    assert parameter("EnableDailyInventory")["Default"] == "false"
    condition, configurations, _ = props("UploadBucket")["InventoryConfigurations"]["Fn::If"]
    assert condition == "DailyInventory"
    (inventory,) = configurations
    assert (inventory["ScheduleFrequency"], inventory["IncludedObjectVersions"]) == ("Daily", "All")
    assert inventory["Destination"]["Format"] == "CSV"
    assert {"Size", "LastModifiedDate", "ETag"} <= set(inventory["OptionalFields"])
    # What reconcile --inventory fills S3 Metadata's columns from.
    assert {
        "StorageClass",
        "IsMultipartUploaded",
        "EncryptionStatus",
        "BucketKeyStatus",
        "ChecksumAlgorithm",
    } <= set(inventory["OptionalFields"])
    bucket = cfn.template()["Resources"]["InventoryBucket"]
    assert bucket["Condition"] == "DailyInventory"
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    (writer,) = [
        s for s in props("InventoryBucketPolicy")["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    assert writer["Principal"] == {"Service": "s3.amazonaws.com"}
    assert writer["Condition"]["ArnLike"]["aws:SourceArn"] == {"Fn::GetAtt": ["UploadBucket", "Arn"]}


def test_journal_retention_reaches_the_scheduled_pass():
    env = props("UploadsFunction")["Environment"]["Variables"]
    assert env["JOURNAL_RETENTION_DAYS"] == {"Ref": "JournalRetentionDays"}
    assert parameter("JournalRetentionDays")["Default"] == ""


def test_only_the_publishing_functions_may_put_events_on_the_stacks_bus():
    """Same-account principals need no grant from the bus to PutEvents: only an explicit deny stops a
    forged `Upload Completed`. The roles spared are exactly those of the functions that publish."""
    resource = cfn.template()["Resources"]["EventBusPolicy"]
    assert (resource["Type"], resource["Condition"]) == ("AWS::Events::EventBusPolicy", "CreateEventBus")
    policy = resource["Properties"]
    assert policy["EventBusName"] == {"Ref": "EventBus"}
    statement = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "events:PutEvents",
    )
    assert statement["Resource"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
    publishers = [
        name
        for name, function in cfn.resources(cfn.template(), "AWS::Serverless::Function").items()
        for policy in function["Properties"].get("Policies", [])
        if isinstance(policy, dict)
        for s in policy.get("Statement", [])
        if "events:PutEvents" in cfn.as_list(s["Action"])
    ]
    assert statement["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": [{"Fn::GetAtt": [f"{name}Role", "Arn"]} for name in publishers]}
    }
    assert publishers == ["IngestFunction", "UploadsFunction"]


def test_only_a_malware_protection_plan_of_this_account_may_assume_the_scanning_role():
    (trust,) = props("MalwareProtectionRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:guardduty:${AWS::Region}:${AWS::AccountId}:malware-protection-plan/*"
            }
        },
    }


@pytest.mark.parametrize("template", ["template.yaml", "infra/database.yaml"])
def test_every_checkov_finding_left_open_says_why(template):
    """make checkov fails on any finding not skipped; a skip is an argued decision, not a mute button."""
    loaded = cfn.load(cfn.ROOT / template)
    skips = [
        (name, skip)
        for name, resource in loaded["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) >= 60, (name, skip)


def test_the_databases_own_log_leaves_out_the_values_of_failed_rows():
    """PostgreSQL logs an error's DETAIL (the conflicting key, the failing row) unless terse."""
    template = cfn.database_template()
    group = cfn.resources(template, "AWS::RDS::DBParameterGroup")["DatabaseParameterGroup"]["Properties"]
    assert group["Parameters"]["log_error_verbosity"] == "terse"
