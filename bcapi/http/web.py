"""The board's web pages: sign in with a board key, the portfolio dashboard, printable reports.

Server-rendered HTML with SVG charts and the project's own CSS: nothing from a CDN, so it works
offline. The key is asked for once; a signed, HttpOnly, SameSite=Strict session cookie names a
session kept on the server (so signing out ends it), and every form carries a CSRF token (Flask-WTF).
"""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

from bcapi.http.auth import (PUBLIC, Principal, SignInRequired, allow, current_principal, end_session, find_key,
                             principal_for, start_session)
from bcapi.http.api.context import state
from bcapi.http.api.dashboard import csv_download
from bcapi.http.api.schemas import DashboardArgs
from bcapi.document import marshmallow_errors_to_pointers
from bcapi.http.problems import Problem
from bcapi.services import cases, dashboard, decisions, present
from bcapi.services.errors import NotFound

blp = Blueprint("web", __name__, url_prefix="/dashboard")
RATING_COLOURS = {"green": "#007f3b", "amber": "#ffb81c", "red": "#d5281b"}


@blp.app_context_processor
def _template_globals():
    return {"csrf_token": generate_csrf, "rating_colours": RATING_COLOURS}


@blp.errorhandler(SignInRequired)
def _sign_in_first(_error):
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for("web.sign_in", next=target), 303)


def _check_csrf() -> None:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (ValidationError, CSRFError):
        raise Problem(400, "The form has expired or did not come from this site; reload the page.") from None


@blp.route("/sign-in", methods=["GET", "POST"])
@allow(PUBLIC)
def sign_in():
    """Sign in with a board or admin key."""
    error = None
    if request.method == "POST":
        _check_csrf()
        key = find_key(request.form.get("key", "").strip())
        try:
            principal: Principal = principal_for(key)
        except Problem:
            error = "That key is not valid (unknown, revoked or expired)."
        else:
            if principal.role not in ("board", "admin"):
                error = "Only board and admin keys can sign in to the dashboard."
            else:
                start_session(principal)
                target = request.args.get("next") or ""
                return redirect(target if target.startswith("/dashboard") else url_for("web.portfolio"), 303)
    return render_template("sign_in.html", error=error), 401 if error else 200


@blp.route("/sign-out", methods=["POST"])
@allow("board", "admin", via="session")
def sign_out():
    """End the session, on the server too: a copy of the cookie no longer signs anyone in."""
    _check_csrf()
    end_session()
    return redirect(url_for("web.sign_in"), 303)


def _filters_from_query() -> tuple[dict[str, str], dict, dashboard.PortfolioFilters]:
    """The filters the form sent (empty fields dropped), their errors, and the filters to apply."""
    given = {k: v for k, v in request.args.items() if v.strip()}
    errors = DashboardArgs().validate(given)
    args = {} if errors else DashboardArgs().load(given)
    return given, errors, dashboard.PortfolioFilters(**{k: args.get(k) for k in (
        "consortium", "service_area", "submitted_after", "submitted_before")})


@blp.route("", methods=["GET"])
@allow("board", "admin", via="session")
def portfolio():
    """The portfolio at a glance, with filters."""
    given, errors, filters = _filters_from_query()
    app = state()
    with app.db.reading() as db_session:
        figures = dashboard.portfolio(db_session, filters, app.ruleset)
        recent, _ = cases.list_page(db_session, current_principal(), cases.CaseFilters(
            consortium=filters.consortium, service_area=filters.service_area,
            submitted_after=filters.submitted_after, submitted_before=filters.submitted_before), limit=50, after=None)
    return render_template("dashboard.html", figures=figures, cases=[present.case_summary(c) for c in recent],
                           args=given, errors=errors, principal=current_principal())


@blp.route("/cases.csv", methods=["GET"])
@allow("board", "admin", via="session")
def cases_csv():
    """The portfolio as CSV, for the signed-in board member, with the page's filters."""
    given, errors, filters = _filters_from_query()
    if errors:
        raise Problem(422, "The filters are not valid; see errors.", errors=marshmallow_errors_to_pointers(errors))
    return csv_download(filters)


@blp.route("/cases/<case_id>", methods=["GET"])
@allow("board", "admin", via="session")
def case_report(case_id):
    """A printable assessment report for a board paper."""
    app = state()
    with app.db.reading() as db_session:
        try:
            case = cases.visible_case(db_session, case_id, current_principal())
        except NotFound:
            raise Problem(404, f"No business case {case_id}.") from None
        view = present.case_view(case, cases.current_revision(db_session, case), cases.latest_assessment(db_session, case))
        history = [decisions.view(d) for d in decisions.history(db_session, case)]
    return render_template("case_report.html", case=view, assessment=view["latest_assessment"],
                           decisions=history, principal=current_principal())
