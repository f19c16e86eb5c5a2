"""Schemathesis against the served OpenAPI: every operation, generated requests, valid admin key.

Zero server errors, and every answer must match what the OpenAPI document says (status code
documented, content type and body schema as documented). The fuzz run is about the HTTP layer,
so it uses one database: an SQLite file of its own, made when the module is collected
(schemathesis's lazy fixture relies on pytest internals that pytest 9 removed).
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from bcapi.storage import migrate
from bcapi.http.app import create_app

from .factories import new_key

pytestmark = pytest.mark.slow


def _fuzz_target():
    """A migrated app of its own and an admin key for it."""
    folder = Path(tempfile.mkdtemp(prefix="bcapi-fuzz-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    url = f"sqlite:///{folder / 'fuzz.sqlite3'}"
    migrate.upgrade(url)
    app = create_app({"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": str(folder),
                      "BCAPI_LOG_LEVEL": "WARNING", "BCAPI_RATE_LIMIT": "1000000 per minute"})
    app.config["TESTING"] = True
    return app, new_key(app, role="admin")


APP, ADMIN_KEY = _fuzz_target()
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_breaks_its_contract(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                           checks=[not_a_server_error, content_type_conformance, response_schema_conformance])
