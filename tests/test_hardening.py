"""Rate limits, security headers and CORS."""
from __future__ import annotations

from bcapi.http.app import create_app

from .factories import ApiClient, body, make_document


def test_security_headers_on_every_response(api):
    for response in (api.get("/api/v1/cases"), api.get("/api/v1/cases", as_=None), api.get("/healthz", as_=None)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src" in response.headers["Content-Security-Policy"]
    assert api.get("/api/v1/cases").headers["Cache-Control"] == "no-store"


def test_cors_is_closed_unless_configured(api, app_env):
    response = api.get("/api/v1/cases", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    app = create_app({**app_env, "BCAPI_CORS_ORIGINS": "https://tool.example"})
    opened = ApiClient(app).get("/api/v1/cases", headers={"Origin": "https://tool.example"})
    assert opened.headers["Access-Control-Allow-Origin"] == "https://tool.example"
    app.extensions["bcapi"].db.dispose()


def test_too_many_requests_is_429_with_retry_after(app_env):
    app = create_app({**app_env, "BCAPI_RATE_LIMIT": "3 per minute"})
    api = ApiClient(app)
    statuses = [api.get("/api/v1/cases").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = api.get("/api/v1/cases")
    assert limited.headers["Content-Type"].startswith("application/problem+json")
    assert int(limited.headers["Retry-After"]) > 0
    assert body(limited)["status"] == 429
    # Another key has its own allowance; health checks are never limited.
    assert api.get("/api/v1/cases", as_="board").status_code == 200
    assert all(api.get("/healthz", as_=None).status_code == 200 for _ in range(5))
    app.extensions["bcapi"].db.dispose()


def test_rate_limit_headers_say_what_is_left(app_env):
    app = create_app({**app_env, "BCAPI_RATE_LIMIT": "5 per minute"})
    api = ApiClient(app)
    responses = [api.get("/api/v1/cases") for _ in range(3)]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"5"}
    # One allowance per key, whatever the endpoint (the README's "requests allowed per API key").
    assert api.get("/api/v1/rulesets/current").headers["X-RateLimit-Remaining"] == "1"
    assert "X-RateLimit-Limit" not in api.get("/healthz", as_=None).headers
    app.extensions["bcapi"].db.dispose()


def test_a_broken_rate_limit_store_lets_requests_through(app_env, monkeypatch):
    """Availability first: if the limiter's storage (say Redis) fails, serve and log it."""
    app = create_app({**app_env, "BCAPI_RATE_LIMIT": "1 per minute"})
    api = ApiClient(app)

    def unreachable(*args, **kwargs):
        raise ConnectionError("storage down")

    monkeypatch.setattr(app.extensions["bcapi_rate_limits"].counter, "hit", unreachable)
    assert [api.get("/api/v1/cases").status_code for _ in range(3)] == [200, 200, 200]
    app.extensions["bcapi"].db.dispose()


def test_nul_characters_are_refused_with_a_problem_not_stored_or_a_500(api):
    """PostgreSQL cannot hold U+0000; both databases must answer the same clear 4xx."""
    document = make_document(title="Bad\u0000title")
    document["risks"][0]["mitigation"] = "x\u0000"
    response = api.submit(document)
    assert response.status_code == 422
    assert {e["pointer"] for e in body(response)["errors"]} == {"/title", "/risks/0/mitigation"}
    for path in ("/api/v1/cases/%00", "/api/v1/cases?consortium=%00", "/api/v1/cases?x%00=1"):
        response = api.get(path)
        assert response.status_code == 400, path
        assert response.headers["Content-Type"].startswith("application/problem+json")
    assert body(api.get("/api/v1/cases", as_="admin"))["items"] == []
