"""Properties of the engine over generated documents (Hypothesis).

Documents are drawn from the published JSON Schema (hypothesis-jsonschema), then kept only if
the service's own schema accepts them, so each one is a document a client could really store.
"""
from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from bcapi.config import DEFAULT_RULES
from bcapi.document import dumps, loads, validate_document
from bcapi.engine import assess, load_ruleset

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "business-case.v1.schema.json").read_text())
RULESET = load_ruleset(DEFAULT_RULES)


def _exact(document):
    """Round-trip through JSON text with exact decimals, as a request body would arrive."""
    return loads(json.dumps(document))


documents = from_schema(SCHEMA).map(_exact).filter(lambda d: not validate_document(d))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(documents)
def test_any_valid_document_is_assessed_without_error_findings(document):
    result = assess(document, RULESET)
    errors = [(f.rule_id, f.message) for f in result.findings if f.status == "error"]
    assert errors == []
    # The score is the criteria's weighted mean (docs/rules.md), and red means a blocker failed
    # or a score is under the amber threshold, whatever the reference ruleset's rules say.
    total = sum(c.weight for c in result.criteria)
    mean = sum(c.score * c.weight for c in result.criteria) / total
    assert result.score == mean.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    amber = RULESET.thresholds["amber"]
    blocked = any(f.severity == "blocker" and f.status == "fail" for f in result.findings)
    assert (result.rating == "red") == (blocked or result.score < amber or any(c.score < amber for c in result.criteria))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(documents)
def test_assessment_is_deterministic(document):
    first = assess(document, RULESET).to_dict()
    again = assess(loads(dumps(document)), RULESET).to_dict()
    assert first == again


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["copd-community-service", "dermatology-gpwsi", "msk-triage"]),
       st.sampled_from(["finance", "risks", "governance", "conflicts_of_interest", "options", "period",
                        "baseline", "activity_shift", "strategic_fit", "practices"]))
def test_removing_any_section_of_a_sample_never_errors(name, section):
    document = loads((Path(__file__).resolve().parents[2] / "schemas" / "examples" / f"{name}.json").read_bytes())
    document.pop(section, None)
    assert not [f.rule_id for f in assess(document, RULESET).findings if f.status == "error"]
