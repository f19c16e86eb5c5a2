"""A case's life over HTTP, with figures a commissioner or board member would check: the
assessment served for a case, the decision clock, and the listing's filters and pages. On
SQLite and on PostgreSQL."""
from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from urllib.parse import quote

import pytest

from bcapi.http.app import create_app
from bcapi.storage.models import BusinessCase

from .factories import ApiClient, body, document_where, make_document, outcome_ruleset_text

PROBLEM = "application/problem+json"

# Finance (35): a blocker and a major pass, a minor and an advice fail: 15/17 = 88.2.
# Risk (25): a major fails, a minor passes, a minor does not apply, and RISK-SCORE-LIMIT (minor)
# looks at each risk's score. Governance (40): its one rule does not apply: 100.0.
RULES = dict(
    rules=[("FIN-1", "finance", "blocker"), ("FIN-2", "finance", "major"), ("FIN-3", "finance", "minor"),
           ("FIN-4", "finance", "advice"), ("RISK-1", "risk", "major"), ("RISK-2", "risk", "minor"),
           ("RISK-3", "risk", "minor"), ("GOV-1", "governance", "minor")],
    criteria={"finance": 35, "risk": 25, "governance": 40}, risk_score_rule=("risk", "minor"),
    parameters="{decision_clock_days: 14}")


@pytest.fixture
def outcomes_api(app_env, tmp_path):
    """The service running the ruleset above, whose decision clock is 14 days."""
    path = tmp_path / "outcomes.yaml"
    path.write_text(outcome_ruleset_text(**RULES), encoding="utf-8")
    app = create_app({**app_env, "BCAPI_RULES": str(path)})
    app.config["TESTING"] = True
    yield ApiClient(app)
    app.extensions["bcapi"].db.dispose()


def submitted(api, document=None, **kwargs) -> tuple[dict, str]:
    response = api.submit(document or make_document(), **kwargs)
    assert response.status_code == 201, response.get_data(as_text=True)
    return body(response), response.headers["ETag"]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(PROBLEM)
    problem = body(response)
    assert problem["status"] == status
    return problem


# --- the assessment a case is stored with --------------------------------------------------

def test_a_submitted_case_is_stored_with_its_scores_worked_by_hand(outcomes_api):
    """The risk rule RISK-SCORE-LIMIT fails on risks 1 and 3 (scores 16 and 20); with RISK-1
    (major, 5) failing and RISK-2 (minor, 2) passing: 2/9 = 22.2 for risk. Overall
    (88.2×35 + 22.2×25 + 100×40)/100 = 76.42 → 76.4, red by the risk criterion."""
    document = make_document(title=document_where(failing=("FIN-3", "FIN-4", "RISK-1"),
                                                  not_applicable=("RISK-3", "GOV-1"))["title"])
    document["risks"] = document["risks"][:3]
    document["risks"][0].update(likelihood=4, impact=4, score=16)
    document["risks"][2].update(likelihood=4, impact=5, score=20)
    case, _ = submitted(outcomes_api, document)
    assessment = case["latest_assessment"]
    assert (assessment["score"], assessment["rating"]) == (Decimal("76.4"), "red")
    assert [(c["id"], c["score"], c["rating"], c["passed"], c["failed"], c["not_applicable"], c["errors"])
            for c in assessment["criteria"]] == [
        ("finance", Decimal("88.2"), "green", 2, 2, 0, 0),
        ("risk", Decimal("22.2"), "red", 1, 2, 1, 0),
        ("governance", Decimal("100.0"), "green", 0, 0, 1, 0)]
    assert [(f["rule_id"], f["status"]) for f in assessment["findings"]] == [
        ("RISK-1", "fail"), ("FIN-3", "fail"), ("RISK-SCORE-LIMIT", "fail"), ("FIN-4", "fail"),
        ("FIN-1", "pass"), ("FIN-2", "pass"), ("RISK-2", "pass"),
        ("GOV-1", "not_applicable"), ("RISK-3", "not_applicable")]
    per_item = next(f for f in assessment["findings"] if f["rule_id"] == "RISK-SCORE-LIMIT")
    assert per_item["fields"] == ["/risks/0/score", "/risks/2/score"]
    assert per_item["message"] == "Risk R1 scores 16. Risk R3 scores 20."
    # The case's row carries the same figures (the listing and the dashboard read them).
    listed = body(outcomes_api.get("/api/v1/cases", as_="board"))["items"]
    assert [(c["id"], c["rating"]) for c in listed] == [(case["id"], "red")]


