"""The application factory."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from bcapi.http import auth, hardening, observability, problems
from bcapi.http.api.base import Api
from bcapi.http.api.context import AppState
from bcapi.config import Settings
from bcapi.storage.database import Database
from bcapi.engine import load_ruleset
from bcapi.http.jsonio import DecimalJSONProvider

API_TITLE = "bcapi: PbC business-case assessment"
API_VERSION = "1"


def create_app(env: Mapping[str, str] | None = None, *, database: Database | None = None) -> Flask:
    """Build the app from the environment (or `env`, for tests). Refuses to start on a bad ruleset."""
    settings = Settings.from_env(env)
    settings.check_for_service()  # in production, refuses to start without BCAPI_SECRET_KEY
    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.session_interface = CookieSessions()
    app.json_provider_class = DecimalJSONProvider
    app.json = DecimalJSONProvider(app)
    app.config.update(_flask_config(settings))
    observability.configure_logging(settings.log_level)

    ruleset = load_ruleset(settings.rules_path)  # raises InvalidRuleset with every problem
    db = database or Database(settings.database_url)
    app.extensions["bcapi"] = AppState(settings=settings, db=db, ruleset=ruleset)
    metrics = observability.Metrics()
    app.extensions["bcapi_metrics"] = metrics

    problems.init_app(app)
    observability.init_app(app, metrics)
    app.extensions["bcapi_rate_limits"] = hardening.init_app(app, settings)
    _register_routes(app)
    return app


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document as served, for the reference ruleset (`bcapi schema openapi`)."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"BCAPI_DATABASE_URL": "sqlite://", "BCAPI_INSTANCE_PATH": folder,
                          "BCAPI_LOG_LEVEL": "WARNING", "BCAPI_RATE_LIMIT": ""})
        try:
            with app.test_client() as client:
                return json.loads(client.get(f"/api/v1/{app.config['OPENAPI_JSON_PATH']}").data)
        finally:
            app.extensions["bcapi"].db.dispose()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions (the web pages' sign-in), with the signer built only for a
    request that brings the cookie: API calls never do, and building it was a tenth of the time
    Flask itself spends on one."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _flask_config(settings: Settings) -> dict[str, Any]:
    return {
        "SECRET_KEY": settings.secret_key,
        "SESSION_COOKIE_NAME": "bcapi_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": settings.cookie_secure,
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        "MAX_CONTENT_LENGTH": settings.max_body_bytes,
        "API_TITLE": API_TITLE,
        "API_VERSION": API_VERSION,
        "OPENAPI_VERSION": "3.1.0",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/static/",
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None},  # never send the spec's URL off-site
        "API_SPEC_OPTIONS": {
            "info": {"description": "Assess NHS practice-based commissioning business cases against a "
                                    "published, versioned ruleset. See the README."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        },
    }


def _register_routes(app: Flask) -> None:
    from bcapi.http import ops, web
    from bcapi.http.api import admin, assessments, cases, dashboard, decisions
    from bcapi.document.jsonschema import marshmallow_plugin
    from bcapi.http.api.openapi import Examples, OpenAPIPlugin

    examples = Examples(app.extensions["bcapi"].ruleset)
    api = Api(app, spec_kwargs={"marshmallow_plugin": marshmallow_plugin(),
                                "extra_plugins": [OpenAPIPlugin(examples)]})
    for blueprint in (cases.blp, assessments.blp, decisions.blp, dashboard.blp, admin.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(ops.blp)
    app.register_blueprint(web.blp)
    auth.init_app(app)
