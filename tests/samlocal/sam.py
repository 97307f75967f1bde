"""`sam local invoke` of the built template, and what it printed: the response and the REPORT line."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def invoke(
    sam: str,
    build_dir: Path,
    function: str,
    event: Path,
    env_vars: dict[str, dict[str, str]],
    gateway: str,
    work: Path,
) -> Invocation:
    env_file = work / f"env-{function}.json"
    env_file.write_text(json.dumps(env_vars))
    command = [
        sam, "local", "invoke", function,
        "--template", str(build_dir / "template.yaml"),
        "--event", str(event),
        "--env-vars", str(env_file),
        "--parameter-overrides", f"Architecture={ARCHITECTURE}",
        "--skip-pull-image",
        # What Docker Desktop provides by itself; on Linux the host is the bridge's gateway.
        "--add-host", f"host.docker.internal:{gateway}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        # Credentials SAM hands to the container; anything works for moto.
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    report = re.search(r"^REPORT RequestId: .*$", result.stderr + result.stdout, re.MULTILINE)
    return Invocation(result.returncode, _response(result.stdout), report and report.group(0), result.stderr)


def _response(stdout: str) -> Any:
    """The last line that parses as JSON: SAM prints the function's response last on stdout."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None
