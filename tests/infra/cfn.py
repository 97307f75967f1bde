"""CloudFormation templates as plain data: a YAML loader for the short intrinsic tags, and an IAM linter."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DATABASE_TEMPLATE = ROOT / "infra" / "database.yaml"
ENV_JSON = ROOT / "infra" / "env.json"
SAM_VENV = ROOT / ".venv-sam"
BUILD_DIR = ROOT / ".aws-sam" / "build"

# Services whose permissions must name their resources (the least-privilege rule).
GUARDED_SERVICES = frozenset({"s3", "sqs", "rds", "rds-db", "secretsmanager", "kms", "events"})
# AWS managed policies SAM attaches that touch none of the guarded services.
ALLOWED_MANAGED_POLICIES = frozenset(
    {
        "service-role/AWSLambdaBasicExecutionRole",
        "service-role/AWSLambdaVPCAccessExecutionRole",
        "AWSXrayWriteOnlyAccess",
    }
)
# The only wildcards allowed: object keys under this stack's buckets (arn:...:bucket/prefix/*: the
# upload bucket, and the inventory bucket S3 Inventory writes its reports to), and
# the EventBridge rule GuardDuty Malware Protection creates for itself, whose name GuardDuty generates
# after this documented prefix (its role must be able to manage that rule and no other).
OBJECT_WILDCARD = re.compile(r"^\$\{(UploadBucket|InventoryBucket)\.Arn\}(/[A-Za-z0-9_.\-]+)*/\*$")
GUARDDUTY_RULE_WILDCARD = re.compile(
    r"^arn:\$\{AWS::Partition\}:events:\$\{AWS::Region\}:\$\{AWS::AccountId\}:"
    r"rule/DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3\*$"
)


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_CfnLoader)
    return data


@cache
def template() -> dict[str, Any]:
    return load(TEMPLATE)


@cache
def database_template() -> dict[str, Any]:
    return load(DATABASE_TEMPLATE)


def resources(tpl: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in tpl["Resources"].items() if r["Type"] == type_}


def render(value: Any) -> list[str]:
    """An intrinsic as the strings it can become (both branches of Fn::If), with ${...} placeholders."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in render(item)]
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return [] if arg == "AWS::NoValue" else ["${" + arg + "}"]
        if key == "Fn::GetAtt":
            return ["${" + ".".join(arg) + "}"]
        if key == "Fn::Sub":
            return [arg if isinstance(arg, str) else arg[0]]
        if key == "Fn::If":
            return render(arg[1]) + render(arg[2])
        if key == "Fn::Join":
            return [arg[0].join(s for part in arg[1] for s in render(part))]
    return [json.dumps(value)]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: Any) -> Iterator[dict[str, Any]]:
    """Statements of a policy document, looking through Fn::If branches."""
    for statement in as_list(document.get("Statement", [])):
        if isinstance(statement, dict) and "Fn::If" in statement:
            for branch in statement["Fn::If"][1:]:
                if isinstance(branch, dict) and "Effect" in branch:
                    yield branch
        else:
            yield statement


POLICY_RESOURCES = frozenset(
    {"AWS::IAM::ManagedPolicy", "AWS::IAM::Policy", "AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy"}
)


@dataclass(frozen=True)
class PolicyDocument:
    where: str
    document: dict[str, Any]


def policy_documents(tpl: dict[str, Any]) -> Iterator[PolicyDocument | str]:
    """Every policy a template grants; a str is a policy that cannot be inspected here (e.g. a SAM template)."""
    for name, resource in tpl["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            for policy in as_list(props.get("Policies", [])):
                if isinstance(policy, dict) and "Fn::If" in policy:
                    continue  # a managed policy of this template, attached conditionally (checked itself)
                if isinstance(policy, dict) and "Statement" in policy:
                    yield PolicyDocument(f"{name}.Policies", policy)
                else:
                    yield f"{name}: policy {policy!r} is a SAM policy template or managed policy name"
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield PolicyDocument(f"{name}.{policy['PolicyName']}", policy["PolicyDocument"])
        elif kind in POLICY_RESOURCES:
            yield PolicyDocument(name, props["PolicyDocument"])


def statement_violations(where: str, statement: dict[str, Any]) -> list[str]:
    """Wildcards in guarded services' actions or resources of an Allow statement."""
    if statement.get("Effect") != "Allow":
        return []  # a Deny with wildcards only takes permissions away
    problems = []
    if "NotAction" in statement or "NotResource" in statement:
        problems.append(f"{where}: NotAction/NotResource grants everything else")
    actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
    guarded = [a for a in actions if a == "*" or a.split(":", 1)[0] in GUARDED_SERVICES]
    for action in guarded:
        if "*" in action:
            problems.append(f"{where}: wildcard action {action}")
    if not guarded:
        return problems
    for resource in render(statement.get("Resource", [])):
        if "*" not in resource:
            continue
        only_s3 = all(a.startswith("s3:") for a in guarded)
        if only_s3 and OBJECT_WILDCARD.match(resource):
            continue
        if all(a.startswith("events:") and a != "events:PutEvents" for a in guarded) and (
            GUARDDUTY_RULE_WILDCARD.match(resource)
        ):
            continue
        problems.append(f"{where}: wildcard resource {resource} for {', '.join(guarded)}")
    for action in guarded:
        if action == "rds-db:connect":
            for resource in render(statement.get("Resource", [])):
                if ":dbuser:" not in resource:
                    problems.append(f"{where}: rds-db:connect on {resource} does not name one db user")
    return problems


def iam_violations(tpl: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for entry in policy_documents(tpl):
        if isinstance(entry, str):
            problems.append(entry)
            continue
        for statement in statements(entry.document):
            problems.extend(statement_violations(entry.where, statement))
    for name, role in resources(tpl, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            for rendered in render(arn):
                if rendered.startswith("${"):
                    continue  # a policy of this template, checked above
                short = rendered.split(":policy/", 1)[-1]
                if short not in ALLOWED_MANAGED_POLICIES:
                    problems.append(
                        f"{name}: managed policy {short} is not known to spare the guarded services"
                    )
    return problems


def sam() -> Path | None:
    """The SAM CLI the Makefile installs; absent only outside `make` (CI always has it)."""
    path = SAM_VENV / "bin" / "sam"
    if path.exists():
        return path
    found = shutil.which("sam")
    return Path(found) if found else None


def require_tool(what: str) -> None:
    """Skip on a developer machine without the tool; in CI a missing tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: run `make templates`")
    pytest.skip(f"{what} missing: run `make templates`")


@cache
def transformed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform (what CloudFormation deploys), via SAM's own translator."""
    python = SAM_VENV / "bin" / "python"
    if not python.exists():
        require_tool("the SAM translator (.venv-sam)")
    result = subprocess.run(
        [str(python), str(Path(__file__).with_name("sam_translate.py")), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(f"SAM transform failed:\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@cache
def python312() -> str | None:
    """The Lambda runtime's Python, found as the Makefile finds it (pyenv's 3.12 first)."""
    candidates = []
    try:
        out = subprocess.run(
            ["pyenv", "which", "python3.12"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYENV_VERSION": "3.12.1"},
        )
        candidates.append(out.stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates.append(shutil.which("python3.12") or "")
    for candidate in filter(None, candidates):
        # A pyenv shim exists even where it cannot run 3.12: only a working interpreter counts.
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def run(*args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=timeout, **kwargs)
