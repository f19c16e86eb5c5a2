"""The board's web pages, through the Flask test client (tests/test_browser.py drives a real browser)."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from markupsafe import escape

from bcapi.http import plain
from bcapi.services.principal import hash_key
from bcapi.storage.models import ApiKey, BusinessCase

from .factories import body, sample


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, key: str):
    page = client.get("/dashboard/sign-in")
    return client.post("/dashboard/sign-in", data={"key": key, "csrf_token": csrf(page.get_data(as_text=True))})


def test_the_dashboard_asks_for_sign_in_first(client):
    response = client.get("/dashboard")
    assert response.status_code == 303 and "/dashboard/sign-in" in response.headers["Location"]


def test_a_board_member_signs_in_and_sees_the_portfolio(api):
    api.submit(sample("dermatology-gpwsi"), as_="admin")
    client = api.app.test_client()
    response = sign_in(client, api.key("board"))
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = client.get("/dashboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Worst findings" in html and "Awaiting a decision" in html
    assert "GPwSI" in html or "dermatology" in html
    assert "RED" in html  # the rating is written, not only coloured
    assert "https://" not in html and "http://" not in html  # no CDN: works offline


def test_commissioner_keys_and_bad_keys_cannot_sign_in(api):
    client = api.app.test_client()
    assert sign_in(client, api.key("EAS")).status_code == 401
    assert sign_in(client, "bcapi_nonsense").status_code == 401
    assert client.get("/dashboard").status_code == 303


def test_forms_without_a_csrf_token_are_refused(api):
    client = api.app.test_client()
    assert client.post("/dashboard/sign-in", data={"key": api.key("board")}).status_code == 400
    sign_in(client, api.key("board"))
    assert client.post("/dashboard/sign-out", data={}).status_code == 400
    assert client.get("/dashboard").status_code == 200


def test_revoking_the_key_ends_the_session(api):
    client = api.app.test_client()
    created = body(api.post("/api/v1/keys", as_="admin", json={"role": "board"}))
    sign_in(client, created["key"])
    assert client.get("/dashboard").status_code == 200
    api.request("DELETE", f"/api/v1/keys/{created['id']}", as_="admin")
    assert client.get("/dashboard").status_code == 303


def test_the_printable_report_groups_feedback_by_criterion(api):
    case = body(api.submit(sample("dermatology-gpwsi"), as_="admin"))
    client = api.app.test_client()
    sign_in(client, api.key("board"))
    page = client.get(f"/dashboard/cases/{case['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for criterion in case["latest_assessment"]["criteria"]:
        assert f'-title">{criterion["title"]}:' in html
    failed = [f for f in case["latest_assessment"]["findings"] if f["status"] == "fail"]
    assert failed and all(str(escape(f["title"])) in html for f in failed)
    assert "What to do:" in html and "@media print" not in html
    assert "{# rating explanation block (explain helper) #}" not in html  # a template comment, not output
    assert client.get("/dashboard/cases/no-such-case").status_code == 404


def test_sign_out_forgets_the_session(api):
    client = api.app.test_client()
    sign_in(client, api.key("board"))
    page = client.get("/dashboard").get_data(as_text=True)
    assert client.post("/dashboard/sign-out", data={"csrf_token": csrf(page)}).status_code == 303
    assert client.get("/dashboard").status_code == 303


def visible_text(html: str) -> str:
    """The page's words, without its tags, attributes or the hidden CSRF token."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def three_cases(api, app):
    """The samples, due in 10 days (dermatology: red), 3 days ago (COPD) and in 30 days (MSK)."""
    cases = {name: body(api.submit(sample(sample_name), as_="admin")) for name, sample_name in (
        ("derm", "dermatology-gpwsi"), ("copd", "copd-community-service"), ("msk", "msk-triage"))}
    today = dt.datetime.now(dt.timezone.utc).date()
    with app.extensions["bcapi"].db.writing() as session:
        for name, days in (("derm", 10), ("copd", -3), ("msk", 30)):
            session.get(BusinessCase, cases[name]["id"]).decision_due = today + dt.timedelta(days=days)
    return cases


