"""The access policy: who may call each route, and the API key or session that says who calls.

Every route declares who may call it with `@allow(...)` (`allow(PUBLIC)` for none); one
app-wide `before_request` (`init_app`) enforces it, and refuses any route without a policy, so
a new route is closed until someone says who may call it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Callable

from flask import Flask, current_app, g, request, session
from sqlalchemy import bindparam, delete, select, update

from bcapi.storage.models import ApiKey, WebSession, utcnow
from bcapi.http.problems import Problem
from bcapi.services.principal import ROLES, Principal, hash_key

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
PUBLIC = "public"


def allow(*roles: str, via: str = "bearer") -> Callable:
    """Declare which roles may call a view (`allow(PUBLIC)` for no key at all).

    `via="session"` is for the board's web pages: the key was given once at sign-in and the
    signed session cookie names it; it is checked again (revoked? expired?) on every request.
    """
    for role in roles:
        if role not in ROLES and role != PUBLIC:
            raise ValueError(f"unknown role {role!r}")
    if via not in ("bearer", "session"):
        raise ValueError(f"unknown credential {via!r}")

    def decorate(view: Callable) -> Callable:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        view.credential = via  # type: ignore[attr-defined]
        return view

    return decorate


# Routes other libraries add, with their policy: the OpenAPI document and its docs page.
LIBRARY_ENDPOINTS = {"api-docs.openapi_json": PUBLIC, "api-docs.openapi_swagger_ui": PUBLIC,
                     "static": PUBLIC}


def allowed_roles(endpoint: str | None) -> frozenset[str] | None:
    if endpoint in LIBRARY_ENDPOINTS:
        return frozenset({LIBRARY_ENDPOINTS[endpoint]})
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, "allowed_roles", None)


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# What a request needs of its key, by the key's hash: read on the driver's connection (a
# db.DriverQuery), because it runs before every authenticated request and a SQLAlchemy Connection,
# let alone ORM objects, would cost several times the query itself.
KEY_LOOKUP = (select(ApiKey.id, ApiKey.role, ApiKey.consortium_code, ApiKey.label, ApiKey.revoked_at,
                     ApiKey.expires_at, ApiKey.last_used_at)
              .where(ApiKey.key_hash == bindparam("key_hash")))


def find_key(token: str) -> tuple | None:
    """The key's row, a named tuple of the ApiKey columns `principal_for` reads, or None if no key
    has that hash."""
    return current_app.extensions["bcapi"].db.driver_query(KEY_LOOKUP).first(key_hash=hash_key(token))


def authenticate() -> Principal:
    token = _bearer_token()
    if token is None:
        raise Problem(401, "Send an API key as 'Authorization: Bearer <key>'.",
                      headers={"WWW-Authenticate": 'Bearer realm="bcapi"'})
    return principal_for(find_key(token))


def principal_for(key: ApiKey | tuple | None) -> Principal:
    """The key's Principal if it is usable now; 401 if unknown, revoked or expired."""
    db = current_app.extensions["bcapi"].db
    now = utcnow()
    if key is None or key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise Problem(401, "The API key is not valid (unknown, revoked or expired).",
                      headers={"WWW-Authenticate": 'Bearer realm="bcapi", error="invalid_token"'})
    if key.last_used_at is None or key.last_used_at < now - LAST_USED_RESOLUTION:
        with db.writing() as db_session:  # at most once a minute per key, so reads stay reads
            db_session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
    return Principal(key.id, key.role, key.consortium_code, key.label)


def enforce_policy() -> None:
    """Before every request: authenticate if the route needs it, then check the route's policy.

    Each request is counted against a rate limit here, once it is known whose it is: a valid
    key's allowance, or else the client address's (no key, a failed key, a public route).
    """
    limits = current_app.extensions["bcapi_rate_limits"]
    if request.method == "OPTIONS":
        return  # CORS preflights: Flask answers these itself
    if request.endpoint is None:
        limits.count_address()  # 404 and 405 (raised later, rendered as problems): scanners pay too
        return
    roles = allowed_roles(request.endpoint)
    if roles is None:
        raise Problem(403, "This route has no access policy, so it is closed.")
    if PUBLIC in roles:
        limits.count_address()
        return
    view = current_app.view_functions[request.endpoint]
    try:
        if getattr(view, "credential", "bearer") == "session":
            g.principal = session_principal()
            if g.principal is None:
                raise SignInRequired()
        else:
            g.principal = authenticate()
    except (Problem, SignInRequired):
        limits.count_address()  # a 429 here, once the address's allowance is spent, rather than the 401
        raise
    limits.count_key(g.principal.key_id)
    if g.principal.role not in roles:
        raise Problem(403, f"A {g.principal.role} key may not do this.")


class SignInRequired(Exception):
    """A web page was asked for without a valid session; the web layer sends the sign-in page."""


SESSION_LIFETIME = dt.timedelta(hours=8)


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(principal: Principal) -> None:
    """Sign in: a new server-side session for the key, named by a random id in the signed cookie.
    Expired sessions are swept here, so the table holds at most a day's sign-ins."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with current_app.extensions["bcapi"].db.writing() as db_session:
        db_session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        db_session.add(WebSession(id_hash=_session_hash(session_id), key_id=principal.key_id, created_at=now,
                                  expires_at=now + SESSION_LIFETIME))
    session.clear()
    session.permanent = True
    session["sid"] = session_id


def end_session() -> None:
    """Sign out: the session is deleted on the server, so a copy of the cookie opens nothing."""
    session_id = session.get("sid")
    if session_id:
        with current_app.extensions["bcapi"].db.writing() as db_session:
            db_session.execute(delete(WebSession).where(WebSession.id_hash == _session_hash(session_id)))
    session.clear()


def session_principal() -> Principal | None:
    """The signed-in key, if the cookie names a session the server still has, unexpired, whose
    key is still valid (not revoked, not expired)."""
    session_id = session.get("sid")
    if not isinstance(session_id, str) or not session_id:
        if session:
            session.clear()  # a cookie from before server-side sessions, which named the key
        return None
    with current_app.extensions["bcapi"].db.reading() as db_session:
        key = db_session.scalar(select(ApiKey).join(WebSession, WebSession.key_id == ApiKey.id)
                                .where(WebSession.id_hash == _session_hash(session_id),
                                       WebSession.expires_at > utcnow()))
    try:
        return principal_for(key)
    except Problem:
        session.clear()
        return None


def init_app(app: Flask) -> None:
    app.before_request(enforce_policy)


def current_principal() -> Principal:
    return g.principal
