"""Why the uploads API refuses a request, as domain errors; handlers/uploads.py maps each kind to a status."""

from __future__ import annotations


class UploadError(Exception):
    """A request the API refuses: a stable error code and a human message (and when to retry, if it may)."""

    def __init__(self, code: str, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s


class Invalid(UploadError):
    """The request itself is malformed or breaks a rule about what may be uploaded."""


class Unauthorized(UploadError):
    """The caller is no usable owner."""


class NotFound(UploadError):
    """No such upload for this owner (another owner's answers the same)."""


class Conflict(UploadError):
    """The upload is in a state that does not allow this."""


class TooLarge(UploadError):
    """A size above what this owner may upload."""


class UnsupportedType(UploadError):
    """A content type (or content) the API does not take."""


class OverQuota(UploadError):
    """The owner's quota is used up for now; ``retry_after_s`` says for how long."""


class NotConfigured(UploadError):
    """The deployment lacks a setting the request needs."""


def bad_request(code: str, message: str) -> Invalid:
    return Invalid(code, message)


def not_found(upload_id: object) -> NotFound:
    return NotFound("not_found", f"no upload {str(upload_id)[:64]!r}")
