"""A Python client for the bcapi HTTP API, built on requests.

    from bcapi.client import Client
    with Client("https://bcapi.example.nhs.uk", api_key="bcapi_...") as api:
        case = api.submit_case(document)          # retried safely: an Idempotency-Key is added
        print(case["latest_assessment"]["rating"])
        case = api.revise_case(case["id"], changed, etag=case.etag)
        for row in api.iter_cases(rating="red"):  # follows the next links, on this server only
            ...

Numbers are exact (`Decimal`) both ways. An error answer is raised as an `ApiError` subclass per
status (`ValidationFailed`, `PreconditionFailed`, `RateLimited`, ...) carrying the problem+json
fields; a failure to get any answer as `TransportError`, wrapping the requests exception.

Retries, with exponential backoff and full jitter: 429 always (the server refused the request
before doing anything; its `Retry-After` is honoured, plus up to `backoff` seconds of jitter), and 502/503/504, timeouts and connection
errors for idempotent calls only: GET, PUT, DELETE, a dry run, and a submission, which carries an
Idempotency-Key so the server stores it once however often it arrives.

This module needs only requests and simplejson: `pip install ./clients/python` installs it
without the server (the `bcapi-client` distribution).
"""
from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
import uuid
from decimal import Decimal
from typing import Any, Callable, Iterator
from urllib.parse import urljoin, urlsplit

import requests
import simplejson

__version__ = "0.2.0"
USER_AGENT = f"bcapi-client/{__version__}"
RETRY_STATUSES = (429, 502, 503, 504)
IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")


# -- errors ------------------------------------------------------------------------------------
class BcapiError(Exception):
    """Anything this client raises."""


class TransportError(BcapiError):
    """No answer: the connection failed or timed out. `cause` is the requests exception."""

    def __init__(self, message: str, cause: requests.RequestException):
        super().__init__(message)
        self.cause = cause


class Timeout(TransportError):
    """The server did not answer within the client's timeout."""


class ForeignLink(BcapiError):
    """The server gave a link to another origin than the client's base URL; the client does not
    follow it, so the API key is never sent elsewhere."""


class ApiError(BcapiError):
    """An error answer: `status`, and the problem's `type`, `title`, `detail`, `errors`, `request_id`."""

    def __init__(self, status: int, problem: dict[str, Any], headers: dict[str, str] | None = None):
        self.status = status
        self.problem = problem
        self.headers = dict(headers or {})
        self.type = problem.get("type")
        self.title = problem.get("title")
        self.detail = problem.get("detail")
        self.errors = problem.get("errors", [])
        self.request_id = problem.get("request_id")
        super().__init__(f"{status} {self.title}: {self.detail}")


class BadRequest(ApiError):
    """400: the request could not be read (malformed JSON, a bad cursor or header)."""


class Unauthenticated(ApiError):
    """401: no API key, or one that is unknown, revoked or expired."""


Unauthorized = Unauthenticated  # the HTTP status's own name


class Forbidden(ApiError):
    """403: the key's role may not do this."""


class NotFound(ApiError):
    """404 (a commissioner's key also gets it for another consortium's case)."""


class Conflict(ApiError):
    """409: e.g. a request with the same Idempotency-Key is still being processed."""


class PreconditionFailed(ApiError):
    """412: the case changed since your ETag; fetch it again and reapply your change."""


class PayloadTooLarge(ApiError):
    """413: the body is over the server's limit."""


class UnsupportedMediaType(ApiError):
    """415: the body was not sent as JSON."""


class ValidationFailed(ApiError):
    """422: `errors` names each bad field by JSON pointer."""


class PreconditionRequired(ApiError):
    """428: a revision needs If-Match."""


class RateLimited(ApiError):
    """429, after the retries: `retry_after` is the seconds the server asked to wait, if it said."""

    @property
    def retry_after(self) -> float | None:
        return _retry_after(self.headers.get("Retry-After"))


class ServerError(ApiError):
    """5xx, after the retries."""


ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict,
    412: PreconditionFailed, 413: PayloadTooLarge, 415: UnsupportedMediaType, 422: ValidationFailed,
    428: PreconditionRequired, 429: RateLimited,
}


