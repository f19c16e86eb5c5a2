"""PCT boards decide on cases; every state change is audited with its actor."""
from __future__ import annotations

import datetime as dt
import logging

from .factories import body, make_document, sample


def submit(api, document=None, **kwargs):
    response = api.submit(document or make_document(), **kwargs)
    assert response.status_code == 201
    return body(response), response.headers["ETag"]


def test_a_new_case_is_due_a_decision_in_eight_weeks(api):
    case, _ = submit(api)
    submitted = dt.datetime.fromisoformat(case["submitted_at"]).date()
    assert case["decision_due"] == (submitted + dt.timedelta(days=56)).isoformat()
    assert case["overdue"] is False and case["decision"] is None and case["status"] == "submitted"


def test_board_approves_and_the_decision_names_revision_and_assessment(api):
    case, _ = submit(api)
    response = api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board",
                        json={"outcome": "approved", "note": "Good case"})
    assert response.status_code == 201
    decision = body(response)
    assert decision["revision"] == 1 and decision["assessment_id"] == case["latest_assessment"]["id"]
    read = body(api.get(f"/api/v1/cases/{case['id']}"))
    assert read["status"] == "decided" and read["decision"]["outcome"] == "approved"
    assert body(api.get("/api/v1/cases?status=decided", as_="board"))["items"][0]["id"] == case["id"]
    assert [d["outcome"] for d in body(api.get(f"/api/v1/cases/{case['id']}/decisions"))["items"]] == ["approved"]


def test_rejecting_without_reasons_is_422_and_records_nothing(api):
    case, _ = submit(api)
    for outcome, detail in (("rejected", "A decision to reject must give its reasons."),
                            ("returned_for_revision", "A decision to return for revision must give its reasons.")):
        response = api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board", json={"outcome": outcome})
        assert response.status_code == 422
        assert body(response)["detail"] == detail
        assert body(response)["errors"] == [{"pointer": "/reasons", "detail": detail}]
    assert body(api.get(f"/api/v1/cases/{case['id']}"))["status"] == "submitted"


def test_reasons_may_cite_rules_of_the_latest_assessment_only(api):
    case, _ = submit(api, sample("dermatology-gpwsi"), as_="admin")
    failed = [f["rule_id"] for f in case["latest_assessment"]["findings"] if f["status"] == "fail"]
    url = f"/api/v1/cases/{case['id']}/decisions"
    bad = api.post(url, as_="board", json={"outcome": "rejected",
                                           "reasons": [{"reason": "x", "rule_ids": ["NO-SUCH-RULE"]}]})
    assert bad.status_code == 422 and body(bad)["errors"][0]["pointer"] == "/reasons/0/rule_ids/0"
    good = api.post(url, as_="board", json={"outcome": "rejected", "note": "See reasons",
                                            "reasons": [{"reason": "Unmanaged conflict", "rule_ids": failed[:2]}]})
    assert good.status_code == 201 and body(good)["reasons"][0]["rule_ids"] == failed[:2]


def test_control_characters_in_a_note_or_reason_are_422_with_their_pointers(api):
    case, _ = submit(api)
    url = f"/api/v1/cases/{case['id']}/decisions"
    response = api.post(url, as_="board", json={"outcome": "rejected", "note": "Board\x07",
                                                "reasons": [{"reason": "Fine"}, {"reason": "Costs\x1b[31m"}]})
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert body(response)["errors"] == [
        {"pointer": "/note",
         "detail": "Text may not contain the control character U+0007 (only tab, line feed and carriage return)."},
        {"pointer": "/reasons/1/reason",
         "detail": "Text may not contain the control character U+001B (only tab, line feed and carriage return)."}]
    nul = api.post(url, as_="board", json={"outcome": "rejected", "reasons": [{"reason": "a\u0000b"}]})
    assert nul.status_code == 422 and body(nul)["errors"][0]["pointer"] == "/reasons/0/reason"
    assert body(api.get(url))["items"] == []


