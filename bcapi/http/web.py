"""The board's web pages: sign in with a board key, the portfolio dashboard, printable reports.

Server-rendered HTML with SVG charts and the project's own CSS: nothing from a CDN, so it works
offline. The key is asked for once; a signed, HttpOnly, SameSite=Strict session cookie names a
session kept on the server (so signing out ends it), and every form carries a CSRF token (Flask-WTF).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, flash, get_flashed_messages, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import Form, HiddenField, SelectMultipleField, StringField, TextAreaField, ValidationError
from wtforms.validators import InputRequired, Length, StopValidation

from bcapi.http.auth import (PUBLIC, Principal, SignInRequired, allow, current_principal, end_session, find_key,
                             principal_for, start_session)
from bcapi.http.api.context import state
from bcapi.http.api.dashboard import csv_download
from bcapi.http.api.schemas import DashboardArgs
from bcapi.document import marshmallow_errors_to_pointers
from bcapi.http import plain
from bcapi.http.problems import Problem
from bcapi.services import cases, dashboard, decisions, present
from bcapi.services.errors import Invalid, NotFound

blp = Blueprint("web", __name__, url_prefix="/dashboard")
RATING_COLOURS = {"green": "#007f3b", "amber": "#ffb81c", "red": "#d5281b"}


for _name, _filter in plain.FILTERS.items():
    blp.add_app_template_filter(_filter, _name)


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
        figures = dashboard.portfolio(db_session, filters, app.ruleset, worst_rules=True)
        board = dashboard.board_view(db_session, filters, app.ruleset, red_total=figures["cases"]["by_rating"]["red"])
        recent, _ = cases.list_page(db_session, current_principal(), cases.CaseFilters(
            consortium=filters.consortium, service_area=filters.service_area,
            submitted_after=filters.submitted_after, submitted_before=filters.submitted_before), limit=50, after=None)
    return render_template("dashboard.html", figures=figures, board=board,
                           cases=[present.case_summary(c) for c in recent], args=given, errors=errors,
                           principal=current_principal(), criteria={c.id: c.title for c in app.ruleset.criteria})


@blp.route("/cases.csv", methods=["GET"])
@allow("board", "admin", via="session")
def cases_csv():
    """The portfolio as CSV, for the signed-in board member, with the page's filters."""
    given, errors, filters = _filters_from_query()
    if errors:
        raise Problem(422, "The filters are not valid; see errors.", errors=marshmallow_errors_to_pointers(errors))
    return csv_download(filters)


# -- the case's page and the decision form ----------------------------------------------------------

DECISIONS = [("approved", "Approve"), ("rejected", "Reject"), ("deferred", "Defer"),
             ("returned_for_revision", "Return for revision")]
# The API asks reasons of a rejection or a return; on the page, a deferral needs them too, so that
# the consortium knows what the board is waiting for.
NEEDS_REASONS = {"rejected": "reject", "deferred": "defer", "returned_for_revision": "return"}


def _strip(value: str | None) -> str:
    return (value or "").strip()


class _Once:
    """Refuse a field sent more than once (outcome=approved&outcome=rejected): taking the first
    would record what the board member may not have meant."""

    def __init__(self, message: str):
        self.message = message

    def __call__(self, form, field):
        if len(field.raw_data or ()) > 1:
            raise StopValidation(self.message)


