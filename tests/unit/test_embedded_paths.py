"""Where the embedded PostgreSQL keeps its data: never a predictable shared path another user prepared."""

from __future__ import annotations

import os
import stat

import pytest

from landing_local import embedded


@pytest.fixture
def long_home(tmp_path, monkeypatch):
    """A LANDING_HOME too long for a unix socket path, and a private temp root for the fallback."""
    monkeypatch.setenv("LANDING_HOME", str(tmp_path / ("h" * 120)))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(embedded.tempfile, "gettempdir", lambda: str(temp))
    return temp


def test_a_long_home_falls_back_to_a_per_user_0700_directory(long_home):
    pgdata = embedded.pgdata_dir()
    parent = long_home / f"landing-{os.getuid()}"
    assert pgdata.parent == parent
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700
    assert pgdata.name.startswith("pg-") and len(pgdata.name) == 15  # short under the real /tmp


def test_a_prepared_symlink_in_place_of_the_directory_is_refused(long_home, tmp_path):
    elsewhere = tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    (long_home / f"landing-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(RuntimeError, match="mode 0700"):
        embedded.pgdata_dir()


def test_a_directory_others_can_enter_is_refused(long_home):
    shared = long_home / f"landing-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(RuntimeError, match="mode 0700"):
        embedded.pgdata_dir()
