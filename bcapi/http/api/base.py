"""flask-smorest, subclassed once: every cross-cutting HTTP behaviour has its home here.

- `Api`: errors are rendered by `bcapi.http.problems` (problem+json), documented with ProblemSchema.
- `Blueprint`: request bodies are parsed with exact decimals and must be `application/json`
  (415 otherwise); malformed JSON is a 400 problem, invalid fields a 422 listing every pointer.
"""
from __future__ import annotations

import http
import threading
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser

from bcapi.document import JSONBodyError, dumps, loads
from bcapi.http.problems import MEDIA_TYPE as PROBLEM_JSON
from bcapi.http.problems import Problem

from . import openapi
from .schemas import ProblemSchema


class JSONBodyParser(FlaskParser):
    """webargs parser whose JSON is bcapi's: Decimal numbers, no NaN, content type enforced."""

    def _raw_load_json(self, req) -> Any:
        if not req.is_json:
            raise Problem(415, "Send the body as JSON with 'Content-Type: application/json'.")
        data = req.get_data(cache=True)
        if not data:
            raise Problem(400, "The request body is empty; send a JSON document.")
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        if req.content_length is None and limit and len(data) >= limit:
            # Werkzeug stops reading a body sent without a length (chunked) at the limit, silently.
            raise Problem(413, f"The request body is larger than the limit of {limit:,} bytes.")
        try:
            return loads(data)
        except JSONBodyError as exc:
            raise Problem(400, str(exc)) from None

    def load_json(self, req, schema) -> Any:
        return self._raw_load_json(req)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, ma.Schema] = {}
        self._schemas_lock = threading.Lock()

    def _get_schema(self, argmap, req) -> ma.Schema:
        """One instance per schema class, built once: webargs would build (and marshmallow
        deep-copy every field of) a new one for each request. Schemas keep no per-load state."""
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                with self._schemas_lock:
                    schema = self._schemas.setdefault(argmap, argmap())
            return schema
        return super()._get_schema(argmap, req)


def json_response(schema: ma.Schema, body: Any = None, status: int = 200, headers: dict[str, str] | None = None,
                  *, text: str | None = None) -> Response:
    """`body` as JSON, serialised once; `text` if the caller already has it serialised.

    For views whose result already has exactly the shape and key order of their response
    `schema`: flask-smorest passes a Response through, so the result is neither dumped by
    marshmallow (a walk of every field that, for such a result, changes nothing) nor serialised
    twice. Under `app.testing` the bytes are checked against what the schema dump gives, so the
    test suite catches a result that drifts from its schema.
    """
    if text is None:
        text = dumps(body)
    if current_app.testing:
        expected = dumps(schema.dump(loads(text)))
        if expected != text:
            raise AssertionError(f"the result does not have the shape of {type(schema).__name__}:\n"
                                 f"{text[:2000]}\n!=\n{expected[:2000]}")
    response = Response(text, status=status, mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response


def raw_body_text() -> str:
    text = request.get_data(cache=True).decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = JSONBodyParser()


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ProblemSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def _register_error_handlers(self) -> None:
        """Errors are handled app-wide by `bcapi.http.problems.init_app`."""

    def _register_responses(self) -> None:
        """Document every error response as problem+json, the way `bcapi.http.problems` serves it."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                response["example"] = openapi.problem_example(status)
                if status in openapi.PROBLEM_HEADERS:
                    response["headers"] = {name: name for name in openapi.PROBLEM_HEADERS[status]}
            prepare_response(response, self.spec, PROBLEM_JSON if status >= 400 else self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def settings():
    return current_app.extensions["bcapi"].settings
