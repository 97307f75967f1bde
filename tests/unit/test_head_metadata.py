"""HeadObject's answers as S3 Metadata's columns: restore state, encryption, multipart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from landing.s3 import head


def test_a_restore_in_progress_and_a_restored_copy():
    assert head.restore_state('ongoing-request="true"') == ("IN_PROGRESS", None)
    assert head.restore_state('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"') == (
        "COMPLETED",
        datetime(2012, 12, 21, tzinfo=UTC),
    )
    assert head.restore_state(None) == (None, None)
    assert head.restore_state('ongoing-request="false", expiry-date="not a date"') == ("COMPLETED", None)


@pytest.mark.parametrize(
    ("response", "status"),
    [
        ({"ServerSideEncryption": "AES256"}, "SSE-S3"),
        ({"ServerSideEncryption": "aws:kms"}, "SSE-KMS"),
        ({"ServerSideEncryption": "aws:kms:dsse"}, "DSSE-KMS"),
        ({"SSECustomerAlgorithm": "AES256"}, "SSE-C"),
        ({}, None),
    ],
)
def test_encryption_is_named_as_s3_metadata_names_it(response, status):
    assert head.encryption_status(response) == status


def test_a_multipart_etag_has_a_part_count():
    assert head.is_multipart("d41d8cd98f00b204e9800998ecf8427e-3") is True
    assert head.is_multipart("d41d8cd98f00b204e9800998ecf8427e") is False
    assert head.is_multipart(None) is None
