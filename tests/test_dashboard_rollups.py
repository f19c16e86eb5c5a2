"""The dashboard's rollups stay equal to the cases behind them, whatever is done to the cases.

After a random mix of submissions (over several months), revisions that change a case's service
area and consortium name, re-assessments (through the API, and under a gentler ruleset that
changes ratings and rule severities) and decisions, the dashboard read from the rollups must
equal the dashboard computed from the cases alone, for every combination of filters, including
dates that fall mid-month; and the rollups kept must equal the rollups rebuilt from scratch.
"""
from __future__ import annotations

import datetime as dt
import itertools
import random
import threading

import pytest
from sqlalchemy import select

from bcapi.services.principal import Principal
from bcapi.config import DEFAULT_RULES
from bcapi.engine import parse_ruleset
from bcapi.storage.models import BusinessCase, PortfolioCases, PortfolioCriterion, PortfolioFailure
from bcapi.services import cases as case_service
from bcapi.services import dashboard

from .factories import body, make_document, minimal_document, sample
from .test_rules_cli import softened

ADMIN = Principal("test-admin", "admin", None, "test")
AREAS = ["respiratory", "dermatology", None]
NOW = dt.datetime.now(dt.timezone.utc)


def rollup_rows(session) -> dict[str, set]:
    """Every rollup row that counts for something (rows fallen to zero read as absent)."""
    return {model.__tablename__: {tuple(row) for row in session.execute(select(model.__table__)).all()
                                  if row.cases != 0}
            for model in (PortfolioCases, PortfolioCriterion, PortfolioFailure)}


def in_area(document: dict, area: str | None) -> dict:
    """The document in `area`, or in none (no service_area at all)."""
    document = {k: v for k, v in document.items() if k != "service_area"}
    return {**document, "service_area": area} if area else document


def every_filter() -> list[dashboard.PortfolioFilters]:
    month_start = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    instants = [None, month_start - dt.timedelta(days=62), month_start - dt.timedelta(days=45, hours=5),
                month_start, NOW - dt.timedelta(days=3)]
    return [dashboard.PortfolioFilters(consortium=c, service_area=a, submitted_after=after, submitted_before=before)
            for c, a, after, before in itertools.product([None, "EAS", "SOTON-C"], [None, "respiratory"],
                                                         instants, instants)]


def assert_rollups_agree_with_the_cases(app):
    state = app.extensions["bcapi"]
    with state.db.reading() as session:
        for filters in every_filter():
            from_rollups = dashboard.portfolio(session, filters, state.ruleset)
            from_cases = dashboard.portfolio(session, filters, state.ruleset, rollups=False)
            from_rollups.pop("generated_at"), from_cases.pop("generated_at")
            assert from_rollups == from_cases, filters
        kept = rollup_rows(session)
    with state.db.writing() as session:
        dashboard.rebuild_rollups(session)
        assert rollup_rows(session) == kept


@pytest.fixture
def mixed_history(api, app, monkeypatch):
    """Twenty cases submitted over four months, then revised, re-assessed and decided at random."""
    rng = random.Random(6)
    times = iter(sorted(NOW - dt.timedelta(days=rng.uniform(0, 120)) for _ in range(20)))
    monkeypatch.setattr(case_service, "utcnow", lambda: next(times, NOW))
    documents = [sample("copd-community-service"), sample("dermatology-gpwsi"), sample("msk-triage")]
    ids = []
    for i in range(20):
        consortium = rng.choice(["EAS", "SOTON-C", "DERW"])
        document = (minimal_document(consortium=consortium, title=f"Bare {i}") if i % 7 == 3 else
                    in_area(make_document(consortium=consortium, title=f"Case {i}"), rng.choice(AREAS)))
        if i % 5 == 0:
            document = {**rng.choice(documents), "consortium": {"code": consortium, "name": "A consortium"}}
        response = api.submit(document, as_="admin")
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(body(response)["id"])
    monkeypatch.setattr(case_service, "utcnow", lambda: dt.datetime.now(dt.timezone.utc))
    gentler = parse_ruleset(softened(DEFAULT_RULES.read_text(encoding="utf-8")))
    state = app.extensions["bcapi"]
    for case_id in ids:
        for action in rng.sample(["revise", "reassess", "gentler", "decide", "decide"], k=3):
            if action == "revise":
                case = body(api.get(f"/api/v1/cases/{case_id}", as_="admin"))
                document = in_area({**rng.choice(documents), "title": "Revised",
                                    "consortium": {"code": case["consortium"]["code"], "name": f"Renamed {rng.random()}"}},
                                   rng.choice(AREAS))
                response = api.put(f"/api/v1/cases/{case_id}", json=document, as_="admin", headers={"If-Match": "*"})
                assert response.status_code == 200, response.get_data(as_text=True)
            elif action == "reassess":
                assert api.post(f"/api/v1/cases/{case_id}/assessments", as_="board").status_code == 201
            elif action == "gentler":
                with state.db.writing() as session:
                    case_service.reassess(session, session.get(BusinessCase, case_id), gentler, ADMIN)
            else:
                outcome = rng.choice(["approved", "deferred", "rejected"])
                reasons = [{"reason": "Not evidenced"}] if outcome == "rejected" else []
                response = api.post(f"/api/v1/cases/{case_id}/decisions", as_="board",
                                    json={"outcome": outcome, "reasons": reasons})
                assert response.status_code == 201, response.get_data(as_text=True)
    return ids


def test_rollups_equal_the_cases_after_submissions_revisions_reassessments_and_decisions(app, mixed_history):
    state = app.extensions["bcapi"]
    with state.db.reading() as session:
        months = {row.month for row in session.execute(select(PortfolioCases.month)).all()}
        assert len(months) >= 3  # the date filters do cut across rollup months
        everything = dashboard.portfolio(session, dashboard.PortfolioFilters(), state.ruleset)
    assert everything["cases"]["total"] == len(mixed_history)
    assert sum(everything["cases"]["by_status"].values()) == len(mixed_history)
    assert_rollups_agree_with_the_cases(app)


def test_concurrent_reassessments_and_decisions_lose_no_counts(app, api):
    """Writers in threads on cases in the same rollup rows (PostgreSQL runs them side by side)."""
    ids = [body(api.submit(make_document(title=f"Case {i}"), as_="admin"))["id"] for i in range(4)]
    state = app.extensions["bcapi"]
    gentler = parse_ruleset(softened(DEFAULT_RULES.read_text(encoding="utf-8")))
    errors: list[BaseException] = []

    def worker(case_id: str, ruleset) -> None:
        try:
            for _ in range(3):
                with state.db.writing() as session:
                    case_service.reassess(session, session.get(BusinessCase, case_id), ruleset, ADMIN)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(case_id, ruleset))
               for case_id in ids for ruleset in (state.ruleset, gentler)]  # two writers per case
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    with state.db.reading() as session:
        assert dashboard.portfolio(session, dashboard.PortfolioFilters(), state.ruleset)["cases"]["total"] == 4
    assert_rollups_agree_with_the_cases(app)
