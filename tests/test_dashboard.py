"""The board's dashboard agrees with the cases behind it (figures computed independently here)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import Counter
from decimal import Decimal

import pytest

from bcapi.storage.models import BusinessCase

from .factories import body, make_document, minimal_document, sample


@pytest.fixture
def portfolio(api, app):
    """Nine cases across three consortia, some decided, one overdue."""
    documents = [sample("copd-community-service"), sample("dermatology-gpwsi"), sample("msk-triage"),
                 make_document(consortium="EAS", title="Second COPD case", service_area="respiratory"),
                 minimal_document(consortium="EAS", title="Bare case"),
                 make_document(consortium="SOTON-C", title="=HYPERLINK(\"http://x\")", service_area="msk")]
    cases = [body(api.submit(d, as_="admin")) for d in documents]
    api.post(f"/api/v1/cases/{cases[0]['id']}/decisions", as_="board", json={"outcome": "approved"})
    api.post(f"/api/v1/cases/{cases[1]['id']}/decisions", as_="board",
             json={"outcome": "rejected", "reasons": [{"reason": "Unmanaged conflict of interest"}]})
    api.post(f"/api/v1/cases/{cases[2]['id']}/decisions", as_="board", json={"outcome": "deferred"})
    with app.extensions["bcapi"].db.writing() as session:
        session.get(BusinessCase, cases[3]["id"]).decision_due = dt.date(2001, 1, 1)
        session.get(BusinessCase, cases[2]["id"]).decision_due = dt.date(2001, 1, 1)
    return [body(api.get(f"/api/v1/cases/{c['id']}", as_="admin")) for c in cases]


def _expected(cases):
    ratings = Counter(c["latest_assessment"]["rating"] for c in cases)
    return ratings


def test_dashboard_counts_and_scores_agree_with_the_cases(api, portfolio):
    dashboard = body(api.get("/api/v1/dashboard", as_="board"))
    ratings = Counter(c["latest_assessment"]["rating"] for c in portfolio)
    assert dashboard["cases"]["total"] == len(portfolio)
    assert dashboard["cases"]["by_rating"] == {r: ratings.get(r, 0) for r in ("green", "amber", "red")}
    assert dashboard["cases"]["by_status"] == {"submitted": 3, "revised": 0, "decided": 3}
    for criterion in dashboard["criteria"]:
        scores = [next(c["score"] for c in case["latest_assessment"]["criteria"] if c["id"] == criterion["id"])
                  for case in portfolio]
        reds = sum(next(c["rating"] for c in case["latest_assessment"]["criteria"] if c["id"] == criterion["id"]) == "red"
                   for case in portfolio)
        assert abs(criterion["mean_score"] - sum(scores) / len(scores)) <= Decimal("0.05")
        assert criterion["red"] == reds and criterion["cases"] == len(portfolio)


def test_money_in_play_adds_up_by_consortium_and_service_area(api, portfolio):
    money = body(api.get("/api/v1/dashboard", as_="board"))["money"]

    def stated(case, key, lines, parts):
        finance = case["document"].get("finance", {})
        if key in finance:
            return finance[key]
        return sum((line.get(p, 0) for line in finance.get(lines, []) for p in parts), Decimal(0))

    investment = sum(stated(c, "total_investment", "investment", ("one_off", "recurring")) for c in portfolio)
    savings = sum(stated(c, "total_savings", "savings", ("amount",)) for c in portfolio)
    assert money["total_investment"] == investment and money["total_savings"] == savings
    assert money["net"] == savings - investment
    by_consortium = {row["code"]: row for row in money["by_consortium"]}
    eas = [c for c in portfolio if c["consortium"]["code"] == "EAS"]
    assert by_consortium["EAS"]["cases"] == len(eas)
    assert by_consortium["EAS"]["investment"] == sum(
        stated(c, "total_investment", "investment", ("one_off", "recurring")) for c in eas)
    assert sum(row["cases"] for row in money["by_service_area"]) == len(portfolio)


def test_rules_failed_most_often_name_their_cases(api, portfolio):
    failing = body(api.get("/api/v1/dashboard", as_="board"))["failing_rules"]
    counts = Counter(f["rule_id"] for c in portfolio for f in c["latest_assessment"]["findings"]
                     if f["status"] in ("fail", "error"))
    assert failing, "some sample cases fail rules"
    for row in failing:
        assert row["count"] == counts[row["rule_id"]]
        assert {x["id"] for x in row["cases"]} <= {c["id"] for c in portfolio}
    assert failing[0]["count"] == max(counts.values())


def test_timeliness_counts_what_waits_and_what_is_overdue(api, portfolio):
    timeliness = body(api.get("/api/v1/dashboard", as_="board"))["timeliness"]
    awaiting = [c for c in portfolio if c["status"] != "decided" or c["decision"]["outcome"] == "deferred"]
    assert timeliness["awaiting"] == len(awaiting) == 4
    assert timeliness["overdue"] == sum(c["overdue"] for c in portfolio) == 2
    days = [(dt.datetime.fromisoformat(c["decision"]["decided_at"]) - dt.datetime.fromisoformat(c["submitted_at"]))
            .total_seconds() / 86400 for c in portfolio if c["decision"]]
    assert abs(float(timeliness["median_days_to_decision"]) - statistics.median(days)) < 0.1


def test_trend_and_filters(api, portfolio):
    dashboard = body(api.get("/api/v1/dashboard", as_="board"))
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    assert dashboard["trend"] == [{"month": month, "submitted": len(portfolio),
                                   **{r: dashboard["cases"]["by_rating"][r] for r in ("green", "amber", "red")}}]
    soton = body(api.get("/api/v1/dashboard?consortium=SOTON-C", as_="board"))
    assert soton["cases"]["total"] == 2 and soton["filters"] == {"consortium": "SOTON-C"}
    none = body(api.get("/api/v1/dashboard?submitted_after=2999-01-01", as_="board"))
    assert none["cases"]["total"] == 0 and none["timeliness"]["median_days_to_decision"] is None


def test_csv_has_one_row_per_case_opens_in_excel_and_neutralises_formulas(api, portfolio):
    response = api.get("/api/v1/dashboard/cases.csv", as_="board")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == len(portfolio)
    by_id = {r["id"]: r for r in rows}
    for case in portfolio:
        row = by_id[case["id"]]
        assert row["rating"] == case["latest_assessment"]["rating"]
        assert Decimal(row["score"]) == case["latest_assessment"]["score"]
        for criterion in case["latest_assessment"]["criteria"]:
            assert Decimal(row[f"{criterion['id']}_score"]) == criterion["score"]
        assert row["overdue"] == ("yes" if case["overdue"] else "no")
    assert any(r["title"].startswith("'=HYPERLINK") for r in rows)
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_commissioners_cannot_see_the_dashboard(api):
    assert api.get("/api/v1/dashboard", as_="EAS").status_code == 403
    assert api.get("/api/v1/dashboard/cases.csv", as_="EAS").status_code == 403
