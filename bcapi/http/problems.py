"""One place that turns every error into `application/problem+json` (RFC 9457).

Views and services raise `Problem` (or Werkzeug's HTTP exceptions, or let webargs abort
with validation messages); `init_app` makes sure nothing else reaches a client, 404, 405,
413, 415 and unexpected exceptions included. No stack trace is ever sent.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from flask import Flask, Response, g
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from bcapi.document import FieldError, dumps, marshmallow_errors_to_pointers

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://bcapi.nhs.example/problems/"
log = logging.getLogger("bcapi.errors")

TITLES = {
    400: "Bad request", 401: "Unauthorised", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 412: "Precondition failed",
    413: "Request body too large", 415: "Unsupported media type", 422: "Unprocessable content",
    428: "Precondition required", 429: "Too many requests", 500: "Internal server error",
    503: "Service unavailable",
}
SLUGS = {
    400: "bad-request", 401: "unauthorised", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 412: "precondition-failed",
    413: "body-too-large", 415: "unsupported-media-type", 422: "validation-failed",
    428: "precondition-required", 429: "rate-limited", 500: "internal-error", 503: "unavailable",
}


class Problem(Exception):
    """An error a client caused or should know of, rendered as problem+json."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, slug: str | None = None,
                 errors: Iterable[FieldError] = (), headers: dict[str, str] | None = None,
                 **extra: Any):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or TITLES.get(status, "Error")
        self.slug = slug or SLUGS.get(status, "error")
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra


def problem_response(problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + problem.slug,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = [e.to_dict() for e in problem.errors]
    body.update(problem.extra)
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    response = Response(dumps(body), status=problem.status, mimetype=MEDIA_TYPE)
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def _validation_errors(messages: Any) -> list[FieldError]:
    """webargs messages are keyed by location ({"json": {...}, "query": {...}})."""
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "headers", "form", "view_args"}:
        out: list[FieldError] = []
        for location, inner in messages.items():
            for error in marshmallow_errors_to_pointers(inner):
                out.append(error if location == "json" else FieldError(error.pointer, error.detail))
        return out
    return marshmallow_errors_to_pointers(messages)


def from_http_exception(error: HTTPException) -> Problem:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    if "messages" in data:
        errors = _validation_errors(data["messages"])
        where = "the query string" if "query" in data["messages"] else "the document"
        detail = f"{len(errors)} field(s) in {where} are not valid; see errors."
        return Problem(status, detail, errors=errors, headers=data.get("headers") or {})
    detail = data.get("message") or (error.description if status < 500 else "The server could not complete the request.")
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="bcapi"'
    return Problem(status, str(detail), headers=headers)


def _service_statuses() -> dict[type, int]:
    from bcapi.services import errors

    return {errors.NotFound: 404, errors.Forbidden: 403, errors.StaleRevision: 412,
            errors.IdempotencyConflict: 409, errors.IdempotencyMismatch: 422, errors.Invalid: 422}


def init_app(app: Flask) -> None:
    statuses = _service_statuses()

    for error_class, status in statuses.items():
        app.register_error_handler(error_class, lambda exc, status=status: problem_response(
            Problem(status, str(exc), slug=getattr(exc, "problem_slug", None),
                    errors=[FieldError(pointer, detail) for pointer, detail in getattr(exc, "errors", ())])))

    @app.errorhandler(OperationalError)
    def _database_down(error: OperationalError):
        log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else error)
        return problem_response(Problem(503, "The database is unavailable; retry shortly.",
                                        headers={"Retry-After": "5"}))

    @app.errorhandler(Problem)
    def _problem(problem: Problem):
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        return problem_response(from_http_exception(error))

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return problem_response(Problem(500, "The server could not complete the request. "
                                        "It has been logged; quote the request id if you report it."))
