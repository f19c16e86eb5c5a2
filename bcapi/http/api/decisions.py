"""Board decisions on business cases."""
from __future__ import annotations

from bcapi.http.auth import allow, current_principal
from bcapi.services import cases, decisions

from .base import Blueprint
from .context import state
from .schemas import DecisionListSchema, DecisionRequestSchema, DecisionSchema

blp = Blueprint("decisions", __name__, url_prefix="/api/v1/cases",
                description="What the PCT board decided, on which revision and assessment, and why.")


@blp.route("/<case_id>/decisions", methods=["POST"])
@allow("board", "admin")
@blp.arguments(DecisionRequestSchema)
@blp.response(201, DecisionSchema)
def decide(request_body, case_id):
    """Record a decision on the case's current revision; rejections and returns need reasons."""
    with state().db.writing() as session:
        case = cases.visible_case(session, case_id, current_principal())
        decision = decisions.decide(session, case, outcome=request_body["outcome"], note=request_body["note"],
                                    reasons=request_body["reasons"], principal=current_principal())
        return decisions.view(decision)


@blp.route("/<case_id>/decisions", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, DecisionListSchema)
def list_decisions(case_id):
    """Every decision on a case, newest first."""
    with state().db.reading() as session:
        case = cases.visible_case(session, case_id, current_principal())
        return {"items": [decisions.view(d) for d in decisions.history(session, case)]}
