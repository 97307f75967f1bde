"""The docs stay true: every relative link resolves, and the settings table matches the code."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from landing import cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    missing = [t for t in targets if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_readme_is_a_front_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def test_operations_lists_every_setting_as_the_code_declares_it():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main(["settings"]) == 0
    assert out.getvalue().strip() in (ROOT / "docs" / "operations.md").read_text()
