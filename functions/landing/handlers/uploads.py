"""UploadsFunction: the presigned uploads HTTP API (payload 2.0) and the scheduled expiry pass."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from landing.coldstart import quiet_imports
from landing.s3 import clients

with quiet_imports():
    from aws_lambda_powertools.event_handler import (
        APIGatewayHttpResolver,
        CORSConfig,
        Response,
        content_types,
    )
    from aws_lambda_powertools.metrics import MetricUnit
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from landing.db import journal
    from landing.db.uow import session_scope, unit_of_work
    from landing.lambda_context import local_context
    from landing.observability import logger, metrics
    from landing.outbox import publisher
    from landing.settings import SettingsError, get_settings
    from landing.uploads import browse, companion, lifecycle, owners
    from landing.uploads import intents as uploads
    from landing.uploads.intents import UploadError


def _cors() -> CORSConfig | None:
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


app = APIGatewayHttpResolver(cors=_cors())
publisher.install()


def _json(status: int, body: dict[str, Any] | list[Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _error(status: int, code: str, message: str) -> Response[str]:
    return _json(status, {"error": {"code": code, "message": message}})


def _owner() -> str:
    """Who calls, as API Gateway vouched for it (uploads/owners.py): the JWT authorizer's `sub`
    claim, else the IAM context of a SigV4-signed request (AWS_IAM routes); "anonymous" only when
    that is allowed."""
    authorizer = app.current_event.request_context.authorizer
    sub = authorizer.jwt_claim.get("sub")
    if isinstance(sub, str) and sub:
        return owners.of_jwt(sub)
    iam = authorizer.get("iam")
    if iam:
        if not isinstance(iam, dict):
            raise UploadError(401, "unauthorized", "the caller's IAM context is not usable as an owner")
        return owners.of_iam(iam, get_settings().personal_role_sessions)
    if get_settings().uploads_allow_anonymous:
        return uploads.ANONYMOUS
    raise UploadError(401, "unauthorized", "a JWT with a sub claim (or a SigV4-signed request) is required")


def _body() -> object:
    try:
        return app.current_event.json_body
    except (TypeError, ValueError, RecursionError):
        # RecursionError: a body nested thousands deep is hostile, not a server fault.
        raise uploads.bad_request("invalid_json", "the body is not valid JSON") from None


def _query() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


@app.post("/uploads")
def create_upload() -> Response[str]:
    owner, body, settings = _owner(), _body(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        answer = uploads.create(session, clients.signing_client(), settings, owner, body)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    logger.info("upload requested", extra={"upload_id": answer["id"], "method": answer["method"]})
    return _json(201, answer)


@app.get("/uploads")
def list_uploads() -> Response[str]:
    owner = _owner()
    with unit_of_work(app.lambda_context) as session:
        return _json(200, browse.list_uploads(session, owner, _query()))


@app.get("/uploads/<upload_id>")
def get_upload(upload_id: str) -> Response[str]:
    owner = _owner()
    with unit_of_work(app.lambda_context) as session:
        return _json(200, uploads.get(session, owner, upload_id))


@app.post("/uploads/<upload_id>/complete")
def complete_upload(upload_id: str) -> Response[str]:
    owner, body, settings = _owner(), _body(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        return _json(
            200, uploads.complete(session, clients.signing_client(), settings, owner, upload_id, body)
        )


@app.delete("/uploads/<upload_id>")
def abort_upload(upload_id: str) -> Response[str]:
    owner = _owner()
    with unit_of_work(app.lambda_context) as session:
        return _json(200, uploads.abort(session, clients.signing_client(), owner, upload_id))


@app.get("/objects")
def list_objects() -> Response[str]:
    owner, settings = _owner(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        return _json(200, browse.list_objects(session, settings, owner, _query()))


# Companion's S3 routes (what Uppy's @uppy/aws-s3 calls with companionEndpoint): docs/uppy.md.
@app.get("/s3/limits")
def s3_limits() -> Response[str]:
    return _json(200, companion.limits(get_settings(), _owner()))


@app.get("/s3/params")
def s3_params() -> Response[str]:
    owner, settings = _owner(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        answer = companion.params(session, clients.signing_client(), settings, owner, _query())
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    return _json(200, answer)


@app.post("/s3/multipart")
def s3_create_multipart() -> Response[str]:
    owner, body, settings = _owner(), _body(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        answer = companion.create_multipart(session, clients.signing_client(), settings, owner, body)
    metrics.add_metric(name="UploadsRequested", unit=MetricUnit.Count, value=1)
    logger.info("upload requested", extra={"upload_id": answer["uploadId"], "method": "MULTIPART"})
    return _json(200, answer)


@app.get("/s3/multipart/<upload_id>")
def s3_list_parts(upload_id: str) -> Response[str]:
    owner = _owner()
    with unit_of_work(app.lambda_context) as session:
        return _json(200, companion.list_parts(session, clients.signing_client(), owner, upload_id, _query()))


@app.get("/s3/multipart/<upload_id>/<part_number>")
def s3_sign_part(upload_id: str, part_number: str) -> Response[str]:
    owner, settings = _owner(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        answer = companion.sign_part(
            session, clients.signing_client(), settings, owner, upload_id, part_number, _query()
        )
    return _json(200, answer)


@app.post("/s3/multipart/<upload_id>/complete")
def s3_complete(upload_id: str) -> Response[str]:
    owner, body, settings = _owner(), _body(), get_settings()
    with unit_of_work(app.lambda_context) as session:
        answer = companion.complete(
            session, clients.signing_client(), settings, owner, upload_id, _query(), body
        )
    if isinstance(answer, UploadError):
        raise answer  # a decision (rejected) was committed; now refuse
    return _json(200, answer)


@app.delete("/s3/multipart/<upload_id>")
def s3_abort(upload_id: str) -> Response[str]:
    owner = _owner()
    with unit_of_work(app.lambda_context) as session:
        return _json(200, companion.abort(session, clients.signing_client(), owner, upload_id, _query()))


def _refused(error: UploadError) -> Response[str]:
    # One line per refusal, with what a caller sent wrong; never the body or credentials.
    event = app.current_event
    logger.info(
        "request refused",
        extra={"status": error.status, "code": error.code, "route": f"{event.http_method} {event.path}"},
    )
    response = _error(error.status, error.code, error.message)
    if error.retry_after_s is not None:
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


@app.not_found
def _no_route(_: Exception) -> Response[str]:
    event = app.current_event
    return _error(404, "route_not_found", f"no route {event.http_method} {event.path}")


def _misconfigured(error: SettingsError) -> Response[str]:
    logger.error("uploads function is misconfigured", extra={"error": str(error)})
    return _error(500, "not_configured", "the service is not configured correctly")


def _failed(error: Exception) -> Response[str]:
    # The unit of work already rolled back; the caller gets JSON, the log gets the traceback.
    logger.exception("request failed")
    return _error(500, "internal_error", "the request failed; try again later")


# Registered by call: Powertools' exception_handler decorator is untyped.
app.exception_handler(UploadError)(_refused)
app.exception_handler(SettingsError)(_misconfigured)
app.exception_handler(Exception)(_failed)


def is_schedule(event: object) -> bool:
    return (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    )


def _journal_maintenance(context: LambdaContext, now: datetime) -> None:
    """Journal partitions for the months ahead, retention's expired months dropped, the default watched.

    In AWS the functions connect as the DML-only application role: the partition DDL goes through
    the journal's SECURITY DEFINER functions (migration 0008), the only DDL that role may cause.
    Its own transaction, after the expiry pass and the outbox: its DDL takes short exclusive locks on
    the journal that must not be held while uploads are swept, and a lock timeout here (ingest busy)
    leaves that work done and is retried by the next scheduled pass.
    """
    with unit_of_work(context) as session:
        result = journal.maintain(session.connection(), now, get_settings().journal_retention_days)
    metrics.add_metric(
        name="JournalPartitionsDropped", unit=MetricUnit.Count, value=len(result.partitions_dropped)
    )
    metrics.add_metric(name="JournalDefaultPartitionRows", unit=MetricUnit.Count, value=result.default_rows)
    if result.default_rows:
        # Events outside every monthly partition: a clock far off, or an event older than retention.
        logger.warning("journal rows in the default partition", extra={"rows": result.default_rows})
    logger.info("journal maintenance", extra=asdict(result))


def _scheduled(context: LambdaContext) -> dict[str, Any]:
    """EventBridge schedule: expire due uploads, abort their multipart parts, delete rejected leftovers,
    publish the lifecycle events the outbox still holds, then keep the journal's partitions."""
    now = datetime.now(UTC)
    with unit_of_work(context) as session:
        result = lifecycle.sweep(session, clients.signing_client(), now)
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=result.expired)
    with session_scope(context) as work:
        events = publisher.drain(work.session, context)
    logger.info("expiry pass", extra={**asdict(result), "events": asdict(events)})
    _journal_maintenance(context, now)
    return {**asdict(result), "events": asdict(events)}


@metrics.log_metrics
@logger.inject_lambda_context
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_schedule(event):
        return _scheduled(context)
    return app.resolve(event, context)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (landing.handlers.uploads.handler); a missing context gets a local one."""
    result: dict[str, Any] = _handle(event, context or local_context("UploadsFunction"))
    return result