def error_for(status: int, problem: dict[str, Any], headers: dict[str, str] | None = None) -> ApiError:
    kind = ERRORS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, problem, headers)


# -- JSON with exact decimals --------------------------------------------------------------------
def dumps(value: Any) -> str:
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, allow_nan=False)


def loads(text: str | bytes) -> Any:
    return simplejson.loads(text, use_decimal=True, allow_nan=False)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


class Case(dict):
    """A Case as the API gave it, with the `etag` to send when revising it."""

    etag: str | None = None
    location: str | None = None


# -- the client ------------------------------------------------------------------------------------
class Client:
    """One API key against one server. Use it as a context manager, or call `close()`.

    `retries` is how many times a retryable failure is tried again; the wait before retry n is a
    random time up to `backoff * 2**n` seconds (at most `max_backoff`), or the server's
    Retry-After. A Retry-After longer than `max_retry_after` is not waited for: RateLimited is
    raised at once, with `retry_after` set.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30, retries: int = 4,
                 backoff: float = 0.25, max_backoff: float = 10, max_retry_after: float = 60,
                 session: requests.Session | None = None, user_agent: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[float, float], float] = random.uniform):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._jitter = jitter
        self._owns_session = session is None
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {api_key}", "Accept": "application/json",
                                  "User-Agent": f"{user_agent} {USER_AGENT}" if user_agent else USER_AGENT})

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections (of a session the client made itself)."""
        if self._owns_session:
            self.http.close()

    # -- plumbing ------------------------------------------------------------------------------
    def url_for(self, path_or_url: str) -> str:
        """The absolute URL of an API path (`/api/v1/...`, after the base URL) or of an absolute
        URL; ForeignLink if that is on another origin than the base URL."""
        if path_or_url.startswith("/") and not path_or_url.startswith("//"):
            return self.base_url + path_or_url
        if _origin(path_or_url) != _origin(self.base_url):
            raise ForeignLink(f"not following a link to {_origin(path_or_url)}: this client talks to "
                              f"{_origin(self.base_url)} only, and would send its API key there")
        return path_or_url

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                headers: dict[str, str] | None = None, idempotent: bool | None = None) -> requests.Response:
        """Send a request, retrying what is safe to retry; raise ApiError on an error answer.

        `idempotent` says whether the call may be repeated after a failure that leaves unknown
        whether the server acted (by default: the method is idempotent, or an Idempotency-Key is sent).
        """
        url = self.url_for(path)
        headers = dict(headers or {})
        data = None
        if json is not None:
            data = dumps(json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS or "Idempotency-Key" in headers
        attempt = 0
        while True:
            try:
                response = self.http.request(method, url, data=data, params=params, headers=headers,
                                             timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                if idempotent and attempt < self.retries and isinstance(exc, (requests.Timeout, requests.ConnectionError)):
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    continue
                kind = Timeout if isinstance(exc, requests.Timeout) else TransportError
                raise kind(f"{method} {url}: {type(exc).__name__}: {exc}", exc) from exc
            status = response.status_code
            if status in RETRY_STATUSES and attempt < self.retries and (idempotent or status == 429):
                wait = _retry_after(response.headers.get("Retry-After"))
                if wait is None or wait <= self.max_retry_after:
                    response.close()
                    # At least Retry-After, plus a little jitter so that clients limited in the
                    # same window do not all come back in the same instant.
                    self._sleep(self._backoff(attempt) if wait is None else wait + self._jitter(0, self.backoff))
                    attempt += 1
                    continue
            break
        if status >= 400:
            try:
                problem = loads(response.content)
            except ValueError:
                problem = {"title": response.reason, "detail": response.text[:500]}
            if not isinstance(problem, dict):
                problem = {"title": response.reason, "detail": str(problem)[:500]}
            raise error_for(status, problem, dict(response.headers))
        return response

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to the exponential ceiling, so clients that failed
        together do not all come back at once."""
        return self._jitter(0, min(self.backoff * (2 ** attempt), self.max_backoff))

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return loads(self.request(method, path, **kwargs).content)

    def _case(self, response: requests.Response) -> Case:
        case = Case(loads(response.content))
        case.etag = response.headers.get("ETag")
        case.location = response.headers.get("Location")
        return case

    def pages(self, path: str, **filters: Any) -> Iterator[dict]:
        """Every page of a paged list, following each page's `next` link (on this server only)."""
        response = self.request("GET", path, params=_params(filters))
        while True:
            page = loads(response.content)
            yield page
            if not page.get("next"):
                return
            # A relative link is resolved against the page it came in; either way, same origin only.
            response = self.request("GET", urljoin(response.url, page["next"]))

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
        return self._json("GET", "/api/v1/cases", params=_params(filters))

    def iter_cases(self, **filters: Any) -> Iterator[dict]:
        """Every case matching the filters, newest first, following the next links."""
        for page in self.pages("/api/v1/cases", **filters):
            yield from page["items"]

    def revisions(self, case_id: str) -> list[dict]:
        return self._json("GET", f"/api/v1/cases/{case_id}/revisions")["items"]

    def revision(self, case_id: str, number: int) -> dict:
        return self._json("GET", f"/api/v1/cases/{case_id}/revisions/{number}")

    def revision_document(self, case_id: str, number: int) -> bytes:
        """A revision's document byte for byte as it was sent."""
        return self.request("GET", f"/api/v1/cases/{case_id}/revisions/{number}/document").content

    # -- assessments ---------------------------------------------------------------------------
    def dry_run(self, document: dict) -> dict:
        """Assess a document without storing it (so it is safe to retry)."""
        return self._json("POST", "/api/v1/assessments", json=document, idempotent=True)

    def assessments(self, case_id: str) -> list[dict]:
        return self._json("GET", f"/api/v1/cases/{case_id}/assessments")["items"]

    def reassess(self, case_id: str) -> dict:
        return self._json("POST", f"/api/v1/cases/{case_id}/assessments")

    def ruleset(self) -> dict:
        return self._json("GET", "/api/v1/rulesets/current")

    # -- decisions -----------------------------------------------------------------------------
    def decide(self, case_id: str, outcome: str, *, note: str = "",
               reasons: list[dict] | None = None) -> dict:
        """Record a board decision: `approved`, `rejected`, `deferred` or `returned_for_revision`;
        `reasons` is a list of {"reason": text, "rule_ids": [...]}."""
        return self._json("POST", f"/api/v1/cases/{case_id}/decisions",
                          json={"outcome": outcome, "note": note, "reasons": reasons or []})

    def decisions(self, case_id: str) -> list[dict]:
        return self._json("GET", f"/api/v1/cases/{case_id}/decisions")["items"]

    # -- board ---------------------------------------------------------------------------------
    def dashboard(self, **filters: Any) -> dict:
        return self._json("GET", "/api/v1/dashboard", params=_params(filters))

    def dashboard_csv(self, **filters: Any) -> str:
        return self.request("GET", "/api/v1/dashboard/cases.csv", params=_params(filters)).content.decode("utf-8-sig")

    # -- administration ------------------------------------------------------------------------
    def keys(self) -> list[dict]:
        return self._json("GET", "/api/v1/keys")["items"]

    def create_key(self, role: str, *, consortium: str | None = None, label: str | None = None,
                   expires_at: str | None = None) -> dict:
        body = {"role": role, "consortium": consortium, "label": label, "expires_at": expires_at}
        return self._json("POST", "/api/v1/keys", json={k: v for k, v in body.items() if v is not None})

    def revoke_key(self, key_id: str) -> dict:
        return self._json("DELETE", f"/api/v1/keys/{key_id}")

    def audit(self, **filters: Any) -> dict:
        """One page of the audit trail: {"items": [...], "next": url or None}."""
        return self._json("GET", "/api/v1/audit", params=_params(filters))

    def iter_audit(self, **filters: Any) -> Iterator[dict]:
        """Every audit event matching the filters, newest first, following the next links."""
        for page in self.pages("/api/v1/audit", **filters):
            yield from page["items"]

    # -- operations ----------------------------------------------------------------------------
    def ready(self) -> dict:
        return self._json("GET", "/readyz")


def _origin(url: str) -> str:
    """scheme://host:port, the port spelt out, so that equal origins compare equal."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number
        port = None
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def _params(filters: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the unset ones; dates and decimals as the API writes them."""
    out = {}
    for name, value in filters.items():
        if value is None:
            continue
        if isinstance(value, (dt.date, dt.datetime)):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out
