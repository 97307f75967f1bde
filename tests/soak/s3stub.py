"""HeadObject answered from the soak's S3 history, inside the product's own botocore client.

Two hooks on the real client (landing.s3.clients.s3_client): a normal answer is given at
``before-call`` (parameter validation and serialisation run as usual, no HTTP is built); while the
run's throttle is on, ``before-send`` answers 503 SlowDown as an HTTP response, so botocore's own retry
policy (standard mode, 3 attempts with backoff) and its error parsing run for real, and a retry that
lands after the throttle ended gets a 200 built as HTTP headers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.soak.scenario import BUCKET, Scenario, Version


class _Empty:
    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield b""


class HeadStub:
    def __init__(self, scenario: Scenario, clock: Any, throttle_until: Any) -> None:
        from botocore.awsrequest import AWSResponse

        from landing.s3 import clients

        self.scenario = scenario
        self.clock = clock  # shared: the last S3 operation applied so far
        self.throttle_until = throttle_until  # shared: time.time() before which S3 answers 503
        self._response = AWSResponse
        self.calls = 0
        self.throttled = 0
        events = clients.s3_client().meta.events
        events.register("before-parameter-build.s3.HeadObject", self._keep_params)
        events.register("before-call.s3.HeadObject", self._answer_call)
        events.register_first("before-send.s3.HeadObject", self._answer_send)

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
        context["soak_params"] = dict(params)

    def _lookup(self, params: dict[str, Any]) -> tuple[str, str, tuple[int, Version] | None]:
        key, version = params["Key"], params.get("VersionId")
        if params["Bucket"] != BUCKET:
            return key, version or "", None
        found = self.scenario.head(key, version, self.clock.value)
        return key, version or "", found

    def _throttled(self) -> bool:
        return time.time() < self.throttle_until.value

    def _answer_call(self, context: dict[str, Any], **kwargs: Any) -> tuple[Any, dict[str, Any]] | None:
        self.calls += 1
        if self._throttled():
            return None  # to before-send: an HTTP 503 through botocore's retries
        params = context["soak_params"]
        _, _, found = self._lookup(params)
        if found is None:
            http = self._response("https://s3.amazonaws.com", 404, {}, None)
            return http, {
                "Error": {"Code": "404", "Message": "Not Found"},
                "ResponseMetadata": {"HTTPStatusCode": 404, "HTTPHeaders": {}},
            }
        op, v = found
        parsed: dict[str, Any] = {
            "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {}, "RetryAttempts": 0},
            "ETag": f'"{v.e_tag}"',
            "ContentLength": v.size,
            "ContentType": v.content_type,
            "LastModified": v.last_modified,
            "VersionId": _version_id(op),
            "Metadata": dict(v.user_metadata),
        }
        if v.storage_class != "STANDARD":
            parsed["StorageClass"] = v.storage_class  # S3 sends no storage-class header for STANDARD
        if v.checksum and params.get("ChecksumMode") == "ENABLED":
            parsed["ChecksumCRC32"] = v.checksum
        return self._response("https://s3.amazonaws.com", 200, {}, None), parsed

    def _answer_send(self, request: Any, **kwargs: Any) -> Any:
        if self._throttled():
            self.throttled += 1
            return self._response(request.url, 503, {"x-amz-request-id": "SOAKTHROTTLE"}, _Empty())
        params = _params_of(request)
        _, _, found = self._lookup(params)
        if found is None:
            return self._response(request.url, 404, {"x-amz-request-id": "SOAK"}, _Empty())
        op, v = found
        headers = {
            "ETag": f'"{v.e_tag}"',
            "Content-Length": str(v.size),
            "Content-Type": v.content_type,
            "Last-Modified": format_datetime(v.last_modified, usegmt=True),
            "x-amz-version-id": _version_id(op),
            "x-amz-request-id": "SOAK",
            **{f"x-amz-meta-{name}": value for name, value in v.user_metadata.items()},
        }
        if v.storage_class != "STANDARD":
            headers["x-amz-storage-class"] = v.storage_class
        if v.checksum and params.get("ChecksumMode") == "ENABLED":
            headers["x-amz-checksum-crc32"] = v.checksum
        return self._response(request.url, 200, headers, _Empty())


def _params_of(request: Any) -> dict[str, Any]:
    """Bucket, Key, VersionId and ChecksumMode of a path-style HeadObject request (the soak's client
    has a local endpoint, so its URLs are /bucket/key)."""
    parts = urlsplit(request.url)
    bucket, _, key = parts.path.lstrip("/").partition("/")
    query = parse_qs(parts.query)
    params: dict[str, Any] = {"Bucket": unquote(bucket), "Key": unquote(key)}
    if "versionId" in query:
        params["VersionId"] = query["versionId"][0]
    if request.headers.get("x-amz-checksum-mode") in (b"ENABLED", "ENABLED"):  # headers are bytes here
        params["ChecksumMode"] = "ENABLED"
    return params


def _version_id(op: int) -> str:
    from tests.soak.scenario import version_id

    return version_id(op)
