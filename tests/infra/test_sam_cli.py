"""Both templates pass `sam validate --lint` (cfn-lint, after the SAM transform for template.yaml)."""

from __future__ import annotations

import os

import pytest

from tests.infra import cfn


@pytest.mark.parametrize("path", [cfn.TEMPLATE, cfn.DATABASE_TEMPLATE], ids=["template", "database"])
def test_template_passes_sam_validate_lint(path):
    sam = cfn.sam()
    if sam is None:
        cfn.require_tool("the SAM CLI")
    result = cfn.run(
        str(sam), "validate", "--lint", "-t", str(path), env={**os.environ, "SAM_CLI_TELEMETRY": "0"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
