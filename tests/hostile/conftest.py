"""Hostile-input fixtures: the handlers' log lines, captured as Powertools writes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.logs import Logs, capture_logs


@pytest.fixture
def landing_logs() -> Iterator[Logs]:
    with capture_logs() as logs:
        yield logs


@pytest.fixture(scope="module")
def s3_once() -> Iterator[object]:
    """moto S3 with the example bucket, once per module: these cases only HEAD (and get 404s)."""
    import boto3
    from moto import mock_aws

    from landing.s3 import clients

    clients.reset()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="example-bucket")
        yield client
    clients.reset()
