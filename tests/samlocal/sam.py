"""`sam local invoke` of the built template, and what it printed: the response and the REPORT line."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import IO, Any

# The emulator's base image is x86_64 only (see infra/sam-local/base-image.sh).
ARCHITECTURE = "x86_64"


@dataclass(frozen=True)
class Invocation:
    returncode: int
    response: Any
    report: str | None
    logs: str

    @property
    def failed(self) -> bool:
        """sam local invoke exits 0 when the function raised: its error document is the response."""
        return self.report is None or (isinstance(self.response, dict) and "errorType" in self.response)


def invoke(sam: str, build_dir: Path, function: str, event: Path, env_file: Path, gateway: str) -> Invocation:
    command = [
        sam,
        "local",
        "invoke",
        function,
        "--event",
        str(event),
        *_common(build_dir, env_file, gateway),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300, check=False)
    report = re.search(r"^REPORT RequestId: .*$", result.stderr + result.stdout, re.MULTILINE)
    return Invocation(result.returncode, _response(result.stdout), report and report.group(0), result.stderr)


def start_api(sam: str, build_dir: Path, env_file: Path, gateway: str, port: int, log: IO[str]) -> Popen[str]:
    """`sam local start-api` on 127.0.0.1:port; one warm container per function, reused by requests.
    SAM cannot emulate the JWT authorizer (nor skip a conditional one): every caller is anonymous."""
    command = [
        sam, "local", "start-api", "--port", str(port), "--warm-containers", "LAZY", "--disable-authorizer",
        *_common(build_dir, env_file, gateway),
    ]  # fmt: skip
    return Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=_env())


def _common(build_dir: Path, env_file: Path, gateway: str) -> list[str]:
    return [
        "--template", str(build_dir / "template.yaml"),
        "--env-vars", str(env_file),
        "--parameter-overrides", f"Architecture={ARCHITECTURE}",
        "--skip-pull-image",
        # What Docker Desktop provides by itself; on Linux the host is the bridge's gateway.
        "--add-host", f"host.docker.internal:{gateway}",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        # Credentials SAM hands to the container; anything works for moto.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


def _response(stdout: str) -> Any:
    """The last line that parses as JSON: SAM prints the function's response last on stdout."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None