def test_reading_a_case_shows_its_latest_assessment(outcomes_api):
    case, _ = submitted(outcomes_api, document_where(failing=("FIN-3",)))
    url = f"/api/v1/cases/{case['id']}"
    read = body(outcomes_api.get(url))["latest_assessment"]
    assert read["id"] == case["latest_assessment"]["id"] and read["revision"] == 1
    assert (read["score"], read["rating"]) == (case["latest_assessment"]["score"], "green")
    again = body(outcomes_api.post(f"{url}/assessments", as_="board"))
    assert body(outcomes_api.get(url))["latest_assessment"]["id"] == again["id"] != read["id"]


# --- the decision clock --------------------------------------------------------------------

def test_the_decision_clock_is_the_rulesets(outcomes_api):
    case, _ = submitted(outcomes_api, document_where())
    submitted_on = dt.datetime.fromisoformat(case["submitted_at"]).date()
    assert case["decision_due"] == (submitted_on + dt.timedelta(days=14)).isoformat()


def test_a_ruleset_that_names_no_decision_clock_gives_eight_weeks(app_env, tmp_path):
    path = tmp_path / "no-clock.yaml"
    path.write_text(outcome_ruleset_text(rules=[("FIN-1", "finance", "major")]), encoding="utf-8")
    app = create_app({**app_env, "BCAPI_RULES": str(path)})
    try:
        case, _ = submitted(ApiClient(app), document_where())
        submitted_on = dt.datetime.fromisoformat(case["submitted_at"]).date()
        assert case["decision_due"] == (submitted_on + dt.timedelta(days=56)).isoformat()
    finally:
        app.extensions["bcapi"].db.dispose()


def set_decision_due(api, case_id: str, due: dt.date) -> None:
    """Move the case's clock, as if it had been submitted long ago."""
    with api.app.extensions["bcapi"].db.writing() as session:
        session.get(BusinessCase, case_id).decision_due = due


def test_a_revision_after_a_decision_restarts_the_clock_and_one_before_does_not(api):
    case, etag = submitted(api)
    url = f"/api/v1/cases/{case['id']}"
    set_decision_due(api, case["id"], dt.date(2001, 1, 1))
    assert body(api.get(url))["overdue"] is True

    # Revised before any decision: the same submission, the clock runs on.
    revised = api.put(url, json=make_document(title="Tidied before the board met"), headers={"If-Match": etag})
    assert revised.status_code == 200
    assert (body(revised)["decision_due"], body(revised)["overdue"]) == ("2001-01-01", True)

    # Returned by the board, then revised: a new submission, due 8 weeks from the revision.
    decided = api.post(f"{url}/decisions", as_="board",
                       json={"outcome": "returned_for_revision", "reasons": [{"reason": "Add a sensitivity case"}]})
    assert decided.status_code == 201
    assert body(api.get(url))["decision_due"] == "2001-01-01"  # a decision alone does not move it
    again = api.put(url, json=make_document(title="Revised as asked"), headers={"If-Match": revised.headers["ETag"]})
    assert again.status_code == 200
    revised_on = dt.datetime.fromisoformat(body(again)["updated_at"]).date()
    assert body(again)["decision_due"] == (revised_on + dt.timedelta(days=56)).isoformat()
    assert body(again)["overdue"] is False and body(again)["status"] == "revised"
    assert body(api.get(url))["decision_due"] == body(again)["decision_due"]


def test_of_two_revisions_from_the_same_etag_only_the_one_stored_first_counts(api, app):
    """Another revision lands between this one's ETag check and its write: this one is refused as
    stale and nothing of it is kept (the compare-and-set on the revision number)."""
    from sqlalchemy import select, update

    from bcapi.document import dumps
    from bcapi.services import cases
    from bcapi.services.errors import StaleRevision
    from bcapi.services.principal import Principal, hash_key
    from bcapi.storage.models import ApiKey

    case, etag = submitted(api)
    state = app.extensions["bcapi"]
    with state.db.reading() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(api.key("EAS"))))
    principal = Principal(key_id, "commissioner", "EAS", None)
    document = make_document(title="The slower revision")
    with pytest.raises(StaleRevision, match="Another revision was stored first"):
        with state.db.writing() as session:
            def another_revision_lands_first(current: str) -> bool:
                assert f'"{current}"' == etag
                session.execute(update(BusinessCase.__table__).where(BusinessCase.__table__.c.id == case["id"])
                                .values(current_revision=2))
                return True

            cases.revise(session, case["id"], if_match=another_revision_lands_first, document=document,
                         raw=dumps(document), principal=principal, ruleset=state.ruleset)
    stored = body(api.get(f"/api/v1/cases/{case['id']}"))
    assert (stored["revision"], stored["title"]) == (1, case["title"])


# --- listing: filters and pages ------------------------------------------------------------

def instant(text: str) -> str:
    return quote(text, safe="")


