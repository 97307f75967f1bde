"""The page follows the API's published bounds (GET /s3/limits): what its POST form cannot take goes in parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import MIB, SERVER_ENV, pick, wait_status
from tests.conftest import rows
from tests.support.serve import Served, landing_serve

pytest.importorskip("playwright.sync_api", reason="the Playwright driver is not installed")


@pytest.fixture(scope="module")
def served(playwright: Any) -> Iterator[Served]:
    # The API's POST form takes at most 5 MiB here, below the page's own 10 MiB preference.
    with landing_serve(**SERVER_ENV, MULTIPART_THRESHOLD=str(5 * MIB)) as server:
        yield server


def test_a_file_above_the_apis_single_request_bound_goes_in_parts(page, stopwatch):
    pick(page, "eight.csv", 8 * MIB, "text/csv")

    item = wait_status(page, "eight.csv", "uploaded")
    stopwatch.lap("to uploaded (2 parts)", item)
    assert rows("SELECT method, status, size FROM uploads") == [
        {"method": "MULTIPART", "status": "uploaded", "size": 8 * MIB}
    ]
