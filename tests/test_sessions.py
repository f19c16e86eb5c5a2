"""Sessions that end: signing out, revoking the key or the session's expiry refuse a cookie
someone kept; in production the service does not start without BCAPI_SECRET_KEY."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from bcapi.config import ConfigError
from bcapi.http.app import create_app
from bcapi.storage.models import WebSession, utcnow

from .factories import body
from .test_web import csrf, sign_in

COOKIE = "bcapi_session"


def _signed_in(api, key: str):
    client = api.app.test_client()
    assert sign_in(client, key).status_code == 303
    return client, client.get_cookie(COOKIE).value


def _replay(api, cookie: str):
    """A browser that has nothing but the copied cookie."""
    thief = api.app.test_client()
    thief.set_cookie(COOKIE, cookie)
    return thief.get("/dashboard")


def _sessions(api) -> int:
    with api.app.extensions["bcapi"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(WebSession))


def test_a_cookie_copied_before_sign_out_is_refused_after_it(api):
    client, cookie = _signed_in(api, api.key("board"))
    other_browser, _ = _signed_in(api, api.key("board"))
    assert _replay(api, cookie).status_code == 200 and _sessions(api) == 2
    page = client.get("/dashboard").get_data(as_text=True)
    assert client.post("/dashboard/sign-out", data={"csrf_token": csrf(page)}).status_code == 303

    replayed = _replay(api, cookie)
    assert replayed.status_code == 303 and replayed.headers["Location"].startswith("/dashboard/sign-in")
    assert _sessions(api) == 1
    # Signing out in one browser leaves the key's other sessions alone.
    assert other_browser.get("/dashboard").status_code == 200


def test_revoking_the_key_refuses_its_sessions(api):
    created = body(api.post("/api/v1/keys", as_="admin", json={"role": "board"}))
    _, cookie = _signed_in(api, created["key"])
    assert _replay(api, cookie).status_code == 200
    assert api.request("DELETE", f"/api/v1/keys/{created['id']}", as_="admin").status_code == 200
    assert _replay(api, cookie).status_code == 303


def test_a_session_ends_when_its_time_is_up_on_the_server(api):
    _, cookie = _signed_in(api, api.key("board"))
    with api.app.extensions["bcapi"].db.writing() as session:
        session.execute(update(WebSession).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert _replay(api, cookie).status_code == 303
    _signed_in(api, api.key("board"))  # a sign-in sweeps the expired sessions away
    assert _sessions(api) == 1


def test_a_cookie_from_before_server_side_sessions_signs_no_one_in(api):
    """Cookies used to name the key itself; such a cookie, validly signed, opens nothing now."""
    client = api.app.test_client()
    key_id = body(api.get("/api/v1/keys", as_="admin"))["items"][0]["id"]
    with client.session_transaction() as session:
        session["key_id"] = key_id
    assert client.get("/dashboard").status_code == 303


def test_production_refuses_to_start_without_a_secret_key(app_env):
    with pytest.raises(ConfigError, match="BCAPI_SECRET_KEY"):
        create_app({**app_env, "BCAPI_ENV": "production"})
    app = create_app({**app_env, "BCAPI_ENV": "production", "BCAPI_SECRET_KEY": "x" * 64})
    assert app.secret_key == "x" * 64
    app.extensions["bcapi"].db.dispose()
    with pytest.raises(ConfigError, match="BCAPI_ENV"):
        create_app({**app_env, "BCAPI_ENV": "prod"})


def test_development_still_starts_without_one(app_env):
    app = create_app(app_env)
    assert len(app.secret_key) == 64  # random, for this process only
    app.extensions["bcapi"].db.dispose()