def test_submitted_after_includes_a_case_submitted_at_that_very_instant_and_before_excludes_it(api):
    older, _ = submitted(api, make_document(title="Older case"))
    case, _ = submitted(api, make_document(title="The case at the boundary"))
    at = case["submitted_at"]
    after = body(api.get(f"/api/v1/cases?submitted_after={instant(at)}", as_="board"))["items"]
    assert older["submitted_at"] < at
    assert [c["id"] for c in after] == [case["id"]]
    before = body(api.get(f"/api/v1/cases?submitted_before={instant(at)}", as_="board"))["items"]
    assert [c["id"] for c in before] == [older["id"]]


def test_a_last_page_that_is_exactly_full_has_no_next_link(api):
    ids = [submitted(api, make_document(title=f"Case number {i}"))[0]["id"] for i in range(4)]
    first = api.get("/api/v1/cases?limit=2", as_="board")
    assert [c["id"] for c in body(first)["items"]] == ids[:1:-1]
    assert body(first)["next"]
    last = api.get(body(first)["next"], as_="board")
    assert [c["id"] for c in body(last)["items"]] == ids[1::-1]
    assert body(last)["next"] is None and "Link" not in last.headers
    whole = api.get("/api/v1/cases?limit=4", as_="board")
    assert len(body(whole)["items"]) == 4 and body(whole)["next"] is None and "Link" not in whole.headers
    short = api.get("/api/v1/cases?limit=3", as_="board")
    assert len(body(short)["items"]) == 3 and body(short)["next"]


def test_the_next_link_keeps_the_filters(api):
    for i in range(3):
        submitted(api, make_document(title=f"Respiratory {i}", service_area="respiratory"))
    submitted(api, make_document(title="Other", service_area="dermatology"))
    page = body(api.get("/api/v1/cases?service_area=respiratory&limit=2", as_="board"))
    rest = body(api.get(page["next"], as_="board"))
    assert [c["service_area"] for c in page["items"] + rest["items"]] == ["respiratory"] * 3
    assert rest["next"] is None


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_without_a_timezone_is_refused_naming_the_cursor(api):
    case, _ = submitted(api)
    naive = case["submitted_at"].replace("+00:00", "").replace("Z", "")
    problem = assert_problem(api.get(f"/api/v1/cases?cursor={cursor(naive + '|' + case['id'])}"), 400)
    assert problem["type"].endswith("/problems/bad-request")
    assert "cursor" in problem["detail"]
    # The same instant with its offset is a cursor like ours: the page after the case.
    aware = api.get(f"/api/v1/cases?cursor={cursor(case['submitted_at'] + '|' + case['id'])}")
    assert aware.status_code == 200 and body(aware)["items"] == []


def test_a_cursor_names_an_id_of_at_most_64_characters_and_needs_no_padding(api):
    """Cursors are base64 without its `=` padding, whatever their length (an instant with no
    fraction of a second makes a shorter one)."""
    at = "2026-01-01T00:00:00+00:00"
    for length in range(58, 65):
        assert api.get(f"/api/v1/cases?cursor={cursor(at + '|' + 'f' * length)}").status_code == 200, length
    assert_problem(api.get(f"/api/v1/cases?cursor={cursor(at + '|' + 'f' * 65)}"), 400)


def test_a_cursor_in_another_offset_means_the_same_instant(api):
    """Cursors are ours, but one written at +01:00 names the same point as at UTC."""
    ids = [submitted(api, make_document(title=f"Case {i}"))[0] for i in range(2)]
    newest = ids[1]
    at = dt.datetime.fromisoformat(newest["submitted_at"]).astimezone(dt.timezone(dt.timedelta(hours=1)))
    page = body(api.get(f"/api/v1/cases?cursor={cursor(at.isoformat() + '|' + newest['id'])}", as_="board"))
    assert [c["id"] for c in page["items"]] == [ids[0]["id"]]


def test_filters_each_narrow_the_listing(api):
    submitted(api, make_document(title="East respiratory", service_area="respiratory"))
    submitted(api, make_document(consortium="SOTON-C", title="Soton", service_area="respiratory"),
                         as_="admin")
    decided, _ = submitted(api, make_document(title="East decided", service_area="dermatology"))
    api.post(f"/api/v1/cases/{decided['id']}/decisions", as_="board", json={"outcome": "approved"})

    def titles(query: str) -> list[str]:
        return sorted(c["title"] for c in body(api.get(f"/api/v1/cases?{query}", as_="board"))["items"])

    assert titles("consortium=SOTON-C") == ["Soton"]
    assert titles("status=decided") == ["East decided"]
    assert titles("status=submitted") == ["East respiratory", "Soton"]
    assert titles("service_area=respiratory") == ["East respiratory", "Soton"]
    everything = body(api.get("/api/v1/cases", as_="board"))["items"]
    for rating in ("green", "amber", "red"):
        assert titles(f"rating={rating}") == sorted(c["title"] for c in everything if c["rating"] == rating)
    assert titles("consortium=EAS&service_area=respiratory") == ["East respiratory"]
