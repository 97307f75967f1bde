"""`landing invoke`: run a function's handler in-process the way `sam local invoke` runs it in a container."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import resource
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from landing.lambda_context import LocalContext

# Used when template.yaml is not at hand (an installed package run outside the repository).
DEFAULT_HANDLERS = {
    "IngestFunction": "landing.handlers.ingest.handler",
    "UploadsFunction": "landing.handlers.uploads.handler",
    "ReconcileFunction": "landing.handlers.reconcile.handler",
    "MigrateFunction": "landing.handlers.migrate.handler",
}
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 512


class InvokeError(ValueError):
    """The function or its environment file cannot be used."""


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    handler: str
    timeout_s: float
    memory_mb: int


@dataclass
class InvokeContext(LocalContext):
    """LocalContext plus the attributes the Lambda runtime's context also carries."""

    identity: Any = None
    client_context: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{self.function_name}"
        day = datetime.now(UTC).strftime("%Y/%m/%d")
        self.log_stream_name = self.log_stream_name or f"{day}/[$LATEST]{uuid.uuid4().hex}"


def _template_functions(template: Path) -> dict[str, FunctionConfig]:
    """Handler, Timeout and MemorySize of each function in a SAM template (Globals applied)."""
    import yaml  # a dev dependency; only read when template.yaml is there

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    # Intrinsics (!Ref, !Sub, ...) are not needed for these three literal properties.
    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    data = yaml.load(template.read_text(), Loader=Loader)  # noqa: S506 - a SafeLoader subclass
    defaults = (data.get("Globals") or {}).get("Function") or {}
    found = {}
    for name, item in (data.get("Resources") or {}).items():
        if item.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **(item.get("Properties") or {})}
        found[name] = FunctionConfig(
            name=name,
            handler=str(props.get("Handler") or DEFAULT_HANDLERS.get(name, "")),
            timeout_s=float(props.get("Timeout") or DEFAULT_TIMEOUT_S),
            memory_mb=int(props.get("MemorySize") or DEFAULT_MEMORY_MB),
        )
    return found


def function_config(name: str, template: Path | None = None) -> FunctionConfig:
    template = template or Path("template.yaml")
    functions: dict[str, FunctionConfig] = {}
    if template.exists():
        with contextlib.suppress(ImportError):
            functions = _template_functions(template)
    if not functions:
        functions = {
            n: FunctionConfig(n, h, DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_MB) for n, h in DEFAULT_HANDLERS.items()
        }
    if name not in functions:
        raise InvokeError(f"unknown function {name!r}; choose from {', '.join(sorted(functions))}")
    return functions[name]


def apply_env_vars(path: str | None, function: str) -> None:
    """A `sam local invoke --env-vars` file: "Parameters" for every function, then the function's own."""
    if not path:
        return
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InvokeError(f"cannot read --env-vars {path}: {error}") from None
    if not isinstance(data, dict):
        raise InvokeError(f"--env-vars {path} must be a JSON object of sections")
    for section in ("Parameters", function):
        values = data.get(section) or {}
        if not isinstance(values, dict):
            raise InvokeError(f"--env-vars {path}: section {section!r} must map names to values")
        for name, value in values.items():
            # As sam local does: an empty value leaves the variable as it was.
            if value is not None and value != "":
                os.environ[name] = str(value)


@contextlib.contextmanager
def logs_to(stream: TextIO) -> Iterator[None]:
    """Send log records and printed EMF metrics to ``stream`` so stdout carries only the response."""
    handlers = [
        h
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        if isinstance(logger, logging.Logger)
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and h.stream in (sys.stdout, sys.__stdout__)
    ]
    previous = [h.setStream(stream) for h in handlers]
    try:
        with contextlib.redirect_stdout(stream):
            yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old or sys.stdout)


def failed(response: Any) -> bool:
    """A response that reports failure the way its event source understands it."""
    if not isinstance(response, dict):
        return False
    if response.get("batchItemFailures"):
        return True  # SQS retries these messages
    status = response.get("statusCode")
    if isinstance(status, int) and status >= 500:
        return True
    return response.get("Status") == "FAILED"  # custom resource answer


@dataclass
class Outcome:
    response: Any = None
    error: BaseException | None = None
    duration_ms: float = 0.0
    timed_out: bool = False


def invoke(config: FunctionConfig, event: Any, stdout: TextIO, stderr: TextIO) -> int:
    """Import and run the handler; the response (or error) on stdout, logs on stderr; 0 only on success."""
    module_name, function_name = config.handler.rsplit(".", 1)
    with logs_to(stderr):
        module = importlib.import_module(module_name)
    handler = getattr(module, function_name)
    context = InvokeContext(
        function_name=config.name, memory_limit_in_mb=config.memory_mb, timeout_s=config.timeout_s
    )
    request_id = context.aws_request_id
    print(f"START RequestId: {request_id} Version: $LATEST", file=stderr)
    outcome = Outcome()
    started = time.perf_counter()
    with logs_to(stderr):
        try:
            outcome.response = handler(event, context)
        except Exception as error:
            outcome.error = error
            traceback.print_exc(file=stderr)
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    outcome.timed_out = outcome.duration_ms > config.timeout_s * 1000
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"END RequestId: {request_id}", file=stderr)
    print(
        f"REPORT RequestId: {request_id}\tDuration: {outcome.duration_ms:.2f} ms\t"
        f"Memory Size: {config.memory_mb} MB\tMax Memory Used: {max_rss_mb} MB",
        file=stderr,
    )
    if outcome.timed_out:
        # In Lambda the runtime would have been stopped at the timeout; report what it would.
        message = f"Task timed out after {config.timeout_s:.2f} seconds"
        print(json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message}), file=stdout)
        return 1
    if outcome.error is not None:
        body = {
            "errorMessage": str(outcome.error),
            "errorType": type(outcome.error).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_tb(outcome.error.__traceback__),
        }
        print(json.dumps(body), file=stdout)
        return 1
    print(json.dumps(outcome.response, default=str), file=stdout)
    return 1 if failed(outcome.response) else 0
