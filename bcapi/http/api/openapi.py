"""What the OpenAPI document says beyond the views' own decorators, in one table.

For each operation: the problems it can answer (each with the problem+json schema, an example and
its headers), the request headers it reads (`Idempotency-Key`, `If-Match`, `If-None-Match`), the
response headers it sends (`ETag`, `Location`, `Link`, `X-RateLimit-*`), and request and response
examples made from the sample cases under the active ruleset. An apispec plugin applies it as
flask-smorest registers each view, so the views keep only their behaviour.

`bcapi schema openapi` writes the result to `schemas/openapi.json`; a test checks that the
committed file is what the service serves.
"""
from __future__ import annotations

import datetime as dt
import http
import json
from typing import Any

from apispec import BasePlugin

from bcapi import data
from bcapi.document import dumps, loads
from bcapi.engine import assess
from bcapi.http.problems import SLUGS, TITLES, TYPE_BASE
from bcapi.services.assessments import assessment_body

# Every operation that needs a key: 400 (a NUL in the path or query), 401 (no key, or an unknown,
# revoked or expired one), 403 (the key's role may not), 429 (over the rate limit, with
# Retry-After), 503 (the database is down, with Retry-After).
KEYED = (400, 401, 403, 429, 503)
BODY = (413, 415, 422)  # a JSON body: too large, not JSON, invalid fields (400: malformed JSON)
QUERY = (422,)          # query parameters checked by a schema

# endpoint: (extra problems, request header parameters, success headers, examples)
OPERATIONS: dict[str, tuple[tuple[int, ...], tuple[str, ...], tuple[str, ...], str | None]] = {
    "cases.submit_case": (BODY + (409,), ("Idempotency-Key",), ("Location", "ETag", "Idempotent-Replayed"), "case"),
    "cases.list_cases": (QUERY, (), ("Link",), None),
    "cases.get_case": ((404,), ("If-None-Match",), ("ETag",), "case"),
    "cases.revise_case": (BODY + (404, 412, 428), ("If-Match",), ("Location", "ETag"), "case"),
    "cases.list_revisions": ((404,), (), (), None),
    "cases.get_revision": ((404,), (), (), None),
    "cases.get_revision_document": ((404,), (), (), None),
    "assessments.dry_run": (BODY, (), (), "assessment"),
    "assessments.list_assessments": ((404,), (), (), None),
    "assessments.reassess": ((404,), (), (), None),
    "assessments.current_ruleset": ((), (), (), None),
    "decisions.decide": (BODY + (404,), (), (), "decision"),
    "decisions.list_decisions": ((404,), (), (), None),
    "dashboard.portfolio": (QUERY, (), (), None),
    "dashboard.cases_csv": (QUERY, (), (), None),
    "admin.list_keys": ((), (), (), None),
    "admin.create_key": (BODY, (), (), "key"),
    "admin.revoke_key": ((404,), (), (), None),
    "admin.audit_trail": (QUERY, (), ("Link",), None),
}

RATE_LIMIT_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

PARAMETERS = {
    "Idempotency-Key": {
        "in": "header", "name": "Idempotency-Key", "required": False,
        "description": "Makes a retry safe: the same key with the same body gives the first answer again "
                       "(with `Idempotent-Replayed: true`) for 24 hours; with another body, 422; while the "
                       "first request with it is still running, 409. 1-255 printable ASCII characters.",
        "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"}, "example": "3f1c2a-first-try"},
    "If-Match": {
        "in": "header", "name": "If-Match", "required": True,
        "description": "The ETag of the revision you changed. Without it, 428; if the case was revised "
                       "since, 412 (fetch it and apply your change again).",
        "schema": {"type": "string"}, "example": '"3b9f0c1d2e4a5f6b"'},
    "If-None-Match": {
        "in": "header", "name": "If-None-Match", "required": False,
        "description": "An ETag you hold: 304 with no body if the case has not changed.",
        "schema": {"type": "string"}},
}

HEADERS = {
    "ETag": {"description": "The current revision's entity tag: send it in `If-Match` to revise.",
             "schema": {"type": "string"}},
    "Location": {"description": "The case's URL.", "schema": {"type": "string", "format": "uri"}},
    "Link": {"description": 'The next page, as `<url>; rel="next"` (absent on the last page).',
             "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this is the stored answer to an earlier request "
                                           "with the same Idempotency-Key.", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}},
    "WWW-Authenticate": {"description": "The scheme to authenticate with: `Bearer`.", "schema": {"type": "string"}},
    "X-RateLimit-Limit": {"description": "Requests allowed in the current window (per key; per address "
                                         "without one).", "schema": {"type": "integer"}},
    "X-RateLimit-Remaining": {"description": "Requests left in the current window.", "schema": {"type": "integer"}},
    "X-RateLimit-Reset": {"description": "When the window resets, in seconds since the Unix epoch.",
                          "schema": {"type": "integer"}},
}

# The headers each problem answer carries.
PROBLEM_HEADERS = {401: ("WWW-Authenticate",), 429: ("Retry-After",) + RATE_LIMIT_HEADERS, 503: ("Retry-After",)}
PROBLEM_DETAILS = {
    400: "The request body is not valid JSON: Expecting ',' delimiter (line 3, column 5).",
    401: "Send an API key as 'Authorization: Bearer <key>'.",
    403: "A commissioner key may not do this.",
    404: "No business case 0b6f4f1e-5d55-4b7e-9a59-0c1f1f3b8a40.",
    409: "A request with this Idempotency-Key is still being processed; retry shortly.",
    412: "The case is at revision 3; fetch it and apply your change again.",
    413: "The request body is larger than the limit of 2,097,152 bytes.",
    415: "Send the body as JSON with 'Content-Type: application/json'.",
    422: "2 field(s) in the document are not valid; see errors.",
    428: "Send If-Match with the ETag of the revision you changed, so that no one else's revision is overwritten.",
    429: "Too many requests: the limit is 1200 per 60 seconds. Retry after 17 seconds.",
    503: "The database is unavailable; retry shortly.",
}

