"""The ~10 KB business case the HTTP benchmark sends: the COPD sample grown with more risks,
KPIs, activity lines and declarations (consistent figures: risk scores are likelihood x impact,
the baseline annual cost is the sum of its activity lines). Valid against the document schema.

    python bench/http_case.py > /tmp/case.json     # write it out, to look at or curl
"""
from __future__ import annotations

import copy
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bcapi.document import dumps, loads, validate_document  # noqa: E402

SAMPLE = ROOT / "schemas" / "examples" / "copd-community-service.json"
TARGET_BYTES = 10_240

_RISKS = [
    ("Community team caseload exceeds capacity in winter", "operational", 3, 3,
     "Winter surge plan with bank staff and a waiting-list trigger at 40 patients", "Community services manager"),
    ("Rescue packs prescribed without review", "clinical", 2, 3,
     "Pharmacist review of every rescue pack issued; audit at month 6", "Medicines management lead"),
    ("Practices do not refer eligible patients", "operational", 3, 3,
     "Referral prompts in practice systems; quarterly referral reports by practice", "PbC respiratory lead"),
    ("Tariff change reduces the value of admissions avoided", "financial", 2, 3,
     "Savings re-stated at each tariff year; sensitivity case kept current", "PbC finance lead"),
    ("Perceived conflict of interest in practice referrals", "governance", 1, 3,
     "Declarations register reviewed at each consortium board", "Consortium chair"),
    ("Local press reports service reduction at the acute trust", "reputational", 2, 2,
     "Joint communications plan with the acute trust and PCT", "PCT communications lead"),
]
_KPIS = [
    ("Respiratory outpatient follow-ups per quarter", 180, 135, "appointments", "quarterly"),
    ("Patients discharged early with community support", 0, 120, "patients", "annually"),
    ("Thirty-day readmissions after early supported discharge", 0.18, 0.12, "ratio", "quarterly"),
    ("Average length of stay for COPD admissions", 7.4, 5.9, "days", "monthly"),
]
_ACTIVITY = [
    ("COPD elective admissions for review", "acute", "elective_admission", 42, 1420),
    ("Respiratory first outpatient appointments", "acute", "outpatient_first", 260, 190),
    ("A&E attendances with COPD exacerbation", "acute", "a_and_e", 410, 95),
    ("Community respiratory nurse contacts", "community", "other", 1200, 45),
]
_DECLARATIONS = [
    ("Dr B. Singh", "Consortium chair", "Partner at Peterlee Health Centre, a referring practice", "2009-01-12"),
    ("Mrs C. Hall", "Practice manager representative", "None", "2009-01-14"),
    ("Dr D. Okafor", "GP, consortium board member", "Sessional GP with the community provider", "2009-01-15"),
    ("Mr E. Lowe", "PCT finance adviser", "None", "2009-01-20"),
]


def grown_case(target_bytes: int = TARGET_BYTES) -> dict[str, Any]:
    """The COPD sample with lines added, cycling through the lists above, until its compact JSON
    reaches `target_bytes`."""
    doc = copy.deepcopy(loads(SAMPLE.read_bytes()))
    risks = doc["risks"]
    kpis = doc["governance"]["monitoring"]["kpis"]
    activity = doc["baseline"]["activity"]
    declarations = doc["conflicts_of_interest"]["declarations"]
    i = 0
    while len(dumps(doc, separators=(",", ":")).encode()) < target_bytes:
        kind = i % 4
        n = i // 4
        if kind == 0:
            description, category, likelihood, impact, mitigation, owner = _RISKS[n % len(_RISKS)]
            risks.append({"id": f"R{len(risks) + 1}", "description": description, "category": category,
                          "likelihood": likelihood, "impact": impact, "score": likelihood * impact,
                          "mitigation": mitigation, "owner": owner})
        elif kind == 1:
            name, baseline, target, unit, frequency = _KPIS[n % len(_KPIS)]
            kpis.append({"name": name, "baseline": Decimal(str(baseline)), "target": Decimal(str(target)),
                         "unit": unit, "frequency": frequency})
        elif kind == 2:
            description, setting, pod, volume, cost = _ACTIVITY[n % len(_ACTIVITY)]
            activity.append({"description": description, "setting": setting, "point_of_delivery": pod,
                             "annual_volume": volume, "unit_cost": cost, "source": "SUS 2007/08, PbR tariff"})
            doc["baseline"]["annual_cost"] = sum(a["annual_volume"] * a["unit_cost"] for a in activity)
        else:
            person, role, interest, declared_on = _DECLARATIONS[n % len(_DECLARATIONS)]
            declarations.append({"person": person, "role": role, "interest": interest, "declared_on": declared_on})
        i += 1
    problems = validate_document(doc)
    if problems:
        raise AssertionError(f"the grown case is not valid: {problems}")
    return doc


def check_published_schema(doc: dict[str, Any]) -> list[str]:
    """The case against the published JSON Schema too (schemas/business-case.v1.schema.json)."""
    import json

    import jsonschema

    schema = json.loads((ROOT / "schemas" / "business-case.v1.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(json.loads(dumps(doc)))]


def grown_body(target_bytes: int = TARGET_BYTES) -> bytes:
    """The grown case as the compact JSON request body."""
    return dumps(grown_case(target_bytes), separators=(",", ":")).encode()


if __name__ == "__main__":
    case = grown_case()
    errors = check_published_schema(case)
    if errors:
        sys.exit("not valid against the published JSON Schema: " + "; ".join(errors))
    sys.stdout.write(dumps(case, indent=2) + "\n")
