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


def test_made_up_keys_spend_the_address_allowance(app_env):
    """Key guessing is limited: unknown, revoked and missing keys all count against the address."""
    app = create_app({**app_env, "BCAPI_RATE_LIMIT": "5 per hour"})
    api = ApiClient(app)
    guesses = [api.get("/api/v1/cases", as_=None, headers={"Authorization": f"Bearer bcapi_guess{i}"})
               for i in range(8)]
    assert [r.status_code for r in guesses] == [401] * 5 + [429] * 3
    assert body(guesses[5])["status"] == 429
    assert api.get("/dashboard/sign-in", as_=None).status_code == 429  # public pages: the same address
    other = app.test_client().get("/api/v1/cases", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 401  # another address has its own allowance
    assert api.get("/api/v1/cases").status_code == 200  # and a valid key its own
    app.extensions["bcapi"].db.dispose()


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(app_env):
    app = create_app({**app_env, "BCAPI_RATE_LIMIT": "2 per hour", "BCAPI_FORWARDED_ALLOW_IPS": "10.0.0.5"})
    client = app.test_client()

    def status(peer: str, forwarded: str) -> int:
        return client.get("/api/v1/cases", headers={"X-Forwarded-For": forwarded},
                          environ_base={"REMOTE_ADDR": peer}).status_code

    # A client's own X-Forwarded-For buys it no new allowance: it is the peer's address that counts.
    assert [status("203.0.113.9", f"198.51.100.{i}") for i in range(4)] == [401, 401, 429, 429]
    # Through the trusted proxy each client has its own, read from the right of the list, so
    # whatever a client writes at the left changes nothing.
    assert [status("10.0.0.5", "198.51.100.1") for _ in range(3)] == [401, 401, 429]
    assert [status("10.0.0.5", f"198.51.100.{i}, 198.51.100.2") for i in (1, 3, 4)] == [401, 401, 429]
    app.extensions["bcapi"].db.dispose()


def test_metrics_can_be_closed_with_a_token(app_env):
    open_app = create_app(app_env)
    assert open_app.test_client().get("/metrics").status_code == 200
    open_app.extensions["bcapi"].db.dispose()
    app = create_app({**app_env, "BCAPI_METRICS_TOKEN": "scrape-token-of-32-characters-00",
                      "BCAPI_RATE_LIMIT": "3 per hour"})
    client = app.test_client()
    refused = client.get("/metrics")
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-of-32-characters-00"})
    assert allowed.status_code == 200 and "bcapi_http_requests_total" in allowed.get_data(as_text=True)
    # Guessing the token spends the address's allowance like guessing a key.
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer guess"}).status_code == 429
    app.extensions["bcapi"].db.dispose()


def test_an_unreachable_redis_lets_requests_through(app_env):
    """The service starts and serves, unlimited, with its Redis down (and logs it)."""
    from .live import free_port

    app = create_app({**app_env, "BCAPI_RATE_LIMIT": "2 per hour",
                      "BCAPI_RATE_LIMIT_STORAGE": f"redis://127.0.0.1:{free_port()}"})
    api = ApiClient(app)
    assert [api.get("/api/v1/cases").status_code for _ in range(3)] == [200, 200, 200]
    assert [api.get("/api/v1/cases", as_=None).status_code for _ in range(3)] == [401, 401, 401]
    app.extensions["bcapi"].db.dispose()


def test_trusted_proxies_must_be_addresses_or_networks():
    import pytest

    from bcapi.config import ConfigError, Settings

    assert Settings.from_env({"BCAPI_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 192.0.2.1,::1"}).forwarded_allow_ips == (
        "10.0.0.0/8", "192.0.2.1", "::1")
    with pytest.raises(ConfigError, match="BCAPI_FORWARDED_ALLOW_IPS: 'nginx' is not an address or network"):
        Settings.from_env({"BCAPI_FORWARDED_ALLOW_IPS": "127.0.0.1,nginx"})
