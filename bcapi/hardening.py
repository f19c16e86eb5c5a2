"""Defences every request and response gets: rate limits per key, security headers, CORS closed
by default, and no NUL characters in paths or query strings (PostgreSQL cannot compare them)."""
from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from bcapi.config import Settings
from bcapi.problems import Problem

NOT_LIMITED = ("ops.healthz", "ops.readyz", "ops.metrics", "ops.swagger_assets")

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
    return "ip:" + (get_remote_address() or "unknown")


def init_app(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(
        rate_limit_key, app=app, default_limits=[settings.rate_limit] if settings.rate_limit else [],
        storage_uri=settings.rate_limit_storage, headers_enabled=True, retry_after="delta-seconds",
        default_limits_exempt_when=lambda: request.endpoint in NOT_LIMITED, swallow_errors=True)
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
        for name, value in API_HEADERS.items():
            response.headers.setdefault(name, value)
        html = response.mimetype == "text/html"
        response.headers.setdefault("Content-Security-Policy", CSP_HTML if html else CSP_JSON)
        if request.path.startswith("/api/") and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response

    return limiter
