"""Cold-start tuning: a handler's imports load without collector passes and end up frozen."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest

from landing.coldstart import quiet_imports


def test_importing_the_ingest_handler_freezes_what_it_loaded_and_leaves_the_collector_on():
    probe = "import gc, landing.handlers.ingest; print(gc.isenabled(), gc.get_freeze_count())"

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True
    )

    enabled, frozen = done.stdout.split()
    assert enabled == "True"
    # SQLAlchemy, the models and Powertools: tens of thousands of long-lived objects.
    assert int(frozen) > 20_000


# Counts the collector passes that start while a handler's quiet_imports block is open.
COLLECTIONS_DURING_IMPORTS = """
import contextlib, gc, importlib, sys
from landing import coldstart

inside = []
passes = []
original = coldstart.quiet_imports


@contextlib.contextmanager
def watched():
    with original():
        inside.append(True)
        try:
            yield
        finally:
            inside.pop()


coldstart.quiet_imports = watched
gc.callbacks.append(lambda phase, info: passes.append(1) if phase == "start" and inside else None)
importlib.import_module(sys.argv[1])
print(len(passes), gc.isenabled(), gc.get_freeze_count())
"""


@pytest.mark.parametrize("module", ["ingest", "uploads", "reconcile"])
def test_no_collector_pass_runs_while_a_handler_imports_load(module):
    done = subprocess.run(
        [sys.executable, "-c", COLLECTIONS_DURING_IMPORTS, f"landing.handlers.{module}"],
        capture_output=True,
        text=True,
        env=os.environ,
        check=True,
    )

    passes, enabled, frozen = done.stdout.split()
    # Without the pause, these imports set off about 150 passes; with it, none.
    assert int(passes) == 0
    assert enabled == "True"
    assert int(frozen) > 20_000  # the block really imported the heavy modules


def test_the_collector_is_paused_inside_the_block_and_back_on_after():
    assert gc.isenabled()
    with quiet_imports():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled():
    gc.disable()
    try:
        with quiet_imports():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_is_back_on_even_when_an_import_fails():
    assert gc.isenabled()
    try:
        with quiet_imports():
            import landing.no_such_module  # noqa: F401
    except ModuleNotFoundError:
        pass
    assert gc.isenabled()


def test_the_ingest_handler_imports_no_content_sniffing_library():
    """puremagic's signature database costs tens of ms: paid by the first sniffed upload, not by the import."""
    probe = "import sys, landing.handlers.ingest; print('puremagic' in sys.modules)"

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True
    )

    assert done.stdout.strip() == "False"
