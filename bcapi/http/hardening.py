"""Defences every request and response gets: rate limits per key, security headers, CORS closed
by default, and no NUL characters in paths or query strings (PostgreSQL cannot compare them)."""
from __future__ import annotations

import hashlib
import logging
import math
import time

from flask import Flask, g, request
from flask_cors import CORS
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from bcapi.config import Settings
from bcapi.http.problems import Problem

NOT_LIMITED = ("ops.healthz", "ops.readyz", "ops.metrics", "ops.swagger_assets", "static")
log = logging.getLogger("bcapi.http.hardening")

API_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "interest-cohort=()",
}
CSP_JSON = "default-src 'none'; frame-ancestors 'none'"
# Pages (docs, dashboard) load only their own bundled assets; Swagger UI needs inline script.
CSP_HTML = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'")


def rate_limit_key() -> str:
    """The caller's API key (hashed, so it never sits in the limiter's storage), else its address."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "key:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    return "ip:" + (request.remote_addr or "unknown")


class RateLimits:
    """Fixed-window request limits per caller, counted by the `limits` library in any storage it
    supports (`memory://` by default: per worker process; `redis://...` to share them).

    Over a limit, 429 problem+json with `Retry-After`; every limited response carries
    `X-RateLimit-Limit`, `-Remaining` and `-Reset` for the tightest limit. If the storage fails,
    requests are let through and the failure is logged: the service stays up.
    (flask-limiter did this before, at about ten times the cost a request of the check itself.)
    """

    def __init__(self, limits: list[RateLimitItem], storage_uri: str):
        self.limits = limits
        self.counter = FixedWindowRateLimiter(storage_from_string(storage_uri))

    @classmethod
    def from_settings(cls, settings: Settings) -> "RateLimits":
        return cls(parse_many(settings.rate_limit) if settings.rate_limit else [], settings.rate_limit_storage)

    def count_request(self) -> None:
        """Before a request: count it against each limit, or refuse it with 429."""
        if not self.limits or request.endpoint in NOT_LIMITED:
            return
        key = rate_limit_key()
        try:
            for item in self.limits:
                if not self.counter.hit(item, key):
                    wait = max(1, math.ceil(self.counter.get_window_stats(item, key).reset_time - time.time()))
                    raise Problem(429, f"Too many requests: the limit is {item.amount} per "
                                       f"{item.get_expiry()} seconds. Retry after {wait} seconds.",
                                  headers={"Retry-After": str(wait), **self._headers(item, 0, time.time() + wait)})
        except Problem:
            raise
        except Exception:  # noqa: BLE001 - the limiter's storage is down: serve rather than fail
            log.warning("rate limit storage failed; request let through", exc_info=True)
            return
        g.rate_limit_key = key

    def add_headers(self, response):
        """After a counted request: where the caller stands against its tightest limit."""
        key = g.pop("rate_limit_key", None)
        if key is None:
            return response
        try:
            stats = [(self.counter.get_window_stats(item, key), item) for item in self.limits]
        except Exception:  # noqa: BLE001
            return response
        (reset, remaining), item = min(stats, key=lambda pair: pair[0].remaining)
        response.headers.extend(self._headers(item, remaining, reset))
        return response

    @staticmethod
    def _headers(item: RateLimitItem, remaining: int, reset: float) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(item.amount), "X-RateLimit-Remaining": str(max(0, remaining)),
                "X-RateLimit-Reset": str(int(reset))}


def init_app(app: Flask, settings: Settings) -> RateLimits:
    limits = RateLimits.from_settings(settings)
    app.before_request(limits.count_request)
    app.after_request(limits.add_headers)
    if settings.cors_origins:
        CORS(app, resources={r"/api/*": {"origins": list(settings.cors_origins)}},
             expose_headers=["ETag", "Location", "Link", "X-Request-ID", "Retry-After"],
             allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key"])

    @app.before_request
    def _refuse_nul_characters():
        if "\x00" in request.path:
            raise Problem(400, "The path contains a NUL character (%00).")
        for name, values in request.args.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                raise Problem(400, f"The query parameter {name!r} contains a NUL character (%00).")

    @app.after_request
    def _security_headers(response):
        """Each header unless the view set its own (one pass over the headers, not one a name)."""
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        wanted = [*API_HEADERS.items(),
                  ("Content-Security-Policy", CSP_HTML if response.mimetype == "text/html" else CSP_JSON)]
        if request.path.startswith("/api/"):
            wanted.append(("Cache-Control", "no-store"))
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response

    return limits