EXAMPLE_TIME = dt.datetime(2009, 3, 2, 10, 30, tzinfo=dt.timezone.utc)
EXAMPLE_CASE_ID = "0b6f4f1e-5d55-4b7e-9a59-0c1f1f3b8a40"


def problem_example(status: int) -> dict[str, Any]:
    example = {"type": TYPE_BASE + SLUGS.get(status, "error"), "title": TITLES.get(status, "Error"),
               "status": status, "detail": PROBLEM_DETAILS.get(status, http.HTTPStatus(status).phrase)}
    if status == 422:
        example["errors"] = [{"pointer": "/risks/0/likelihood", "detail": "Must be greater than or equal to 1 "
                                                                         "and less than or equal to 5."},
                             {"pointer": "/finance/totl_savings", "detail": "Unknown field."}]
    example["request_id"] = "6f0c2a1e9b8d4c3f"
    return example


def component_response_name(status: int) -> str:
    """The name flask-smorest's Api gives the component response of a status."""
    return http.HTTPStatus(status).name


def register_components(spec) -> None:
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], parameter)
    for name, header in HEADERS.items():
        spec.components.header(name, header)


class Examples:
    """Request and response examples from the sample cases, assessed under the active ruleset,
    at a fixed time and with fixed ids so that the document is the same at every start."""

    def __init__(self, ruleset) -> None:
        self.documents = {path.stem: json.loads(path.read_text(encoding="utf-8"))
                          for path in sorted(data.example_cases().glob("*.json"))}
        # The COPD sample (any sample if it is missing) answers for the response examples.
        first = self.documents.get("copd-community-service") or next(iter(self.documents.values()))
        verdict = assess(loads(json.dumps(first)), ruleset)
        self.assessment = json.loads(dumps(assessment_body(verdict, assessment_id=None, case_id=None,
                                                           revision=None, assessed_at=EXAMPLE_TIME)))
        stored = {**self.assessment, "id": "5c9d7e2a-3b1f-4e8a-9d6c-2f4b8a1c7e35", "case_id": EXAMPLE_CASE_ID,
                  "revision": 1}
        stamp = EXAMPLE_TIME.isoformat()
        self.case = {
            "id": EXAMPLE_CASE_ID, "reference": first.get("reference"), "title": first["title"],
            "consortium": first["consortium"], "service_area": first.get("service_area"),
            "status": "submitted", "revision": 1, "rating": stored["rating"], "score": stored["score"],
            "submitted_at": stamp, "updated_at": stamp, "decision_due": "2009-04-27", "overdue": False,
            "decision": None, "document": first, "latest_assessment": stored,
        }
        failed = [f["rule_id"] for f in self.assessment["findings"] if f["status"] == "fail"][:1]
        self.decision = {"outcome": "rejected", "note": "Discussed at the March board.",
                         "reasons": [{"reason": "The savings rest on figures the assessment found wrong.",
                                      "rule_ids": failed}]}

    def register(self, spec) -> None:
        """Each example once, under components/examples, for the operations to refer to."""
        for name, document in self.documents.items():
            spec.components.example(name, {"summary": document["title"], "value": document})
        spec.components.example("case", {"summary": "The COPD sample, submitted", "value": self.case})
        spec.components.example("assessment", {"summary": "The COPD sample, assessed",
                                               "value": self.assessment})


KEY_REQUEST = {"role": "commissioner", "consortium": "EAS", "label": "EAS business-case tool"}


class OpenAPIPlugin(BasePlugin):
    """Applies `OPERATIONS` to each operation flask-smorest registers."""

    def __init__(self, examples: Examples | None = None) -> None:
        self.examples = examples

    def init_spec(self, spec) -> None:
        super().init_spec(spec)
        register_components(spec)
        if self.examples:
            self.examples.register(spec)

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        if not operations:
            return
        # Every API operation needs a key: one missing from the table gets the problems of that.
        entry = OPERATIONS.get(getattr(kwargs.get("rule"), "endpoint", None), ((), (), (), None))
        problems, parameters, headers, example = entry
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in sorted(set(KEYED + problems)):
                responses.setdefault(str(status), component_response_name(status))
            if parameters:
                operation.setdefault("parameters", []).extend(parameters)
            for code, response in responses.items():
                if isinstance(response, dict) and str(code).startswith("2"):
                    response.setdefault("headers", {}).update(
                        {name: name for name in headers + RATE_LIMIT_HEADERS})
            if "If-None-Match" in parameters:
                responses.setdefault("304", {"description": "Not modified: your copy is current.",
                                             "headers": {"ETag": "ETag"}})
            if self.examples and example:
                self._add_examples(operation, example)

    def _add_examples(self, operation: dict[str, Any], kind: str) -> None:
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            if kind in ("case", "assessment"):
                body["examples"] = {name: name for name in self.examples.documents}
            elif kind == "decision":
                body["example"] = self.examples.decision
            elif kind == "key":
                body["example"] = KEY_REQUEST
        if kind not in ("case", "assessment"):
            return
        for code, response in operation["responses"].items():
            if isinstance(response, dict) and str(code).startswith("2"):
                content = response.get("content", {}).get("application/json")
                if content is not None:
                    content["examples"] = {kind: kind}