class DecisionForm(Form):
    """The board's decision on the case's page: the same fields as POST /api/v1/cases/{id}/decisions,
    the reasons given as one text (and the failed rules it rests on, chosen by title).

    The choices are checked here and drawn by the template, not given to wtforms' choice fields,
    whose way of taking choices changes from 3.3 to 3.4."""

    revision = HiddenField()
    outcome = StringField("Decision", validators=[_Once("Choose one decision."), InputRequired("Choose a decision.")])
    reasons = TextAreaField("Reasons", filters=[_strip], validators=[
        _Once("Give the reasons in one box."),
        Length(max=2000, message="Keep the reasons to 2,000 characters (give detail in the note).")])
    rule_ids = SelectMultipleField("Failed rules the reasons rest on", validate_choice=False)
    note = TextAreaField("Note for the record", filters=[_strip], validators=[
        _Once("Give the note in one box."), Length(max=10_000, message="Keep the note to 10,000 characters.")])

    def __init__(self, *args, rules: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = DECISIONS
        self.rules = rules  # (rule id, title) of the rules the latest assessment failed

    def validate_outcome(self, field):
        if field.data not in dict(DECISIONS):
            raise ValidationError("Choose a decision.")

    def validate_rule_ids(self, field):
        known = dict(self.rules)
        if any(rule_id not in known for rule_id in field.data or []):
            raise ValidationError("Choose only rules the case's latest assessment failed.")

    def validate_note(self, field):
        if problem := decisions.text_problem(field.data):
            raise ValidationError(problem)

    def validate_reasons(self, field):
        if problem := decisions.text_problem(field.data):
            raise ValidationError(problem)
        given = decisions.has_visible_text(field.data)  # "\u200b" gives no reason
        if not given and self.outcome.data in NEEDS_REASONS:
            raise ValidationError(f"Give the reasons to {NEEDS_REASONS[self.outcome.data]} this case.")
        if not given and self.rule_ids.data:
            raise ValidationError("Say in words why the rules you chose matter.")

    def to_request(self) -> dict[str, Any]:
        """The decision as the API's request body."""
        reasons = ([{"reason": self.reasons.data, "rule_ids": list(self.rule_ids.data)}]
                   if decisions.has_visible_text(self.reasons.data) else [])
        return {"outcome": self.outcome.data, "note": self.note.data, "reasons": reasons}

    def field_for(self, pointer: str):
        """The field a service error's JSON pointer names (/reasons/0/rule_ids/1: the rules), or None."""
        parts = pointer.split("/")
        name = {"outcome": "outcome", "note": "note", "reasons": "rule_ids" if "rule_ids" in parts else "reasons"}
        return getattr(self, name[parts[1]]) if len(parts) > 1 and parts[1] in name else None


def _failed_rules(assessment: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(rule id, title) of each rule the assessment failed or could not evaluate, worst first."""
    findings = (assessment or {}).get("findings", [])
    rank = dashboard.SEVERITY_RANK
    failed = [f for f in findings if f["status"] in ("fail", "error")]
    return [(f["rule_id"], f["title"]) for f in sorted(failed, key=lambda f: rank.get(f["severity"], len(rank)))]


def _case_page(case_id: str, form: DecisionForm | None = None, status: int = 200):
    """The case's page; `form` is a decision form with what was typed and its errors."""
    app = state()
    with app.db.reading() as db_session:
        case = _visible_case(db_session, case_id)
        view = present.case_view(case, cases.current_revision(db_session, case),
                                 cases.latest_assessment(db_session, case))
        history = [decisions.view(d) for d in decisions.history(db_session, case)]
        investment, savings = case.total_investment, case.total_savings
    today = dt.datetime.now(dt.timezone.utc).date()
    view["days_left"] = (dt.date.fromisoformat(view["decision_due"]) - today).days if view["decision_due"] else None
    case_money = {"investment": investment, "savings": savings,
                  "net": None if investment is None and savings is None else (savings or 0) - (investment or 0)}
    if form is None:
        form = DecisionForm(revision=str(view["revision"]), rules=_failed_rules(view["latest_assessment"]))
    return render_template("case_report.html", case=view, assessment=view["latest_assessment"],
                           case_money=case_money, decisions=history, principal=current_principal(), form=form,
                           recorded=get_flashed_messages(category_filter=["decided"]),
                           criteria={c.id: c.title for c in app.ruleset.criteria}), status


class _Stale(Exception):
    """The case was revised after the board member opened its page (nothing is written)."""

    def __init__(self, revision: int):
        super().__init__(revision)
        self.revision = revision


def _visible_case(db_session, case_id: str):
    try:
        return cases.visible_case(db_session, case_id, current_principal())
    except NotFound:
        raise Problem(404, f"No business case {case_id}.") from None


@blp.route("/cases/<case_id>", methods=["GET"])
@allow("board", "admin", via="session")
def case_report(case_id):
    """The case's page: the assessment report for a board paper (printable), and the decision form."""
    return _case_page(case_id)


@blp.route("/cases/<case_id>/decisions", methods=["POST"])
@allow("board", "admin", via="session")
def record_decision(case_id):
    """Record the board's decision from the case's page: the same service call, checks and audit
    event as POST /api/v1/cases/{id}/decisions. Errors come back on the page next to their
    fields, with what was typed; success redirects to the page, which confirms it."""
    _check_csrf()
    app = state()
    with app.db.reading() as db_session:
        assessment = cases.latest_assessment(db_session, _visible_case(db_session, case_id))
    form = DecisionForm(request.form, rules=_failed_rules(present.assessment_view(assessment) if assessment else None))
    if form.validate():
        try:
            with app.db.writing() as db_session:
                case = _visible_case(db_session, case_id)
                db_session.refresh(case, with_for_update=True)  # no revision can land until this commits
                if form.revision.data != str(case.current_revision):
                    raise _Stale(case.current_revision)
                decision = decisions.decide(db_session, case, principal=current_principal(), **form.to_request())
        except _Stale as stale:
            form.form_errors.append(f"The case was revised (it is now at revision {stale.revision}) after you "
                                    "opened it. Read the new assessment, then decide again.")
            form.revision.data = str(stale.revision)
        except Invalid as exc:  # shown next to the field it names, if any
            for pointer, message in exc.errors:
                field = form.field_for(pointer)
                (field.errors if field is not None else form.form_errors).append(message)
        else:
            flash(decision.id, "decided")
            return redirect(url_for("web.case_report", case_id=case_id, _anchor="confirmation"), 303)
    return _case_page(case_id, form, 422)
