"""The uploads API over HTTP for the client: JSON requests with the caller's bearer token, errors raised with the API's message."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

TIMEOUT_S = 60.0


class ApiError(Exception):
    """A refused or failed request: the HTTP status and the API's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Api:
    url: str
    token: str | None = None

    def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        target = self.url.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(target, data=data, method=method)  # noqa: S310 - the user's API URL
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            raise _refusal(error) from None

    def limits(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", "/s3/limits")
        return answer

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", "/uploads", request)
        return answer

    def upload(self, upload_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("GET", f"/uploads/{quote(upload_id)}")
        return answer

    def list_parts(self, upload_id: str, key: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.call(
            "GET", f"/s3/multipart/{quote(upload_id)}", query={"key": key}
        )
        return answer

    def sign_part(self, upload_id: str, key: str, number: int) -> str:
        answer = self.call("GET", f"/s3/multipart/{quote(upload_id)}/{number}", query={"key": key})
        return str(answer["url"])

    def complete(self, upload_id: str, parts: list[tuple[int, str]]) -> dict[str, Any]:
        body = {"parts": [{"part_number": number, "etag": etag} for number, etag in parts]}
        answer: dict[str, Any] = self.call("POST", f"/uploads/{quote(upload_id)}/complete", body)
        return answer


def _refusal(error: urllib.error.HTTPError) -> ApiError:
    try:
        detail = json.loads(error.read()).get("error") or {}
    except (ValueError, AttributeError):
        detail = {}
    return ApiError(
        error.code, str(detail.get("code", "http_error")), str(detail.get("message", error.reason))
    )


def send(method: str, url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
    """Send bytes to a presigned S3 URL; the response headers (ETag), or ApiError with S3's answer."""
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - a URL the API signed
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S * 5) as answer:  # noqa: S310
            return dict(answer.headers.items())
    except urllib.error.HTTPError as error:
        raise ApiError(error.code, "s3_refused", error.read()[:500].decode("utf-8", "replace")) from None
