"""Operational endpoints: liveness, readiness (migration head, ruleset digest), metrics, docs assets."""
from __future__ import annotations

import hmac
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_from_directory
from prometheus_client import CONTENT_TYPE_LATEST

from bcapi.storage import migrate
from bcapi.http.api.context import state
from bcapi.http.auth import PUBLIC, allow
from bcapi.http.problems import Problem

blp = Blueprint("ops", __name__)
# Swagger UI 5 (swagger-ui-dist from npm, its LICENSE beside it): it reads OpenAPI 3.1.
SWAGGER_UI = Path(__file__).resolve().parent / "static" / "swagger-ui"


def _version() -> str:
    try:
        return version("bcapi")
    except PackageNotFoundError:
        return "unknown"


@blp.route("/healthz")
@blp.route("/_ping")
@allow(PUBLIC)
def healthz():
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.route("/_status")
@allow(PUBLIC)
def readyz():
    """The database answers at the migration head and the ruleset is loaded."""
    app = state()
    try:
        app.db.ping()
        current = migrate.current_revision(app.db.engine)
    except Exception as exc:  # any failure to reach the database means not ready
        raise Problem(503, f"The database is not reachable ({type(exc).__name__}).",
                      headers={"Retry-After": "5"}) from None
    head = migrate.head_revision()
    body = {
        "status": "ready" if current == head else "not_ready",
        "version": _version(),
        "commit": os.environ.get("BCAPI_COMMIT", "unknown"),
        "database": {"dialect": app.db.engine.dialect.name, "migration": current, "head": head},
        "ruleset": app.ruleset.ref(),
    }
    if current != head:
        raise Problem(503, f"The database is at migration {current}, not {head}: run 'bcapi db upgrade'.",
                      headers={"Retry-After": "5"}, checks=body)
    return body


@blp.route("/metrics")
@allow(PUBLIC)
def metrics():
    """Prometheus metrics of the service (every worker's, added up). Open to anyone unless
    BCAPI_METRICS_TOKEN is set; then only to `Authorization: Bearer <that token>`."""
    token = state().settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            current_app.extensions["bcapi_rate_limits"].count_address(failed=True)
            raise Problem(401, "Send the metrics token (BCAPI_METRICS_TOKEN) as 'Authorization: Bearer <token>'.",
                          headers={"WWW-Authenticate": 'Bearer realm="bcapi-metrics"'})
    body = current_app.extensions["bcapi_metrics"].exposition()
    return Response(body, content_type=CONTENT_TYPE_LATEST)  # it has its charset


@blp.route("/api/v1/docs/static/<path:filename>")
@allow(PUBLIC)
def swagger_assets(filename):
    """Swagger UI's files, bundled so the docs page works with no internet."""
    return send_from_directory(SWAGGER_UI, filename)