def test_an_invisible_reason_is_no_reason(api):
    case, _ = submit(api)
    url = f"/api/v1/cases/{case['id']}/decisions"
    for invisible in ("\u200b", " \ufeff\u2060 ", "\u00a0\u200b"):
        response = api.post(url, as_="board", json={"outcome": "rejected", "note": "",
                                                    "reasons": [{"reason": invisible, "rule_ids": []}]})
        assert response.status_code == 422
        assert body(response)["errors"] == [{"pointer": "/reasons/0/reason", "detail":
                                             "A reason must have visible text, not only spaces or invisible characters."}]
    assert body(api.get(url))["items"] == []
    kept = api.post(url, as_="board", json={"outcome": "rejected", "reasons": [{"reason": "\u200bCosts unclear"}]})
    assert kept.status_code == 201 and body(kept)["reasons"][0]["reason"] == "\u200bCosts unclear"


def test_an_unknown_outcome_or_field_is_422(api):
    case, _ = submit(api)
    url = f"/api/v1/cases/{case['id']}/decisions"
    assert api.post(url, as_="board", json={"outcome": "maybe"}).status_code == 422
    assert api.post(url, as_="board", json={"outcome": "approved", "mood": "good"}).status_code == 422


def test_a_revision_after_return_restarts_the_clock(api, app):
    from bcapi.storage.models import BusinessCase

    case, etag = submit(api)
    with app.extensions["bcapi"].db.writing() as session:  # submitted long ago: the clock has run out
        session.get(BusinessCase, case["id"]).decision_due = dt.date(2001, 1, 1)
    assert body(api.get(f"/api/v1/cases/{case['id']}"))["overdue"] is True
    api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board",
             json={"outcome": "returned_for_revision", "reasons": [{"reason": "Add a sensitivity case"}]})
    revised = api.put(f"/api/v1/cases/{case['id']}", json=make_document(title="Revised"), headers={"If-Match": etag})
    assert revised.status_code == 200
    assert body(revised)["status"] == "revised"
    assert body(revised)["decision"]["outcome"] == "returned_for_revision"
    revised_on = dt.datetime.fromisoformat(body(revised)["updated_at"]).date()
    assert body(revised)["decision_due"] == (revised_on + dt.timedelta(days=56)).isoformat()
    assert body(revised)["overdue"] is False


def test_overdue_when_the_clock_has_run_out(api, app):
    from bcapi.storage.models import BusinessCase

    case, _ = submit(api)
    with app.extensions["bcapi"].db.writing() as session:
        session.get(BusinessCase, case["id"]).decision_due = dt.date(2001, 1, 1)
    assert body(api.get(f"/api/v1/cases/{case['id']}"))["overdue"] is True
    api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board", json={"outcome": "deferred"})
    assert body(api.get(f"/api/v1/cases/{case['id']}"))["overdue"] is True  # deferred is still waiting
    api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board", json={"outcome": "approved"})
    assert body(api.get(f"/api/v1/cases/{case['id']}"))["overdue"] is False


def test_the_audit_trail_shows_each_action_with_its_actor(api):
    case, etag = submit(api, headers={"X-Request-ID": "req-submit-1"})
    api.put(f"/api/v1/cases/{case['id']}", json=make_document(title="Second"), headers={"If-Match": etag})
    api.post(f"/api/v1/cases/{case['id']}/assessments", as_="board")
    api.post(f"/api/v1/cases/{case['id']}/decisions", as_="board", json={"outcome": "approved"})
    created = body(api.post("/api/v1/keys", as_="admin", json={"role": "board", "label": "new board member"}))
    api.request("DELETE", f"/api/v1/keys/{created['id']}", as_="admin")

    events = body(api.get("/api/v1/audit?limit=100", as_="admin"))["items"]
    # (The test's own keys are made outside the API, by the "command line".)
    actions = [e["action"] for e in events if e["actor"]["label"] != "command line"][::-1]
    assert actions == ["ruleset.loaded", "case.submitted", "case.revised", "case.reassessed", "case.decided",
                       "key.created", "key.revoked"]
    submitted = next(e for e in events if e["action"] == "case.submitted")
    assert submitted["request_id"] == "req-submit-1" and submitted["case_id"] == case["id"]
    assert submitted["actor"]["role"] == "commissioner"
    decided = next(e for e in events if e["action"] == "case.decided")
    assert decided["actor"]["role"] == "board" and decided["details"]["outcome"] == "approved"
    filtered = body(api.get(f"/api/v1/audit?action=case.revised&case_id={case['id']}", as_="admin"))["items"]
    assert len(filtered) == 1
    # Each case event names the revision it concerns and the rating that revision was given.
    on_case = [e for e in events if e.get("case_id") == case["id"]][::-1]
    assert [(e["action"], e["details"].get("revision")) for e in on_case] == [
        ("case.submitted", 1), ("case.revised", 2), ("case.reassessed", 2), ("case.decided", 2)]
    assert on_case[0]["details"]["rating"] == case["latest_assessment"]["rating"]


