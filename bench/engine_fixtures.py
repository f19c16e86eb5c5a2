"""The documents bench/engine.py times and checks: the three samples, a few mutated variants
of them (so that failing paths run too), and every document of the ruleset's own fixtures
(rules/tests/*.yaml), which between them make every rule pass and fail.

All of them are valid business cases (the document schema accepts them), parsed as the API
parses them: `bcapi.document.loads`, numbers with a fraction as exact `Decimal`s.
"""
from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

import jsonpatch
from ruamel.yaml import YAML

from bcapi.document import loads, validate_document
from bcapi.engine.ruletests import _plain  # YAML values as the JSON parser gives them

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "schemas" / "examples"
RULE_TESTS = ROOT / "bench" / "ruleset-2026.11.0"  # the fixtures of the ruleset handwritten.py mirrors


def samples() -> list[tuple[str, dict]]:
    """(name, document) for each schemas/examples/*.json."""
    return [(p.stem, loads(p.read_bytes())) for p in sorted(EXAMPLES.glob("*.json"))]


# --- mutations: each takes a copy of a sample and breaks (or changes) something -----------

def _break_finance(doc: dict) -> None:
    finance = doc["finance"]
    finance["total_investment"] += 1000                       # totals no longer add up
    finance["savings"][-1].pop("year", None)                  # a line with no year
    finance["savings"][0]["basis"] = "  "                     # blank basis
    finance["payback_years"] = Decimal("1.1")
    finance["sensitivity"] = [{"scenario": "Savings 40% lower", "savings_change_pct": -40, "net_benefit": -5000}]
    finance["investment"].append({"year": 9, "one_off": 0, "recurring": 1})
    doc["options"] = [o for o in doc.get("options", []) if o.get("type") != "do_nothing"]


def _break_risks(doc: dict) -> None:
    for risk in doc.get("risks", []):
        risk.pop("mitigation", None)
        risk["likelihood"], risk["impact"], risk["score"] = 5, 4, 19
        risk["category"] = "operational"
    doc["governance"].pop("risk_sharing", None)
    doc["practices"] = doc["practices"][:1]


def _conflicted_provider(doc: dict) -> None:
    coi = doc["conflicts_of_interest"]
    coi["provider"]["type"] = "practice"
    coi["provider_includes_commissioners"] = True
    coi["declarations"] = [
        {"person": "Dr Someone", "role": "Partner", "interest": "Owner", "declared_on": "2001-01-01"},
        {"person": doc["governance"]["accountable_officer"], "role": "Officer", "interest": "Shareholder",
         "declared_on": "2030-01-01"},
        {"person": "Undated", "role": "Partner", "interest": "nil"},
    ]
    coi["independent_scrutiny"] = {"by": "Consortium board", "date": "2031-01-01", "conflicted_members_excluded": False}
    coi["price_benchmark"] = {"reference_price": 100, "proposed_price": Decimal("120.50"), "basis": "tariff"}
    coi["open_to_all_patients"] = False
    doc["governance"]["procurement"] = {"route": "in_house", "contract_value": 250000}
    doc["governance"]["approval_route"] = "Consortium board only"


def _bare(doc: dict) -> None:
    for key in list(doc):
        if key not in ("schema_version", "title", "consortium", "reference", "service_area", "pct"):
            del doc[key]


def _marginal_rate(doc: dict) -> None:
    doc["period"] = {"start": "2009-04-01", "years": 4}
    doc["finance"]["assumptions"] = ["Marginal rate does not apply: admissions stay below baseline"]
    doc["finance"]["freed_up_resources"] = {"expected": 900000, "practice_share_pct": 85}
    doc["finance"]["discount_rate"] = Decimal("0.06")
    doc["governance"]["monitoring"]["kpis"].append({"name": "New KPI"})


MUTATIONS: list[tuple[str, Callable[[dict], None]]] = [
    ("finance broken", _break_finance),
    ("risks broken", _break_risks),
    ("conflicted provider", _conflicted_provider),
    ("bare", _bare),
    ("marginal rate", _marginal_rate),
]


def mutated_samples() -> list[tuple[str, dict]]:
    """Every mutation applied to every sample, keeping those the document schema accepts."""
    out = []
    for name, document in samples():
        for label, mutate in MUTATIONS:
            doc = copy.deepcopy(document)
            try:
                mutate(doc)
            except (KeyError, TypeError, IndexError, AttributeError):
                continue  # the mutation does not fit this sample
            if not validate_document(doc):
                out.append((f"{name}: {label}", doc))
    return out


def fixture_documents() -> Iterator[tuple[str, dict]]:
    """Every valid document the ruleset's own fixtures build (base + patch, or inline)."""
    yaml = YAML(typ="safe")
    for path in sorted(RULE_TESTS.glob("*.yaml")):
        raw = yaml.load(path.read_text(encoding="utf-8"))
        base = loads((path.parent / raw["base"]).read_bytes()) if "base" in raw else None
        for index, test in enumerate(raw.get("tests") or []):
            if "document" in test:
                document = _plain(test["document"])
            elif base is not None:
                document = copy.deepcopy(base)
            else:
                continue
            if "patch" in test:
                try:
                    document = jsonpatch.JsonPatch(_plain(test["patch"])).apply(document)
                except Exception:  # a broken fixture is the rule tests' business, not ours
                    continue
            if not validate_document(document):
                yield f"{path.name}#{index + 1} {test.get('name', '')}", document


def check_documents() -> list[tuple[str, dict]]:
    """All the documents the equivalence checks run over."""
    return samples() + mutated_samples() + list(fixture_documents())
