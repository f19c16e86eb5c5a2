"""Who may call: the Bearer key and nothing else, keys that stop working, when a key was last
used, and requests that need no key (CORS preflights, public routes). On SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select, update

from bcapi.http.app import create_app
from bcapi.http.auth import allow
from bcapi.services.principal import hash_key
from bcapi.storage.models import ApiKey, utcnow

from .factories import ApiClient, body

PROBLEM = "application/problem+json"


def assert_unauthorised(response) -> dict:
    """401 as RFC 9457 and RFC 6750 describe it."""
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="bcapi"')
    problem = body(response)
    assert problem["status"] == 401 and problem["type"].endswith("/problems/unauthorised")
    return problem


def set_key(api, key: str, **values) -> None:
    with api.app.extensions["bcapi"].db.writing() as session:
        session.execute(update(ApiKey).where(ApiKey.key_hash == hash_key(key)).values(**values))


def last_used(api, key: str) -> dt.datetime | None:
    with api.app.extensions["bcapi"].db.reading() as session:
        return session.scalar(select(ApiKey.last_used_at).where(ApiKey.key_hash == hash_key(key)))


# --- the Bearer scheme only ----------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["Basic", "Token", "ApiKey", "Bearer:"])
def test_a_key_sent_under_another_scheme_is_refused(api, scheme):
    key = api.key("EAS")
    problem = assert_unauthorised(api.get("/api/v1/cases", as_=None, headers={"Authorization": f"{scheme} {key}"}))
    assert "Bearer" in problem["detail"]


def test_a_key_sent_bare_or_an_empty_bearer_is_refused(api):
    for header in (api.key("EAS"), "Bearer", "Bearer ", "Bearer    ", ""):
        assert_unauthorised(api.get("/api/v1/cases", as_=None, headers={"Authorization": header}))


def test_the_scheme_name_is_not_case_sensitive(api):
    """RFC 9110 §11.1: `bearer` and `BEARER` are the Bearer scheme."""
    key = api.key("EAS")
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert api.get("/api/v1/cases", as_=None, headers={"Authorization": f"{scheme} {key}"}).status_code == 200


def test_an_unknown_key_is_an_invalid_token(api):
    response = api.get("/api/v1/cases", as_=None, headers={"Authorization": "Bearer bcapi_not-a-key"})
    assert_unauthorised(response)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- keys that stop working ----------------------------------------------------------------

def test_a_key_past_its_expiry_is_refused_and_one_before_it_works(api):
    key = api.key("EAS")
    set_key(api, key, expires_at=utcnow() + dt.timedelta(hours=1))
    assert api.get("/api/v1/cases").status_code == 200
    set_key(api, key, expires_at=utcnow() - dt.timedelta(seconds=1))
    assert_unauthorised(api.get("/api/v1/cases"))


def test_a_revoked_key_is_refused_even_before_it_expires(api):
    key = api.key("EAS")
    set_key(api, key, revoked_at=utcnow(), expires_at=utcnow() + dt.timedelta(days=30))
    assert_unauthorised(api.get("/api/v1/cases"))


def test_a_role_the_route_does_not_allow_is_403_naming_the_role(api):
    response = api.get("/api/v1/keys", as_="board")
    assert response.status_code == 403 and response.headers["Content-Type"].startswith(PROBLEM)
    assert body(response)["detail"] == "A board key may not do this."


# --- when a key was last used --------------------------------------------------------------

def test_using_a_key_records_when_it_was_last_used(api):
    key = api.key("EAS")
    assert last_used(api, key) is None
    before = utcnow()
    assert api.get("/api/v1/cases").status_code == 200
    assert last_used(api, key) >= before


def test_last_used_is_refreshed_once_more_than_a_minute_has_passed(api):
    key = api.key("EAS")
    long_ago = utcnow() - dt.timedelta(hours=2)
    set_key(api, key, last_used_at=long_ago)
    before = utcnow()
    api.get("/api/v1/cases")
    assert last_used(api, key) >= before
    a_minute_and_more = utcnow() - dt.timedelta(seconds=75)
    set_key(api, key, last_used_at=a_minute_and_more)
    api.get("/api/v1/cases")
    assert last_used(api, key) >= before


def test_last_used_is_not_rewritten_within_the_minute(api):
    """Reads stay reads: a key used 45 s ago is not written again."""
    key = api.key("EAS")
    recently = utcnow().replace(microsecond=0) - dt.timedelta(seconds=45)
    set_key(api, key, last_used_at=recently)
    api.get("/api/v1/cases")
    assert last_used(api, key) == recently


def test_an_admin_sees_when_each_key_was_last_used(api):
    created = body(api.post("/api/v1/keys", as_="admin", json={"role": "board", "label": "board tool"}))
    listed = {k["id"]: k for k in body(api.get("/api/v1/keys", as_="admin"))["items"]}
    assert listed[created["id"]]["last_used_at"] is None
    before = utcnow()
    api.get("/api/v1/cases", as_=None, headers={"Authorization": f"Bearer {created['key']}"})
    listed = {k["id"]: k for k in body(api.get("/api/v1/keys", as_="admin"))["items"]}
    assert dt.datetime.fromisoformat(listed[created["id"]]["last_used_at"]) >= before


# --- requests that need no key -------------------------------------------------------------

def test_a_cors_preflight_needs_no_key(app_env):
    app = create_app({**app_env, "BCAPI_CORS_ORIGINS": "https://tool.example"})
    try:
        response = app.test_client().options("/api/v1/cases", headers={
            "Origin": "https://tool.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key"})
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "https://tool.example"
        allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert {"authorization", "idempotency-key"} <= allowed
        assert "WWW-Authenticate" not in response.headers
    finally:
        app.extensions["bcapi"].db.dispose()


def test_options_on_a_protected_route_answers_without_a_key(api):
    response = api.request("OPTIONS", "/api/v1/cases", as_=None)
    assert response.status_code == 200
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_an_unknown_route_is_404_not_401_without_a_key(api):
    response = api.get("/api/v1/no-such-thing", as_=None)
    assert response.status_code == 404 and response.headers["Content-Type"].startswith(PROBLEM)


def test_public_routes_and_the_api_description_need_no_key(api):
    for path in ("/healthz", "/api/v1/openapi.json", "/api/v1/docs"):
        assert api.get(path, as_=None).status_code == 200, path


def test_a_policy_names_only_known_roles_and_credentials():
    with pytest.raises(ValueError, match="unknown role 'auditor'"):
        allow("auditor")
    with pytest.raises(ValueError, match="unknown credential 'cookie'"):
        allow("board", via="cookie")
    view = allow("board", "admin", via="session")(lambda: None)
    assert (view.allowed_roles, view.credential) == (frozenset({"board", "admin"}), "session")


# --- the board's signed-in session ---------------------------------------------------------

def sign_in(client, key: str):
    page = client.get("/dashboard/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/dashboard/sign-in", data={"key": key, "csrf_token": token})


def test_a_session_ends_when_its_key_expires(api):
    client = api.app.test_client()
    key = api.key("board")
    assert sign_in(client, key).status_code == 303
    assert client.get("/dashboard").status_code == 200
    set_key(api, key, expires_at=utcnow() - dt.timedelta(seconds=1))
    response = client.get("/dashboard")
    assert response.status_code == 303 and "/dashboard/sign-in" in response.headers["Location"]
    # The session was forgotten: the key working again does not bring it back.
    set_key(api, key, expires_at=None)
    assert client.get("/dashboard").status_code == 303


def test_a_bearer_key_does_not_open_the_board_pages(api):
    response = api.get("/dashboard", as_="board")
    assert response.status_code == 303 and "/dashboard/sign-in" in response.headers["Location"]
