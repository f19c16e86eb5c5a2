"""Every route has an explicit access policy, and each role gets what CONTRACT §2 says.

The matrix is generated from the app's URL map, so a new route without a policy, or with the
wrong one, fails here.
"""
from __future__ import annotations

import pytest

from bcapi.http.auth import LIBRARY_ENDPOINTS, PUBLIC

from .factories import body, make_document

# What CONTRACT §2 (and issue #5) say each role may do, by endpoint.
EXPECTED = {
    "cases.submit_case": {"commissioner", "admin"},
    "cases.list_cases": {"commissioner", "board", "admin"},
    "cases.get_case": {"commissioner", "board", "admin"},
    "cases.revise_case": {"commissioner", "admin"},
    "cases.list_revisions": {"commissioner", "board", "admin"},
    "cases.get_revision": {"commissioner", "board", "admin"},
    "cases.get_revision_document": {"commissioner", "board", "admin"},
    "assessments.dry_run": {"commissioner", "board", "admin"},
    "assessments.list_assessments": {"commissioner", "board", "admin"},
    "assessments.reassess": {"board", "admin"},
    "assessments.current_ruleset": {"commissioner", "board", "admin"},
    "decisions.decide": {"board", "admin"},
    "decisions.list_decisions": {"commissioner", "board", "admin"},
    "dashboard.portfolio": {"board", "admin"},
    "dashboard.cases_csv": {"board", "admin"},
    "admin.list_keys": {"admin"},
    "admin.create_key": {"admin"},
    "admin.revoke_key": {"admin"},
    "admin.audit_trail": {"admin"},
}
PUBLIC_ENDPOINTS = {"ops.healthz", "ops.readyz", "ops.metrics", "ops.swagger_assets", "static",
                    "web.sign_in", *LIBRARY_ENDPOINTS}
# The board's web pages: a signed session cookie rather than a bearer key (tests/test_web.py).
SESSION_ENDPOINTS = {"web.portfolio": {"board", "admin"}, "web.case_report": {"board", "admin"},
                     "web.record_decision": {"board", "admin"},
                     "web.cases_csv": {"board", "admin"}, "web.sign_out": {"board", "admin"}}


def _routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_the_policy_the_contract_gives_it(app):
    seen = set()
    for rule, _ in _routes(app):
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "allowed_roles", None)
        if rule.endpoint in PUBLIC_ENDPOINTS:
            assert rule.endpoint in LIBRARY_ENDPOINTS or rule.endpoint == "static" or roles == {PUBLIC}, rule
            continue
        assert roles is not None, f"{rule} has no access policy"
        if rule.endpoint in SESSION_ENDPOINTS:
            assert view.credential == "session" and set(roles) == SESSION_ENDPOINTS[rule.endpoint]
            continue
        assert set(roles) == EXPECTED[rule.endpoint], rule.endpoint
        seen.add(rule.endpoint)
    assert seen == set(EXPECTED), "a route the contract names is missing"


def test_a_route_without_a_policy_is_closed(app):
    @app.route("/api/v1/forgotten")
    def forgotten():
        return {"secret": True}

    response = app.test_client().get("/api/v1/forgotten")
    assert response.status_code == 403


@pytest.fixture
def matrix_case(api):
    return body(api.submit(make_document(consortium="EAS"), as_="EAS"))


def _url(rule, case_id, key_id):
    values = {"case_id": case_id, "number": 1, "key_id": key_id, "filename": "swagger-ui.css"}
    return rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]


def test_each_role_on_each_route(app, api, matrix_case):
    key_id = "00000000-0000-0000-0000-000000000000"
    callers = {"admin": "admin", "board": "board", "commissioner": "EAS"}
    for rule, method in _routes(app):
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint in SESSION_ENDPOINTS:
            continue
        url = _url(rule, matrix_case["id"], key_id)
        json = make_document() if method in ("POST", "PUT") and "decisions" not in rule.rule else None
        if "decisions" in rule.rule and method == "POST":
            json = {"outcome": "deferred"}
        if rule.endpoint == "admin.create_key":
            json = {"role": "board"}
        assert api.request(method, url, as_=None, json=json).status_code == 401, (method, url)
        for role, who in callers.items():
            status = api.request(method, url, as_=who, json=json).status_code
            if role in EXPECTED[rule.endpoint]:
                assert status not in (401, 403), (role, method, url, status)
            else:
                assert status == 403, (role, method, url, status)


def test_another_consortiums_commissioner_finds_nothing(app, api, matrix_case):
    for rule, method in _routes(app):
        if "<case_id>" not in rule.rule or rule.endpoint in SESSION_ENDPOINTS:
            continue
        url = _url(rule, matrix_case["id"], "x")
        json = make_document(consortium="SOTON-C") if method in ("POST", "PUT") else None
        if "decisions" in rule.rule and method == "POST":
            json = {"outcome": "deferred"}
        status = api.request(method, url, as_="SOTON-C", json=json,
                             headers={"If-Match": "*"}).status_code
        expected = 404 if "commissioner" in EXPECTED[rule.endpoint] else 403
        assert status == expected, (method, url, status)
