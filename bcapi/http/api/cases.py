"""Business cases: submit, list, read, revise; revisions and their history."""
from __future__ import annotations

import datetime as dt
import re

from flask import Response, request

from bcapi.http.auth import allow, current_principal
from bcapi.http.links import link
from bcapi.http.problems import Problem
from bcapi.services import cases, idempotency, present

from .base import Blueprint, json_response, raw_body_text
from .context import state
from .schemas import (CaseListArgs, CaseListSchema, CaseSchema, DocumentSchema, RevisionListSchema,
                      RevisionSchema)

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases",
                description="Business cases and their revisions.")

CASE = CaseSchema()
IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _case_headers(case, revision: int | None = None) -> dict[str, str]:
    """Location, and the ETag of `revision` (by default the current one) to revise from."""
    return {"Location": link("cases.get_case", case_id=case.id),
            "ETag": f'"{cases.etag_for(case, revision)}"'}


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(400, "Idempotency-Key must be 1-255 printable ASCII characters without spaces.")
    return key


@blp.route("", methods=["POST"])
@allow("commissioner", "admin")
@blp.arguments(DocumentSchema)
@blp.response(201, CaseSchema)
def submit_case(document):
    """Submit a business case: stored as revision 1 and assessed at once.

    Send `Idempotency-Key` to make retries safe: the same key and body give the same case.
    """
    app, principal, key = state(), current_principal(), _idempotency_key()
    if key:
        replay = idempotency.claim(app.db, api_key_id=principal.key_id, key=key,
                                   digest=idempotency.request_digest(document),
                                   ttl=dt.timedelta(seconds=app.settings.idempotency_ttl_seconds))
        if replay is not None:
            with app.db.reading() as session:
                case = cases.visible_case(session, replay.case_id, principal)
            response = Response(replay.body, status=replay.status, mimetype="application/json")
            # The first answer again, ETag included: it named revision 1, whatever came since.
            response.headers.update(_case_headers(case, revision=1) | {"Idempotent-Replayed": "true"})
            return response
    try:
        with app.db.writing() as session:
            case, revision, latest = cases.submit(session, document=document, raw=raw_body_text(),
                                                  principal=principal, ruleset=app.ruleset)
            text = present.case_view_json(case, revision, latest, document)
            if key:
                idempotency.complete(session, api_key_id=principal.key_id, key=key, status=201,
                                     body=text, case_id=case.id)
    except Exception:
        if key:
            idempotency.release(app.db, api_key_id=principal.key_id, key=key)
        raise
    return json_response(CASE, status=201, headers=_case_headers(case), text=text)


@blp.route("", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CaseListSchema)
def list_cases(args):
    """List business cases, newest first (commissioners see their own consortium's)."""
    principal = current_principal()
    try:
        after = cases.decode_cursor(args["cursor"]) if args.get("cursor") else None
    except ValueError:
        raise Problem(400, "The cursor is not valid; start again from the first page.") from None
    filters = cases.CaseFilters(**{k: args.get(k) for k in (
        "consortium", "rating", "status", "service_area", "submitted_after", "submitted_before")})
    with state().db.reading() as session:
        rows, cursor = cases.list_page(session, principal, filters, limit=args["limit"], after=after)
    next_url = None
    headers = {}
    if cursor:
        query = {k: v for k, v in request.args.items() if k != "cursor"}
        next_url = link("cases.list_cases", **query, cursor=cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return {"items": [present.case_summary(c) for c in rows], "next": next_url}, 200, headers


@blp.route("/<case_id>", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, CaseSchema)
def get_case(case_id):
    """Read a case: its current document and latest assessment."""
    with state().db.reading() as session:
        case = cases.visible_case(session, case_id, current_principal())
        etag = cases.etag_for(case)
        if request.if_none_match.contains_weak(etag):  # RFC 9110 13.1.2: weak comparison
            return Response(status=304, headers={"ETag": f'"{etag}"'})
        text = present.case_view_json(case, cases.current_revision(session, case),
                                      cases.latest_assessment(session, case))
    return json_response(CASE, status=200, headers={"ETag": f'"{etag}"'}, text=text)


@blp.route("/<case_id>", methods=["PUT"])
@allow("commissioner", "admin")
@blp.arguments(DocumentSchema)
@blp.response(200, CaseSchema)
def revise_case(document, case_id):
    """Store a new revision of a case and assess it; needs `If-Match` with the case's ETag."""
    if not request.headers.get("If-Match"):
        raise Problem(428, "Send If-Match with the ETag of the revision you changed, so that "
                           "no one else's revision is overwritten.")
    app = state()
    with app.db.writing() as session:
        case, revision, latest = cases.revise(
            session, case_id, if_match=lambda etag: request.if_match.contains(etag) or request.if_match.star_tag,
            document=document, raw=raw_body_text(), principal=current_principal(), ruleset=app.ruleset)
        text = present.case_view_json(case, revision, latest, document)
    return json_response(CASE, status=200, headers=_case_headers(case), text=text)


@blp.route("/<case_id>/revisions", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, RevisionListSchema)
def list_revisions(case_id):
    """List every revision of a case, oldest first."""
    with state().db.reading() as session:
        case = cases.visible_case(session, case_id, current_principal())
        return {"items": [present.revision_summary(r) for r in cases.revisions(session, case)]}


@blp.route("/<case_id>/revisions/<int:number>", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, RevisionSchema)
def get_revision(case_id, number):
    """Read one revision, its document exactly as it was received."""
    with state().db.reading() as session:
        case = cases.visible_case(session, case_id, current_principal())
        return present.revision_view(cases.revision(session, case, number))


@blp.route("/<case_id>/revisions/<int:number>/document", methods=["GET"])
@allow("commissioner", "board", "admin")
@blp.response(200, DocumentSchema, description="The request body of that revision, byte for byte.")
def get_revision_document(case_id, number):
    """Download one revision's document byte for byte as it was received."""
    with state().db.reading() as session:
        case = cases.visible_case(session, case_id, current_principal())
        revision = cases.revision(session, case, number)
    return Response(revision.document, mimetype="application/json")