def board_client(api):
    client = api.app.test_client()
    assert sign_in(client, api.key("board")).status_code == 303
    return client


def test_the_portfolio_puts_the_queue_first_in_plain_words(api, three_cases):
    html = board_client(api).get("/dashboard").get_data(as_text=True)
    text = visible_text(html)
    headings = re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", html)
    assert [level for level, _ in headings][:3] == ["1", "2", "2"]
    assert "Awaiting a decision" in headings[1][1]
    queue = text[text.index("Awaiting a decision, soonest due first"):text.index("Red cases and")]
    assert queue.index("3 days overdue") < queue.index("10 days left") < queue.index("30 days left")
    assert queue.index("Community COPD") < queue.index("dermatology clinic") < queue.index("Musculoskeletal")
    # Money at stake: the dermatology case invests £207,000 for £279,000 of savings.
    assert "£207,000 investment net £72,000" in queue
    assert "Where the provider includes the commissioners, interests are declared" in queue
    # No ISO dates and no snake_case on the page: UK dates and plain words.
    assert re.search(r"\d{4}-\d{2}-\d{2}", text) is None
    assert re.findall(r"\b[a-z]+_[a-z_]+\b", text) == []
    today = dt.datetime.now(dt.timezone.utc).date()
    assert plain.uk_date(today + dt.timedelta(days=-3)) in queue


def test_worst_findings_go_by_severity_then_cases_then_the_rulesets_order(api, three_cases):
    """Across the three samples (worked out from their assessments): the dermatology case's two
    blockers (1 case each), then the six majors two cases fail, in the order the ruleset lists
    them (not alphabetical: FIN-PAYBACK-CONSISTENT before FIN-DOWNSIDE-CASE), then majors one
    case fails, as far as the table's ten rows go. GOV-PROCUREMENT-EU, an advice rule all three fail, is not among them."""
    html = board_client(api).get("/dashboard").get_data(as_text=True)
    table = html[html.index('id="worst-rules"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<th scope="row">(.*?)</th>.*?data-label="Cases failing">(\d+)<', table, re.S)
    assert rows == [
        ("Where the provider includes the commissioners, interests are declared", "1"),
        ("Where the provider includes the commissioners, the case is scrutinised by a body independent of the interest",
         "1"),
        ("The stated payback agrees with the payback computed from the yearly profile", "2"),
        ("Recurring costs have confirmed recurrent funding", "2"),
        ("A downside case tests savings at 75% of plan or lower", "2"),
        ("The preferred option costs what the case invests", "2"),
        ("The preferred option&#39;s benefit is the savings the case claims", "2"),
        ("The register includes a clinical risk", "2"),
        ("Avoided emergency admissions from 2010/11 are valued at the marginal rate of their own tariff", "1"),
        ("Recurring costs are not funded from a non-recurrent source", "1"),
    ]  # ten rows at most: the register's financial risk (one case, after these in the ruleset) is the eleventh


def decide(client, case_id: str, **fields):
    page = client.get(f"/dashboard/cases/{case_id}").get_data(as_text=True)
    data = {"csrf_token": csrf(page), "revision": "1", **fields}
    return client.post(f"/dashboard/cases/{case_id}/decisions", data=data)


def test_a_decision_on_the_page_is_the_apis_decision_with_the_same_actor(api, three_cases):
    derm = three_cases["derm"]
    client = board_client(api)
    response = decide(client, derm["id"], outcome="returned_for_revision", reasons="  Declare the interests.  ",
                      rule_ids=["COI-DECLARATIONS-PRESENT", "COI-INDEPENDENT-SCRUTINY"], note="Board of 2 December")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/dashboard/cases/{derm['id']}#confirmation")
    page = client.get(f"/dashboard/cases/{derm['id']}").get_data(as_text=True)
    assert "Decision recorded: returned for revision" in page
    assert "Declare the interests." in visible_text(page)
    [decision] = body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"]
    assert (decision["outcome"], decision["note"], decision["revision"]) == (
        "returned_for_revision", "Board of 2 December", 1)
    assert decision["reasons"] == [{"reason": "Declare the interests.",
                                    "rule_ids": ["COI-DECLARATIONS-PRESENT", "COI-INDEPENDENT-SCRUTINY"]}]
    [event] = body(api.get(f"/api/v1/audit?case_id={derm['id']}&action=case.decided", as_="admin"))["items"]
    assert event["actor"]["key_id"] == decision["decided_by"] == key_id(api, api.key("board"))
    assert event["actor"]["role"] == "board"
    # The confirmation shows once; the decision stays in the history.
    again = client.get(f"/dashboard/cases/{derm['id']}").get_data(as_text=True)
    assert "Decision recorded" not in again and "Declare the interests." in again


def key_id(api, key: str) -> str:
    with api.app.extensions["bcapi"].db.reading() as session:
        return session.query(ApiKey).filter_by(key_hash=hash_key(key)).one().id


def test_a_rejection_without_reasons_is_refused_next_to_the_field_and_nothing_is_stored(api, three_cases):
    derm = three_cases["derm"]
    client = board_client(api)
    response = decide(client, derm["id"], outcome="rejected", reasons="   ", note="Typed before the error")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'<p class="error-message" id="reasons-error">.*Give the reasons to reject this case\.</p>', html)
    assert 'aria-describedby="reasons-hint reasons-error" aria-invalid="true"' in html
    assert 'value="rejected" checked' in html and ">Typed before the error</textarea>" in html
    assert "<title>Error:" in html
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []
    # Deferring needs reasons on the page too; approving does not.
    assert decide(client, derm["id"], outcome="deferred").status_code == 422
    assert decide(client, derm["id"], outcome="approved").status_code == 303


