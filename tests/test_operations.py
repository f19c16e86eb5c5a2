"""Operators: health, readiness, metrics, the OpenAPI document and the offline docs page."""
from __future__ import annotations

import json

from openapi_spec_validator import validate

from bcapi.storage import migrate

from .factories import body


def test_health_answers_without_a_key(client):
    for path in ("/healthz", "/_ping"):
        response = client.get(path)
        assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_readiness_reports_the_migration_head_and_ruleset_digest(client, app):
    for path in ("/readyz", "/_status"):
        response = client.get(path)
        assert response.status_code == 200
        status = response.get_json()
        assert status["database"]["migration"] == migrate.head_revision()
        assert status["ruleset"]["digest"] == app.extensions["bcapi"].ruleset.digest


def test_readiness_is_503_when_the_database_is_not_migrated(tmp_path):
    from bcapi.http.app import create_app

    app = create_app({"BCAPI_DATABASE_URL": f"sqlite:///{tmp_path}/empty.sqlite3",
                      "BCAPI_INSTANCE_PATH": str(tmp_path)})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "bcapi db upgrade" in response.get_json()["detail"]
    app.extensions["bcapi"].db.dispose()


def test_every_response_carries_a_request_id(api):
    response = api.get("/api/v1/cases", as_=None)
    assert len(response.headers["X-Request-ID"]) >= 16
    assert body(response)["request_id"] == response.headers["X-Request-ID"]
    echoed = api.get("/healthz", as_=None, headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["X-Request-ID"] == "trace-123"


def test_metrics_are_prometheus_text(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "bcapi_http_requests_total" in response.get_data(as_text=True)


def test_openapi_document_is_valid_and_covers_the_contract(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    paths = spec["paths"]
    for path, method in [("/api/v1/cases", "post"), ("/api/v1/cases", "get"), ("/api/v1/cases/{case_id}", "get"),
                         ("/api/v1/cases/{case_id}", "put"), ("/api/v1/cases/{case_id}/revisions", "get"),
                         ("/api/v1/cases/{case_id}/revisions/{number}", "get"),
                         ("/api/v1/cases/{case_id}/assessments", "get"),
                         ("/api/v1/cases/{case_id}/assessments", "post"),
                         ("/api/v1/assessments", "post"), ("/api/v1/rulesets/current", "get")]:
        assert method in paths[path], (path, method)
    document = spec["components"]["schemas"]["BusinessCaseDocument"]
    assert set(document["required"]) == {"schema_version", "title", "consortium"}


def test_the_docs_page_works_offline(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "http://" not in html.replace("http://127.0.0.1", "") and "https://" not in html
    with client.get("/api/v1/docs/static/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.get_data()


def test_log_lines_are_json_stamped_in_utc_whatever_the_time_zone(monkeypatch):
    """A log line's time ends in Z, so it must be UTC even on a server set to another zone."""
    import logging
    import time

    from bcapi.http.observability import JSONFormatter

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        record = logging.LogRecord("bcapi.http", logging.INFO, __file__, 1, "request", None, None)
        record.created = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z
        record.msecs = 250
        entry = json.loads(JSONFormatter().format(record))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert entry["time"] == "2023-11-14T22:13:20.250Z"
    assert entry["message"] == "request" and entry["level"] == "INFO"
