"""UploadsFunction: the presigned uploads HTTP API (payload 2.0) and the scheduled pass."""

from __future__ import annotations

import json
from typing import Any

from landing.coldstart import quiet_imports

with quiet_imports():
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from landing.db.uow import unit_of_work
    from landing.lambda_context import local_context
    from landing.observability import logger, metrics
    from landing.settings import SettingsError, get_settings
    from landing.uploads import api, errors, owners, scheduled

app = APIGatewayHttpResolver(cors=api.cors())
# Domain refusals (uploads/errors.py) as HTTP statuses: the only place that knows them.
STATUS: dict[type[errors.UploadError], int] = {
    errors.Invalid: 400,
    errors.Unauthorized: 401,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.UnsupportedType: 415,
    errors.OverQuota: 429,
    errors.NotConfigured: 500,
}


def _json(status: int, body: dict[str, Any] | list[Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def _error(status: int, code: str, message: str) -> Response[str]:
    return _json(status, {"error": {"code": code, "message": message}})


def _request(route: api.Route, params: dict[str, str]) -> api.Request:
    """Who calls first (a 401 before any 400), then the body (JSON) the route reads."""
    event, settings = app.current_event, get_settings()
    owner = owners.of_request(event.request_context.authorizer.raw_event, settings)
    body: object = None
    if route.reads_body:
        try:
            body = event.json_body
        except (TypeError, ValueError, RecursionError):  # RecursionError: nested thousands deep
            raise errors.bad_request("invalid_json", "the body is not valid JSON") from None
    return api.Request(owner, params, dict(event.query_string_parameters or {}), body, settings)


def _register(route: api.Route) -> None:
    def answer(**params: str) -> Response[str]:
        request = _request(route, params)
        if not route.database:
            result = route.operation(None, request)
        else:
            with unit_of_work(app.lambda_context) as session:
                result = route.operation(session, request)
        if isinstance(result, errors.UploadError):
            raise result  # a decision was committed with the unit of work; now refuse
        return _json(route.status, result)

    app.route(route.path, route.method)(answer)


for _route in api.ROUTES:
    _register(_route)


def _refused(error: errors.UploadError) -> Response[str]:
    # One line per refusal, with what a caller sent wrong; never the body or credentials.
    status, route = STATUS[type(error)], f"{app.current_event.http_method} {app.current_event.path}"
    logger.info("request refused", extra={"status": status, "code": error.code, "route": route})
    response = _error(status, error.code, error.message)
    if error.retry_after_s is not None:
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


def _misconfigured(error: SettingsError) -> Response[str]:
    logger.error("uploads function is misconfigured", extra={"error": str(error)})
    return _error(500, "not_configured", "the service is not configured correctly")


def _failed(error: Exception) -> Response[str]:
    # The unit of work already rolled back; the caller gets JSON, the log gets the traceback.
    logger.exception("request failed")
    return _error(500, "internal_error", "the request failed; try again later")


def _no_route(_: Exception) -> Response[str]:
    return _error(
        404, "route_not_found", f"no route {app.current_event.http_method} {app.current_event.path}"
    )


# Registered by call: Powertools' decorators are untyped.
app.not_found(_no_route)
app.exception_handler(errors.UploadError)(_refused)
app.exception_handler(SettingsError)(_misconfigured)
app.exception_handler(Exception)(_failed)


@metrics.log_metrics
@logger.inject_lambda_context
def _handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if scheduled.is_schedule(event):
        return scheduled.run(context)
    return app.resolve(event, context)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (landing.handlers.uploads.handler); a missing context gets a local one."""
    result: dict[str, Any] = _handle(event, context or local_context("UploadsFunction"))
    return result