@pytest.mark.parametrize("fields, error", [
    ({}, "Choose a decision."),
    ({"outcome": "approved_twice"}, "Choose a decision."),
    ({"outcome": "rejected", "reasons": "x", "rule_ids": ["NO-SUCH-RULE"]},
     "Choose only rules the case&#39;s latest assessment failed."),
    ({"outcome": "rejected", "reasons": "x" * 2001}, "Keep the reasons to 2,000 characters"),
    ({"outcome": "approved", "rule_ids": ["COI-ALTERNATIVES"]}, "Say in words why the rules you chose matter."),
    ({"outcome": "rejected", "reasons": " \u200b \ufeff "}, "Give the reasons to reject this case."),
    ({"outcome": "approved", "reasons": "\u200b", "rule_ids": ["COI-ALTERNATIVES"]},
     "Say in words why the rules you chose matter."),
])
def test_the_decision_form_refuses_what_the_api_would(api, three_cases, fields, error):
    derm = three_cases["derm"]
    response = decide(board_client(api), derm["id"], **fields)
    assert response.status_code == 422 and error in response.get_data(as_text=True)
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []


@pytest.mark.parametrize("fields, field, error", [
    ({"reasons": "a\x00b"}, "reasons", "Text may not contain the NUL character (\\u0000)."),
    ({"reasons": "Costs\x1b[31m unclear"}, "reasons",
     "Text may not contain the control character U+001B (only tab, line feed and carriage return)."),
    ({"reasons": "Costs unclear", "note": "Board\x07"}, "note",
     "Text may not contain the control character U+0007 (only tab, line feed and carriage return)."),
])
def test_control_characters_are_refused_next_to_their_field_and_nothing_is_stored(api, three_cases, fields,
                                                                                   field, error):
    derm = three_cases["derm"]
    response = decide(board_client(api), derm["id"], outcome="rejected", **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error-message" id="{field}-error"><span class="visually-hidden">Error:</span> {error}</p>' in html
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []


def test_tabs_and_line_breaks_are_kept_in_reasons(api, three_cases):
    derm = three_cases["derm"]
    assert decide(board_client(api), derm["id"], outcome="rejected",
                  reasons="Costs:\tunclear\r\nRisks: none").status_code == 303
    [decision] = body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"]
    assert decision["reasons"][0]["reason"] == "Costs:\tunclear\r\nRisks: none"


@pytest.mark.parametrize("fields, field, error", [
    ({"outcome": ["approved", "rejected"], "reasons": "x"}, "outcome", "Choose one decision."),
    ({"outcome": ["rejected", "rejected"], "reasons": "x"}, "outcome", "Choose one decision."),
    ({"outcome": "rejected", "reasons": ["Costs unclear", "Risks unclear"]}, "reasons", "Give the reasons in one box."),
    ({"outcome": "approved", "note": ["One", "Two"]}, "note", "Give the note in one box."),
])
def test_a_field_sent_twice_is_refused_next_to_it(api, three_cases, fields, field, error):
    derm = three_cases["derm"]
    response = decide(board_client(api), derm["id"], **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'<p class="error-message" id="{field}-error"><span class="visually-hidden">Error:</span> {error}</p>' in html
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []


def test_a_decision_on_a_revision_the_board_has_not_seen_is_refused(api, three_cases):
    """The board member opens revision 1; the consortium revises the case; the decision sent from
    the page they read is refused rather than landing on revision 2 unread."""
    derm = three_cases["derm"]
    client = board_client(api)
    page = client.get(f"/dashboard/cases/{derm['id']}").get_data(as_text=True)
    url = f"/api/v1/cases/{derm['id']}"
    etag = api.get(url, as_="admin").headers["ETag"]
    document = {**sample("dermatology-gpwsi"), "title": "GP with special interest dermatology clinic, revised"}
    assert api.put(url, json=document, as_="admin", headers={"If-Match": etag}).status_code == 200
    response = client.post(f"/dashboard/cases/{derm['id']}/decisions",
                           data={"csrf_token": csrf(page), "revision": "1", "outcome": "approved"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "The case was revised (it is now at revision 2) after you opened it" in html
    assert '<input type="hidden" name="revision" value="2">' in html  # sending it again decides on revision 2
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []


def test_a_decision_without_the_csrf_token_is_refused(api, three_cases):
    derm = three_cases["derm"]
    client = board_client(api)
    response = client.post(f"/dashboard/cases/{derm['id']}/decisions", data={"outcome": "approved", "revision": "1"})
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    other = api.app.test_client()  # a token from another session is no better
    other_token = csrf(other.get("/dashboard/sign-in").get_data(as_text=True))
    response = client.post(f"/dashboard/cases/{derm['id']}/decisions",
                           data={"outcome": "approved", "revision": "1", "csrf_token": other_token})
    assert response.status_code == 400
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []


def test_a_commissioner_session_cannot_decide(api, three_cases):
    """Sign-in refuses commissioner keys; a session that names one anyway (a key whose role was
    the board's once, say) is refused by the page's access policy, form or not."""
    from flask import session as server_side

    from bcapi.http.auth import start_session
    from bcapi.services.principal import Principal

    derm = three_cases["derm"]
    with api.app.test_request_context():  # a server-side session for a commissioner's key
        start_session(Principal(key_id(api, api.key("NEWCASTLE-W")), "commissioner", "NEWCASTLE-W", None))
        session_id = server_side["sid"]
    client = api.app.test_client()
    with client.session_transaction() as session:
        session["sid"] = session_id
    token = csrf(client.get("/dashboard/sign-in").get_data(as_text=True))
    response = client.post(f"/dashboard/cases/{derm['id']}/decisions",
                           data={"outcome": "approved", "revision": "1", "csrf_token": token})
    assert response.status_code == 403
    assert client.get(f"/dashboard/cases/{derm['id']}").status_code == 403
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []


@pytest.mark.parametrize("days, words", [(12, "12 days left"), (1, "1 day left"), (0, "due today"),
                                         (-1, "1 day overdue"), (-3, "3 days overdue"), (None, "no due date")])
def test_the_decision_clock_in_words(days, words):
    assert plain.days_left(days) == words


def test_dates_money_and_field_names_in_plain_words():
    assert plain.uk_date("2026-12-02") == "2 December 2026"
    assert plain.uk_date(dt.datetime(2026, 12, 2, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))) == \
        "3 December 2026"  # the UTC date, as the clock counts
    assert plain.uk_datetime("2026-12-02T09:05:00+00:00") == "2 December 2026 at 09:05 UTC"
    assert plain.uk_month("2027-01") == "January 2027" and plain.uk_month("2027-01", short=True) == "Jan 2027"
    assert plain.pounds(Decimal("1151000.00")) == "£1,151,000" and plain.pounds(Decimal("-2500")) == "−£2,500"
    assert plain.outcome("returned_for_revision") == "returned for revision"
    assert plain.field_name("/finance/investment/0/one_off") == "finance › investment › item 1 › one off"


def test_the_newest_red_cases_are_the_same_found_either_way(api, app, three_cases):
    """board_view finds the newest red cases by the rating index when there are few and by
    walking the cases newest first when there are many; both give the same cases."""
    from bcapi.services import dashboard
    from .factories import minimal_document

    bare = body(api.submit(minimal_document(title="Bare case"), as_="admin"))  # red: two blockers fail
    state = app.extensions["bcapi"]
    with state.db.reading() as session:
        few, many = (dashboard.board_view(session, dashboard.PortfolioFilters(), state.ruleset, red_total=n)["red"]
                     for n in (0, 10**9))
    assert [c["id"] for c in few] == [c["id"] for c in many] == [bare["id"], three_cases["derm"]["id"]]
    assert [b["rule_id"] for b in few[0]["blockers"]] == ["FIN-FINANCIAL-INFORMATION", "RISK-REGISTER"]


def test_the_case_page_explains_the_rating_when_the_assessment_does(api, app, three_cases):
    """What sets the rating and the path to green, right under the rating, in plain words."""
    from flask import render_template

    from bcapi.http.web import DecisionForm

    case = body(api.get(f"/api/v1/cases/{three_cases['derm']['id']}", as_="board"))
    assessment = {**case["latest_assessment"], "rating_reasons": [
        {"rating": "red", "criterion": "conflicts_of_interest", "rule_id": "COI-INDEPENDENT-SCRUTINY",
         "severity": "blocker", "reason": "A blocker failed: the conflict was not scrutinised independently."}],
        "path_to_green": [{"rule_id": "COI-INDEPENDENT-SCRUTINY", "criterion": "conflicts_of_interest",
                           "severity": "blocker", "title": "Scrutinise it", "fields": ["/conflicts_of_interest"],
                           "guidance": "Ask the PCT's audit committee."}]}
    with app.test_request_context("/dashboard"):
        def page(assessment):
            return render_template("case_report.html", case={**case, "days_left": 10}, assessment=assessment,
                                   case_money={"investment": None, "savings": None, "net": None}, decisions=[],
                                   principal=None, form=DecisionForm(rules=[]), recorded=[], criteria={
                                       "conflicts_of_interest": "Conflicts of interest"})
        explained, green = page(assessment), page({**assessment, "rating": "green", "rating_reasons": [],
                                                   "path_to_green": []})
    verdict = explained[explained.index('id="verdict"'):explained.index("Scores by criterion")]
    assert "A blocker failed: the conflict was not scrutinised independently." in verdict
    assert "Scrutinise it" in verdict and "(Conflicts of interest): Ask the PCT&#39;s audit committee." in verdict
    assert "Where in the case: conflicts of interest. Rule COI-INDEPENDENT-SCRUTINY." in verdict
    assert 'id="rating-reasons"' not in green
