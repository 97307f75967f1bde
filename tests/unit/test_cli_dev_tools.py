"""The `landing` CLI without the dev package: what runs against a real database still runs, dev commands
say what to install."""

from __future__ import annotations

import sys

import pytest

from landing import cli


@pytest.fixture
def no_dev_tools(monkeypatch):
    # A None entry makes `import landing_local...` raise ModuleNotFoundError, as in an install without it.
    for name in [m for m in sys.modules if m == "landing_local" or m.startswith("landing_local.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "landing_local", None)


@pytest.mark.parametrize("argv", [["demo"], ["event", "s3-put"], ["serve"]])
def test_a_dev_command_without_the_dev_tools_says_what_to_install(no_dev_tools, monkeypatch, argv):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    # demo and serve quieten Powertools through os.environ: recorded here so the test puts them back
    # (left set, every later test's EMF metrics would be switched off).
    for name in ("POWERTOOLS_METRICS_DISABLED", "POWERTOOLS_LOG_LEVEL"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert "pip install -e '.[dev]'" in str(raised.value.code)
    assert "landing_local" in str(raised.value.code)


def test_a_database_url_needs_no_dev_tools(no_dev_tools, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+pg8000://nobody@127.0.0.1:1/none")
    assert cli._database() == "postgresql+pg8000://nobody@127.0.0.1:1/none"


def test_the_parser_builds_without_the_dev_tools(no_dev_tools):
    assert cli.parser().parse_args(["migrate"]).command == "migrate"
