"""A Python client for the bcapi HTTP API, built on requests.

    from bcapi.client import Client
    api = Client("https://bcapi.example.nhs.uk", api_key="bcapi_...")
    case = api.submit_case(document)          # retried safely: an Idempotency-Key is added
    print(case["latest_assessment"]["rating"])
    case = api.revise_case(case["id"], changed, etag=case.etag)

Numbers are exact (`Decimal`) both ways. Every error is raised as `ApiError` (or a subclass)
carrying the problem+json fields. Connection errors, 429 (honouring Retry-After) and 503 are
retried with exponential backoff; a POST is retried after a connection error only when it
carries an Idempotency-Key, so nothing is done twice.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Iterator

import requests

from bcapi.document import dumps, loads

RETRY_STATUSES = (429, 503)


class ApiError(Exception):
    """An error answer: `status`, and the problem's `type`, `title`, `detail`, `errors`, `request_id`."""

    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        self.type = problem.get("type")
        self.title = problem.get("title")
        self.detail = problem.get("detail")
        self.errors = problem.get("errors", [])
        self.request_id = problem.get("request_id")
        super().__init__(f"{status} {self.title}: {self.detail}")


class ValidationFailed(ApiError):
    """422: `errors` names each bad field by JSON pointer."""


class NotFound(ApiError):
    """404."""


class PreconditionFailed(ApiError):
    """412: the case changed since your ETag; fetch it again."""


class Conflict(ApiError):
    """409."""


class Unauthorised(ApiError):
    """401 or 403."""


ERRORS = {422: ValidationFailed, 404: NotFound, 412: PreconditionFailed, 409: Conflict,
          401: Unauthorised, 403: Unauthorised}


class Case(dict):
    """A Case as the API gave it, with the `etag` to send when revising it."""

    etag: str | None = None
    location: str | None = None


class Client:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30, retries: int = 4,
                 backoff: float = 0.25, max_backoff: float = 10, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json"})

    # -- plumbing ------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                headers: dict[str, str] | None = None, expect_json: bool = True) -> requests.Response:
        """Send a request, retrying what is safe to retry; raise ApiError on an error answer."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = dict(headers or {})
        data = None
        if json is not None:
            data = dumps(json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        retry_on_connection_error = method in ("GET", "HEAD", "PUT", "DELETE") or "Idempotency-Key" in headers
        for attempt in range(self.retries + 1):
            try:
                response = self.http.request(method, url, data=data, params=params, headers=headers,
                                             timeout=self.timeout)
            except requests.ConnectionError:
                if attempt == self.retries or not retry_on_connection_error:
                    raise
                time.sleep(self._delay(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                time.sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            break
        if response.status_code >= 400:
            try:
                problem = loads(response.content)
            except ValueError:
                problem = {"title": response.reason, "detail": response.text[:500]}
            raise ERRORS.get(response.status_code, ApiError)(response.status_code, problem)
        return response

    def _delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff * 6)
            except ValueError:
                pass
        return min(self.backoff * (2 ** attempt), self.max_backoff)

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return loads(self.request(method, path, **kwargs).content)

    def _case(self, response: requests.Response) -> Case:
        case = Case(loads(response.content))
        case.etag = response.headers.get("ETag")
        case.location = response.headers.get("Location")
        return case

    # -- cases ---------------------------------------------------------------------------------
    def submit_case(self, document: dict, *, idempotency_key: str | None = None) -> Case:
        """Submit a case (201); retries reuse one Idempotency-Key, so it is stored once."""
        key = idempotency_key or str(uuid.uuid4())
        return self._case(self.request("POST", "/api/v1/cases", json=document, headers={"Idempotency-Key": key}))

    def get_case(self, case_id: str) -> Case:
        return self._case(self.request("GET", f"/api/v1/cases/{case_id}"))

    def revise_case(self, case_id: str, document: dict, *, etag: str) -> Case:
        """Store a new revision; `etag` is the one you read (PreconditionFailed if stale)."""
        return self._case(self.request("PUT", f"/api/v1/cases/{case_id}", json=document, headers={"If-Match": etag}))

    def list_cases(self, **filters: Any) -> dict:
        """One page: {"items": [...], "next": url or None}."""
        return self._json("GET", "/api/v1/cases", params=filters)

    def iter_cases(self, **filters: Any) -> Iterator[dict]:
        """Every case matching the filters, newest first, following the next links."""
        page = self.list_cases(**filters)
        while True:
            yield from page["items"]
            if not page["next"]:
                return
            page = self._json("GET", page["next"])

    def revisions(self, case_id: str) -> list[dict]:
        return self._json("GET", f"/api/v1/cases/{case_id}/revisions")["items"]

    def revision(self, case_id: str, number: int) -> dict:
        return self._json("GET", f"/api/v1/cases/{case_id}/revisions/{number}")

    # -- assessments ---------------------------------------------------------------------------
    def dry_run(self, document: dict) -> dict:
        """Assess a document without storing it."""
        return self._json("POST", "/api/v1/assessments", json=document)

    def assessments(self, case_id: str) -> list[dict]:
        return self._json("GET", f"/api/v1/cases/{case_id}/assessments")["items"]

    def reassess(self, case_id: str) -> dict:
        return self._json("POST", f"/api/v1/cases/{case_id}/assessments")

    def ruleset(self) -> dict:
        return self._json("GET", "/api/v1/rulesets/current")

    # -- decisions -----------------------------------------------------------------------------
    def decide(self, case_id: str, outcome: str, *, note: str = "",
               reasons: list[dict] | None = None) -> dict:
        return self._json("POST", f"/api/v1/cases/{case_id}/decisions",
                          json={"outcome": outcome, "note": note, "reasons": reasons or []})

    def decisions(self, case_id: str) -> list[dict]:
        return self._json("GET", f"/api/v1/cases/{case_id}/decisions")["items"]

    # -- board ---------------------------------------------------------------------------------
    def dashboard(self, **filters: Any) -> dict:
        return self._json("GET", "/api/v1/dashboard", params=filters)

    def dashboard_csv(self, **filters: Any) -> str:
        return self.request("GET", "/api/v1/dashboard/cases.csv", params=filters).content.decode("utf-8-sig")

    # -- administration ------------------------------------------------------------------------
    def keys(self) -> list[dict]:
        return self._json("GET", "/api/v1/keys")["items"]

    def create_key(self, role: str, *, consortium: str | None = None, label: str | None = None) -> dict:
        body = {"role": role, **({"consortium": consortium} if consortium else {}),
                **({"label": label} if label else {})}
        return self._json("POST", "/api/v1/keys", json=body)

    def revoke_key(self, key_id: str) -> dict:
        return self._json("DELETE", f"/api/v1/keys/{key_id}")

    def audit(self, **filters: Any) -> dict:
        return self._json("GET", "/api/v1/audit", params=filters)

    # -- operations ----------------------------------------------------------------------------
    def ready(self) -> dict:
        return self._json("GET", "/readyz")
