"""Cold-start tuning for handler modules: no garbage-collector passes while their imports load."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_imports() -> Iterator[None]:
    """Pause the cyclic garbage collector while the block imports, then freeze what it loaded.

    Importing SQLAlchemy's ORM, the mapped models and Powertools allocates ~100,000 objects, and
    the collector walks them again and again while they load: about a sixth of the ingest
    handler's import time. What a handler imports lives as long as its execution environment, so
    it goes to the permanent generation (``gc.freeze``), which later collections, during
    invocations, skip as well. The few hundred cycles of import-time garbage stay with it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
