"""Schemathesis against the document `landing serve` publishes (issue 29): every operation, every check
(tests/fuzz/schemathesis.toml says which expectations the document overrides, and why), a fixed seed,
stateful runs through the document's links, as an owner the way the deployed API sets it (a JWT that
landing serve's authorizer verifies and hands on as API Gateway does). A 5xx, an answer that breaks
its schema or a status the document does not list fails the build.

`make fuzz` runs the same with many more examples (FUZZ_EXAMPLES, FUZZ_SEED) before a release.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from landing_local.apigw import OPENAPI
from landing_local.authorizer import JwtAuthorizer
from tests.support.serve import landing_serve

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Quotas are per owner and fuzzing is one owner sending hundreds of uploads: lifted, so that a 429
# does not end the stateful runs at creation. Every other setting is the default the document states.
SERVE_ENV = {
    "UPLOAD_MAX_PENDING_PER_OWNER": "1000000",
    "UPLOAD_MAX_BYTES_PER_DAY": str(10**15),
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
# Links no generated request can follow: a completion is 200 only with the ETags S3 answered for
# parts really sent, which a fuzzer cannot send.
UNREACHABLE = {"POST /uploads/{id}/complete -> [200] GetUpload -> GET /uploads/{id}"}


def document_links() -> set[str]:
    links = set()
    for path, item in OPENAPI["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                for name, link in answer.get("links", {}).items():
                    target = next(
                        f"{m.upper()} {p}"
                        for p, i in OPENAPI["paths"].items()
                        for m, o in i.items()
                        if m != "parameters" and o.get("operationId") == link["operationId"]
                    )
                    links.add(f"{method.upper()} {path} -> [{status}] {name} -> {target}")
    return links


def followed_links(ndjson: Path) -> collections.Counter[str]:
    """Document links (not the ones Schemathesis infers) that stateful runs followed, with counts."""
    followed: collections.Counter[str] = collections.Counter()
    for line in ndjson.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished or finished.get("phase") != "stateful" or "recorder" not in finished:
            continue
        for case in finished["recorder"].get("cases", {}).values():
            transition = case.get("transition")
            if transition and not transition.get("is_inferred"):
                followed[transition["id"]] += 1
    return followed


@pytest.mark.slow
def test_the_api_holds_to_its_document_under_schemathesis(tmp_path):
    key = tmp_path / "jwt.key"
    key.write_text(os.urandom(32).hex())
    token = JwtAuthorizer(key.read_text()).token({"sub": "fuzzer", "exp": int(time.time()) + 3600})
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(tmp_path / "events.ndjson"),
        "--no-color",
        "--header",
        f"Authorization: Bearer {token}",
    ]
    if os.environ.get("FUZZ_EXAMPLES"):
        command += ["--max-examples", os.environ["FUZZ_EXAMPLES"]]
    if os.environ.get("FUZZ_SEED"):
        command += ["--seed", os.environ["FUZZ_SEED"]]
    with landing_serve("--jwt-secret-file", str(key), **SERVE_ENV) as served:
        started = time.monotonic()
        run = subprocess.run(
            [*command, f"{served.url}/openapi.json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=3600,
            check=False,
        )
        took = time.monotonic() - started
    output = run.stdout + run.stderr
    summary = output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-3000:]
    assert run.returncode == 0, (
        f"Schemathesis found problems:\n{output[-20000:]}\nlanding serve:\n{served.output()[-5000:]}"
    )

    followed = followed_links(tmp_path / "events.ndjson")
    links = document_links()
    assert set(followed) <= links, set(followed) - links
    missed = sorted(links - set(followed) - UNREACHABLE)
    report = f"{len(followed)} of {len(links)} document links followed in {took:.0f} s; missed: {missed}"
    print(report, summary, sep="\n")
    # Stateful runs reach past creation: get, list, complete and abort, in both APIs' shapes.
    assert len(missed) <= 2, report
