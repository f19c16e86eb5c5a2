"""Schemathesis against the served OpenAPI: every operation, generated requests, valid admin key.

Zero server errors, and every answer must match what the OpenAPI document says (status code
documented, content type and body schema as documented).
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from .factories import new_key

pytestmark = pytest.mark.slow


@pytest.fixture
def api_schema(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the fuzz run is about the HTTP layer; one database is enough")
    app.config["BCAPI_FUZZ_ADMIN_KEY"] = new_key(app, role="admin")
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_breaks_its_contract(case, app):
    key = app.config["BCAPI_FUZZ_ADMIN_KEY"]
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"},
                           checks=[not_a_server_error, content_type_conformance, response_schema_conformance])
