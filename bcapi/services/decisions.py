"""Board decisions on business cases (DH 2006: reasons, and what would resolve them)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bcapi.services.principal import Principal
from bcapi.document import dumps, loads
from bcapi.storage.models import BusinessCase, Decision, StoredAssessment, utcnow

from . import audit, dashboard
from .errors import Invalid

OUTCOMES = ("approved", "rejected", "deferred", "returned_for_revision")
NEEDS_REASONS = ("rejected", "returned_for_revision")
# Each outcome as what the board does, for messages: "a decision to reject ...".
VERBS = {"approved": "approve", "rejected": "reject", "deferred": "defer",
         "returned_for_revision": "return for revision"}
# C0 controls but tab, line feed and carriage return: nothing a board member types, and PostgreSQL
# cannot store U+0000 at all.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def text_problem(text: str) -> str | None:
    """What is wrong with a note or reason's characters, or None; shared by the API and the web form."""
    if "\x00" in text:
        return "Text may not contain the NUL character (\\u0000)."
    found = _CONTROL.search(text)
    if found:
        return (f"Text may not contain the control character U+{ord(found.group()):04X} "
                "(only tab, line feed and carriage return).")
    return None


def has_visible_text(text: str) -> bool:
    """Whether the text shows anything once whitespace and format characters (Unicode category Cf:
    zero-width space, byte order mark, ...) are left out: "\u200b" is no reason."""
    return any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text)


def check(*, note: str, reasons: list[dict[str, Any]]) -> None:
    """Refuse a note or reason with control characters, and a reason with nothing visible, naming
    each by its JSON pointer."""
    texts = [("/note", note)] + [(f"/reasons/{i}/reason", r.get("reason", "")) for i, r in enumerate(reasons)]
    errors = [(pointer, problem) for pointer, text in texts if (problem := text_problem(text))]
    errors += [(f"/reasons/{i}/reason", "A reason must have visible text, not only spaces or invisible characters.")
               for i, r in enumerate(reasons) if not has_visible_text(r.get("reason", ""))]
    if errors:
        raise Invalid(errors[0][1] if len(errors) == 1 else f"{len(errors)} texts are not valid; see errors.",
                      errors=errors)


def decide(session: Session, case: BusinessCase, *, outcome: str, note: str,
           reasons: list[dict[str, Any]], principal: Principal) -> Decision:
    """Record a decision on the case's current revision and latest assessment."""
    check(note=note, reasons=reasons)
    if outcome in NEEDS_REASONS and not reasons:
        raise Invalid(f"A decision to {VERBS[outcome]} must give its reasons.",
                      pointer="/reasons")
    assessed_rules = _rules_in_latest_assessment(session, case)
    unknown = [(f"/reasons/{i}/rule_ids/{j}", f"Rule {rule_id} is not in the case's latest assessment.")
               for i, reason in enumerate(reasons) for j, rule_id in enumerate(reason.get("rule_ids", []))
               if rule_id not in assessed_rules]
    if unknown:
        raise Invalid(f"{len(unknown)} rule id(s) are not in the case's latest assessment; see errors.",
                      errors=unknown)
    now = utcnow()
    with dashboard.keeping_rollups(session, case):  # the case counts as decided from now
        decision = Decision(case_id=case.id, revision=case.current_revision,
                            assessment_id=case.latest_assessment_id, outcome=outcome, note=note,
                            reasons=dumps(reasons), decided_at=now, decided_by_key_id=principal.key_id)
        session.add(decision)
        session.flush()
        case.status = "decided"
        case.latest_decision_id, case.decision_outcome, case.decided_at = decision.id, outcome, now
        case.decision_span_us = (now - case.submitted_at) // dt.timedelta(microseconds=1)
        case.updated_at = now
    audit.record(session, "case.decided", principal, case_id=case.id, outcome=outcome,
                 revision=case.current_revision, assessment_id=case.latest_assessment_id)
    return decision


def _rules_in_latest_assessment(session: Session, case: BusinessCase) -> set[str]:
    row = session.get(StoredAssessment, case.latest_assessment_id) if case.latest_assessment_id else None
    return {f["rule_id"] for f in loads(row.body)["findings"]} if row else set()


def history(session: Session, case: BusinessCase) -> list[Decision]:
    return list(session.scalars(select(Decision).where(Decision.case_id == case.id)
                                .order_by(Decision.decided_at.desc(), Decision.id.desc())))


def latest(session: Session, case: BusinessCase) -> Decision | None:
    return session.get(Decision, case.latest_decision_id) if case.latest_decision_id else None


def view(decision: Decision) -> dict[str, Any]:
    return {"id": decision.id, "case_id": decision.case_id, "revision": decision.revision,
            "assessment_id": decision.assessment_id, "outcome": decision.outcome, "note": decision.note,
            "reasons": loads(decision.reasons), "decided_at": decision.decided_at.isoformat(),
            "decided_by": decision.decided_by_key_id}
