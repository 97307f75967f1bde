"""Cold-start tuning: a handler's imports load without collector passes and end up frozen."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

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
