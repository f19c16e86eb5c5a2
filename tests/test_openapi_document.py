"""The OpenAPI document tells a client developer everything a call can answer, and the committed
copy (`schemas/openapi.json`, written by `bcapi schema openapi`) is what the service serves."""
from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from .factories import body

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "schemas" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch"}
PUBLIC_PATHS = {"/healthz", "/_ping", "/readyz", "/_status", "/metrics"}


def _served(client) -> dict:
    return json.loads(client.get("/api/v1/openapi.json").data)


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = spec["components"][kind][name]
    return node


def test_the_committed_document_is_the_served_one(client, database_url):
    if not database_url.startswith("sqlite"):
        return  # the document does not depend on the database
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    validate(committed)
    assert committed == _served(client), "schemas/openapi.json is stale: run `bcapi schema openapi`"


def test_every_operation_that_needs_a_key_documents_its_problems(client):
    spec = _served(client)
    for path, method, operation in _operations(spec):
        if path in PUBLIC_PATHS:
            continue
        for status in ("401", "403", "429"):
            response = _resolve(spec, operation["responses"].get(status))
            assert response, (method, path, status)
            assert response["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
        too_many = _resolve(spec, operation["responses"]["429"])
        assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(too_many["headers"])
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= set(operation["responses"]), (method, path)


def test_the_headers_of_the_contract_are_declared(client):
    spec = _served(client)
    paths = spec["paths"]

    def parameters(operation):
        return {p["name"]: p for p in (_resolve(spec, p) for p in operation.get("parameters", []))}

    def headers(response):
        return set(_resolve(spec, response).get("headers", {}))

    submit, revise = paths["/api/v1/cases"]["post"], paths["/api/v1/cases/{case_id}"]["put"]
    assert parameters(submit)["Idempotency-Key"]["in"] == "header"
    assert parameters(revise)["If-Match"]["required"] is True
    assert {"409", "422"} <= set(submit["responses"])
    assert {"404", "412", "428"} <= set(revise["responses"])
    assert {"Location", "ETag", "X-RateLimit-Remaining"} <= headers(submit["responses"]["201"])
    assert {"Location", "ETag"} <= headers(revise["responses"]["200"])
    assert "ETag" in headers(paths["/api/v1/cases/{case_id}"]["get"]["responses"]["200"])
    assert "Link" in headers(paths["/api/v1/cases"]["get"]["responses"]["200"])
    assert "Link" in headers(paths["/api/v1/audit"]["get"]["responses"]["200"])


def test_the_request_examples_are_the_sample_cases_and_are_accepted(client, api):
    spec = _served(client)
    examples = spec["paths"]["/api/v1/cases"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert sorted(examples) == sorted(p.stem for p in (ROOT / "schemas" / "examples").glob("*.json"))
    shown = _resolve(spec, spec["paths"]["/api/v1/assessments"]["post"]["responses"]["200"]
                     ["content"]["application/json"]["examples"]["assessment"])["value"]
    for name, ref in examples.items():
        document = _resolve(spec, ref)["value"]
        assert document == json.loads((ROOT / "schemas" / "examples" / f"{name}.json").read_text())
        assessed = api.post("/api/v1/assessments", json=document)
        assert assessed.status_code == 200, body(assessed)
        if name == "copd-community-service":  # the response example is this sample's assessment
            assert body(assessed)["rating"] == shown["rating"]
            assert [f["rule_id"] for f in body(assessed)["findings"]] == [f["rule_id"] for f in shown["findings"]]


def test_the_decision_and_key_examples_are_accepted(client, api):
    spec = _served(client)
    decision = spec["paths"]["/api/v1/cases/{case_id}/decisions"]["post"]["requestBody"]["content"]["application/json"]["example"]
    key = spec["paths"]["/api/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["example"]
    case = body(api.post("/api/v1/cases", json=json.loads((ROOT / "schemas/examples/copd-community-service.json").read_text())))
    decided = api.post(f"/api/v1/cases/{case['id']}/decisions", json=decision, as_="board")
    assert decided.status_code == 201, body(decided)
    assert body(decided)["outcome"] == "rejected"
    assert api.post("/api/v1/keys", json=key, as_="admin").status_code == 201
