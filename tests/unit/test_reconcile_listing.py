"""Listing pages: current state per key, page coverage, resume markers, lazy requests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from landing.s3 import listing

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


class FakeClient:
    """Answers paginate() with the given raw pages, recording the parameters and each request."""

    def __init__(self, *raw_pages: dict[str, Any], versioning: str | None = None) -> None:
        self.raw_pages = raw_pages
        self.versioning = versioning
        self.operation: str | None = None
        self.params: dict[str, Any] = {}
        self.requests = 0

    def get_paginator(self, operation: str) -> FakeClient:
        self.operation = operation
        return self

    def paginate(self, **params: Any):
        self.params = params
        for raw in self.raw_pages:
            self.requests += 1
            yield raw

    def get_bucket_versioning(self, Bucket: str) -> dict[str, Any]:
        return {"Status": self.versioning} if self.versioning else {}


def version(key: str, vid: str, latest: bool, etag: str = '"e"') -> dict[str, Any]:
    return {"Key": key, "VersionId": vid, "IsLatest": latest, "ETag": etag, "Size": 1, "LastModified": T0}


def test_v2_pages_carry_unquoted_etags_and_the_last_key_as_upper():
    client = FakeClient(
        {"Contents": [{"Key": "a", "ETag": '"e1"', "Size": 1, "LastModified": T0}], "IsTruncated": True},
        {"Contents": [{"Key": "b", "ETag": '"e2-3"', "Size": 2, "LastModified": T0}], "IsTruncated": False},
    )
    pages = list(listing.pages(client, "bkt", "p/", versioned=False, after_key="0", page_size=10))
    assert client.operation == "list_objects_v2"
    assert client.params == {
        "Bucket": "bkt",
        "Prefix": "p/",
        "StartAfter": "0",
        "PaginationConfig": {"PageSize": 10},
    }
    assert [(p.upper, [(e.key, e.e_tag, e.size) for e in p.entries]) for p in pages] == [
        ("a", [("a", "e1", 1)]),
        (None, [("b", "e2-3", 2)]),
    ]


def test_versions_give_the_latest_version_or_delete_marker_of_each_key():
    client = FakeClient(
        {
            "Versions": [version("a", "a2", True), version("a", "a1", False), version("c", "null", True)],
            "DeleteMarkers": [{"Key": "b", "VersionId": "b3", "IsLatest": True, "LastModified": T0}],
            "IsTruncated": True,
            "NextKeyMarker": "c",
        },
        # The rest of c's versions spill onto the next page: not current, skipped.
        {"Versions": [version("c", "c0", False), version("d", "d1", True)], "IsTruncated": False},
    )
    first, last = listing.pages(client, "bkt", versioned=True, after_key="0")
    assert client.operation == "list_object_versions"
    assert client.params["KeyMarker"] == "0"
    assert [(e.key, e.version_id, e.is_delete_marker) for e in first.entries] == [
        ("a", "a2", False),
        ("b", "b3", True),
        ("c", None, False),  # the "null" version: no version
    ]
    assert first.upper == "c"
    assert [(e.key, e.version_id) for e in last.entries] == [("d", "d1")]
    assert last.upper is None


def test_the_marker_key_is_not_listed_again_on_resume():
    client = FakeClient(
        {"Versions": [version("k", "2", True), version("l", "1", True)], "IsTruncated": False}
    )
    (page,) = listing.pages(client, "bkt", versioned=True, after_key="k")
    assert [e.key for e in page.entries] == ["l"]


def test_an_empty_truncated_page_is_merged_into_the_next():
    client = FakeClient(
        {"IsTruncated": True},
        {"Contents": [{"Key": "z", "ETag": '"e"', "Size": 1, "LastModified": T0}], "IsTruncated": False},
    )
    pages = list(listing.pages(client, "bkt", versioned=False))
    assert [(p.upper, len(p.entries)) for p in pages] == [(None, 1)]


def test_pages_are_requested_one_at_a_time_as_they_are_consumed():
    raw = {"Contents": [{"Key": "a", "ETag": '"e"', "Size": 1, "LastModified": T0}], "IsTruncated": True}
    client = FakeClient(raw, raw, raw)
    pages = listing.pages(client, "bkt", versioned=False)
    assert client.requests == 0
    next(pages)
    assert client.requests == 1


@pytest.mark.parametrize(("status", "versioned"), [("Enabled", True), ("Suspended", True), (None, False)])
def test_versioning_status_decides_the_api(status, versioned):
    assert listing.is_versioned(FakeClient(versioning=status), "bkt") is versioned


def test_without_permission_to_read_versioning_the_versions_api_is_used():
    from botocore.exceptions import ClientError

    class Denied(FakeClient):
        def get_bucket_versioning(self, Bucket: str) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDenied"}}, "GetBucketVersioning")

    assert listing.is_versioned(Denied(), "bkt") is True


def test_page_size_is_checked():
    with pytest.raises(ValueError, match="page_size"):
        next(listing.pages(FakeClient(), "bkt", versioned=False, page_size=1001))
