"""Administration: API keys and the audit trail."""
from __future__ import annotations

from flask import request

from bcapi.http.auth import allow, current_principal
from bcapi.http.links import link
from bcapi.document import loads
from bcapi.services import audit, keys

from .base import Blueprint
from .context import state
from .schemas import AuditArgs, AuditListSchema, KeyListSchema, KeyRequestSchema, KeySchema, NewKeySchema

blp = Blueprint("admin", __name__, url_prefix="/api/v1", description="API keys and the audit trail (admins).")


@blp.route("/keys", methods=["GET"])
@allow("admin")
@blp.response(200, KeyListSchema)
def list_keys():
    """List API keys: never the keys themselves, which are not stored."""
    with state().db.reading() as session:
        return {"items": [keys.view(k) for k in keys.listing(session)]}


@blp.route("/keys", methods=["POST"])
@allow("admin")
@blp.arguments(KeyRequestSchema)
@blp.response(201, NewKeySchema)
def create_key(request_body):
    """Create a key; the answer shows it once."""
    with state().db.writing() as session:
        row, key = keys.create(session, role=request_body["role"], consortium=request_body.get("consortium"),
                               label=request_body.get("label"), expires_at=request_body.get("expires_at"),
                               actor=current_principal())
        return {**keys.view(row), "key": key}


@blp.route("/keys/<key_id>", methods=["DELETE"])
@allow("admin")
@blp.response(200, KeySchema)
def revoke_key(key_id):
    """Revoke a key: every request with it is refused from now on."""
    with state().db.writing() as session:
        return keys.view(keys.revoke(session, key_id, actor=current_principal()))


@blp.route("/audit", methods=["GET"])
@allow("admin")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditListSchema)
def audit_trail(args):
    """The audit trail, newest first: who did what to which case, in which request."""
    filters = audit.AuditFilters(action=args.get("action"), case_id=args.get("case_id"),
                                 actor_key_id=args.get("actor"), since=args.get("since"), until=args.get("until"))
    with state().db.reading() as session:
        rows, before = audit.page(session, filters, limit=args["limit"], before_id=args.get("before"))
    next_url = None
    headers = {}
    if before is not None:
        query = {k: v for k, v in request.args.items() if k != "before"}
        next_url = link("admin.audit_trail", **query, before=before)
        headers["Link"] = f'<{next_url}>; rel="next"'
    items = [{"id": r.id, "occurred_at": r.occurred_at.isoformat(), "action": r.action,
              "actor": {"key_id": r.actor_key_id, "label": r.actor_label, "role": r.actor_role},
              "case_id": r.case_id, "request_id": r.request_id, "details": loads(r.details)} for r in rows]
    return {"items": items, "next": next_url}, 200, headers
