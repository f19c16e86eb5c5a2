"""The published JSON Schema is generated from the code and agrees with it."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from bcapi.document import validate_document
from bcapi.document.jsonschema import document_json_schema

from .factories import sample

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "business-case.v1.schema.json"


def test_committed_json_schema_is_current():
    committed = json.loads(SCHEMA_FILE.read_text())
    generated = json.loads(json.dumps(document_json_schema(), default=float))
    assert committed == generated, "schemas/ is stale: run `bcapi schema export`"


def test_samples_are_valid_under_both_schemas():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    for name in ("copd-community-service", "dermatology-gpwsi", "msk-triage"):
        assert validate_document(sample(name)) == []
        assert list(validator.iter_errors(json.loads(json.dumps(sample(name), default=float)))) == []


def test_json_schema_rejects_what_the_code_rejects():
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    bad = json.loads(json.dumps(sample(), default=float))
    bad["risks"][0]["likelihood"] = 6
    bad["finance"]["surprise"] = 1
    assert len(list(validator.iter_errors(bad))) == 2