def test_the_audit_trail_never_holds_keys_or_documents(api, app):
    from bcapi.storage.models import AuditEvent

    case, _ = submit(api)
    created = body(api.post("/api/v1/keys", as_="admin", json={"role": "board"}))
    with app.extensions["bcapi"].db.reading() as session:
        stored = " ".join(e.details + (e.actor_label or "") for e in session.query(AuditEvent))
    assert created["key"] not in stored and api.key("EAS") not in stored
    assert case["document"]["summary"][:40] not in stored


def test_an_admin_issues_a_key_that_works_and_revoking_it_stops_it_at_once(api):
    created = api.post("/api/v1/keys", as_="admin", json={"role": "commissioner", "consortium": "EAS", "label": "tool"})
    assert created.status_code == 201
    key = body(created)["key"]
    headers = {"Authorization": f"Bearer {key}"}
    assert api.get("/api/v1/cases", as_=None, headers=headers).status_code == 200
    listed = body(api.get("/api/v1/keys", as_="admin"))["items"]
    mine = next(k for k in listed if k["id"] == body(created)["id"])
    assert "key" not in mine and mine["last_used_at"] is not None and mine["state"] == "active"
    assert api.request("DELETE", f"/api/v1/keys/{mine['id']}", as_="admin").status_code == 200
    assert api.get("/api/v1/cases", as_=None, headers=headers).status_code == 401


def test_an_expired_key_is_refused(api, app):
    from bcapi.storage.models import ApiKey

    created = body(api.post("/api/v1/keys", as_="admin", json={"role": "board", "expires_at": "2999-01-01T00:00:00Z"}))
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert api.get("/api/v1/cases", as_=None, headers=headers).status_code == 200
    with app.extensions["bcapi"].db.writing() as session:
        session.get(ApiKey, created["id"]).expires_at = dt.datetime(2001, 1, 1, tzinfo=dt.timezone.utc)
    assert api.get("/api/v1/cases", as_=None, headers=headers).status_code == 401


def test_bad_key_requests_are_422(api):
    assert api.post("/api/v1/keys", as_="admin", json={"role": "commissioner"}).status_code == 422
    assert api.post("/api/v1/keys", as_="admin", json={"role": "board", "consortium": "EAS"}).status_code == 422
    assert api.post("/api/v1/keys", as_="admin", json={"role": "root"}).status_code == 422
    assert api.post("/api/v1/keys", as_="admin",
                    json={"role": "board", "expires_at": "2001-01-01T00:00:00Z"}).status_code == 422


def test_logs_never_contain_keys_or_case_bodies(api, caplog):
    caplog.set_level(logging.INFO, logger="bcapi")
    logger = logging.getLogger("bcapi")
    logger.addHandler(caplog.handler)
    try:
        document = make_document()
        api.submit(document)
        api.submit({"schema_version": "1", "title": 5, "consortium": {"code": "EAS", "name": "x"}})
    finally:
        logger.removeHandler(caplog.handler)
    text = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "POST" in text  # the requests were logged
    assert api.key("EAS") not in text
    assert document["summary"][:40] not in text
