"""Assessments: dry runs, a case's history, re-assessment; and the active ruleset."""
from __future__ import annotations

from bcapi.http.auth import allow, current_principal
from bcapi.services import assessments, cases, present

from .base import Blueprint, json_response
from .context import state
from .schemas import AssessmentListSchema, AssessmentSchema, DocumentSchema, RulesetSchema

ASSESSMENT = AssessmentSchema()

blp = Blueprint("assessments", __name__, url_prefix="/api/v1",
                description="Assessments of business cases against the active ruleset.")


@blp.route("/assessments", methods=["POST"])
@allow("commissioner", "board", "admin")
@blp.arguments(DocumentSchema)
@blp.response(200, AssessmentSchema)
def dry_run(document):
    """Assess a document without storing anything (feedback while writing)."""
    return json_response(ASSESSMENT, assessments.dry_run(document, state().ruleset))


@blp.route("/cases/<case_id>/assessments", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, AssessmentListSchema)
def list_assessments(case_id):
    """Every assessment of a case, newest first."""
    with state().db.reading() as session:
        case = cases.visible_case(session, case_id, current_principal())
        return {"items": [present.assessment_view(a) for a in assessments.history(session, case)]}


@blp.route("/cases/<case_id>/assessments", methods=["POST"])
@allow("board", "admin")
@blp.response(201, AssessmentSchema)
def reassess(case_id):
    """Assess the case's current revision again under the current ruleset."""
    app = state()
    with app.db.writing() as session:
        case = cases.visible_case(session, case_id, current_principal())
        row = cases.reassess(session, case, app.ruleset, current_principal())
        return present.assessment_view(row)


@blp.route("/rulesets/current", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, RulesetSchema)
def current_ruleset():
    """The active ruleset: criteria, thresholds, parameters and every rule."""
    ruleset = state().ruleset
    return {
        "id": ruleset.id, "version": ruleset.version, "title": ruleset.title, "digest": ruleset.digest,
        "criteria": [{"id": c.id, "title": c.title, "weight": c.weight} for c in ruleset.criteria],
        "thresholds": ruleset.thresholds, "severity_weights": ruleset.severity_weights,
        "parameters": ruleset.parameters,
        "rules": [{"id": r.id, "criterion": r.criterion, "severity": r.severity, "title": r.title,
                   "guidance": r.guidance, "fields": list(r.fields),
                   "source": "; ".join(ruleset.sources[s].title for s in r.source)}
                  for r in ruleset.rules],
    }
