"""The uploads API's routes: what each reads from the request and which use case it runs, in one table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import CORSConfig
from aws_lambda_powertools.metrics import MetricUnit
from sqlalchemy.orm import Session

from landing.observability import logger, metrics
from landing.s3 import clients
from landing.settings import Settings, SettingsError, get_settings
from landing.uploads import browse, companion, intents, multipart
from landing.uploads.errors import UploadError

Answer = dict[str, Any] | list[Any]


def cors() -> CORSConfig | None:
    """The API's CORS rules: the origins CORS_ALLOW_ORIGINS names, none when it names none."""
    try:
        origins = list(get_settings().cors_allow_origins)
    except SettingsError:
        return None  # every request answers not_configured; no origin needs to read that
    # With no origin named, the "" entry matches no browser's Origin: no cross-origin access at all.
    origins = origins or [""]
    return CORSConfig(
        allow_origin=origins[0],
        extra_origins=origins[1:] or None,
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )


@dataclass(frozen=True, slots=True)
class Request:
    """One call, as the handler read it: who calls, the path's parameters, the query and the JSON body."""

    owner: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    body: object
    settings: Settings


# A use case in the caller's unit of work (its session; None for a route without one). A refusal
# returned, not raised, is one whose decision must be committed first (a multipart upload rejected at
# completion), then answered.
Operation = Callable[[Any, Request], Answer | UploadError]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    operation: Operation
    status: int = 200
    reads_body: bool = False
    # False: the route answers from the settings alone, without a unit of work.
    database: bool = True


def _requested(answer: Answer, upload_id: str | None = None, method: str = "") -> Answer:
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    if upload_id is not None:
        logger.info("upload requested", extra={"upload_id": upload_id, "method": method})
    return answer


def _create(session: Session, r: Request) -> Answer:
    answer = intents.create(session, clients.signing_client(), r.settings, r.owner, r.body)
    return _requested(answer, answer["id"], answer["method"])


def _params(session: Session, r: Request) -> Answer:
    return _requested(companion.params(session, clients.signing_client(), r.settings, r.owner, r.query))


def _create_multipart(session: Session, r: Request) -> Answer:
    answer = companion.create_multipart(session, clients.signing_client(), r.settings, r.owner, r.body)
    return _requested(answer, answer["uploadId"], "MULTIPART")


ROUTES = (
    Route("POST", "/uploads", _create, status=201, reads_body=True),
    Route("GET", "/uploads", lambda s, r: browse.list_uploads(s, r.owner, r.query)),
    Route("GET", "/uploads/<upload_id>", lambda s, r: intents.get(s, r.owner, r.params["upload_id"])),
    Route(
        "POST",
        "/uploads/<upload_id>/complete",
        lambda s, r: intents.complete(
            s, clients.signing_client(), r.settings, r.owner, r.params["upload_id"], r.body
        ),
        reads_body=True,
    ),
    Route(
        "DELETE",
        "/uploads/<upload_id>",
        lambda s, r: intents.abort(s, clients.signing_client(), r.owner, r.params["upload_id"]),
    ),
    Route("GET", "/objects", lambda s, r: browse.list_objects(s, r.settings, r.owner, r.query)),
    # Companion's S3 routes (what Uppy's @uppy/aws-s3 calls with companionEndpoint): docs/uppy.md.
    Route("GET", "/s3/limits", lambda s, r: companion.limits(r.settings, r.owner), database=False),
    Route("GET", "/s3/params", _params),
    Route("POST", "/s3/multipart", _create_multipart, reads_body=True),
    Route(
        "GET",
        "/s3/multipart/<upload_id>",
        lambda s, r: multipart.list_parts(
            s, clients.signing_client(), r.owner, r.params["upload_id"], r.query
        ),
    ),
    Route(
        "GET",
        "/s3/multipart/<upload_id>/<part_number>",
        lambda s, r: multipart.sign_part(
            s,
            clients.signing_client(),
            r.settings,
            r.owner,
            r.params["upload_id"],
            r.params["part_number"],
            r.query,
        ),
    ),
    Route(
        "POST",
        "/s3/multipart/<upload_id>/complete",
        lambda s, r: multipart.complete(
            s, clients.signing_client(), r.settings, r.owner, r.params["upload_id"], r.query, r.body
        ),
        reads_body=True,
    ),
    Route(
        "DELETE",
        "/s3/multipart/<upload_id>",
        lambda s, r: multipart.abort(s, clients.signing_client(), r.owner, r.params["upload_id"], r.query),
    ),
)
