"""Commissioners submit, read and revise business cases over HTTP (CONTRACT §2)."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from bcapi.document import dumps, loads
from bcapi.storage.models import BusinessCase, IdempotencyRecord, Revision, utcnow
from bcapi.services.assessments import dry_run

from .factories import body, make_document, minimal_document, sample

PROBLEM = "application/problem+json"


def count(app, model) -> int:
    with app.extensions["bcapi"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_submitting_a_case_stores_revision_1_and_answers_with_its_assessment(api):
    document = make_document()
    response = api.submit(document)
    assert response.status_code == 201
    case = body(response)
    assert response.headers["Location"].endswith(f"/api/v1/cases/{case['id']}")
    assert response.headers["ETag"].startswith('"')
    assert case["revision"] == 1 and case["status"] == "submitted"
    assert case["document"] == document
    assert case["consortium"] == document["consortium"] and case["title"] == document["title"]
    assessment = case["latest_assessment"]
    assert assessment["case_id"] == case["id"] and assessment["revision"] == 1
    assert assessment["rating"] in ("green", "amber", "red")
    assert {c["id"] for c in assessment["criteria"]} >= {"financial", "risk", "governance", "conflicts_of_interest"}

    again = api.get(response.headers["Location"])
    assert again.status_code == 200
    assert body(again)["document"] == document
    assert again.headers["ETag"] == response.headers["ETag"]


def test_the_served_assessment_is_exactly_what_the_engine_says_offline(api, app):
    """Every finding keeps its pointers, message and guidance on the way out: API and CLI agree."""
    document = make_document()
    served = body(api.submit(document))["latest_assessment"]
    offline = loads(dumps(dry_run(document, app.extensions["bcapi"].ruleset)))
    assert served["findings"] == offline["findings"]
    assert (served["rating"], served["score"]) == (offline["rating"], offline["score"])
    failed = [f for f in served["findings"] if f["status"] == "fail"]
    assert failed and all(f["fields"] and all(p.startswith("/") for p in f["fields"]) for f in failed)


def test_the_document_comes_back_exactly_as_sent(api):
    raw = (b'{"schema_version": "1", "title": "Exact numbers", "consortium": {"code": "EAS", "name": "E"},'
           b' "finance": {"payback_years": 2.0, "discount_rate": 0.035, "total_investment": 1e3}}')
    response = api.post("/api/v1/cases", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.get_data(as_text=True)
    case = body(response)
    assert case["document"]["finance"]["payback_years"] == Decimal("2.0")
    assert '"payback_years":2.0' in response.get_data(as_text=True)  # not 2, not 2.0000001
    stored = api.get(f"/api/v1/cases/{case['id']}/revisions/1/document")
    assert stored.status_code == 200 and stored.get_data() == raw


def test_every_bad_field_is_named_by_pointer_and_nothing_is_stored(api, app):
    document = make_document()
    document["title"] = 5
    document["risks"][0]["likelihood"] = 7
    document["risks"][1]["owner_name"] = "typo"
    document["finance"]["total_investment"] = Decimal("1.234")
    document["finance"]["recurrent_funding_confirmed"] = "yes"
    document["practices"][0]["ods_code"] = "83005"
    document["period"]["start"] = "2009-02-30"
    document["conflicts_of_interest"]["declarations"][0]["declared_on"] = "12/01/2009"
    response = api.submit(document)
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith(PROBLEM)
    problem = body(response)
    assert problem["status"] == 422 and problem["type"] and problem["title"] and problem["detail"]
    assert {e["pointer"] for e in problem["errors"]} == {
        "/title", "/risks/0/likelihood", "/risks/1/owner_name", "/finance/total_investment",
        "/finance/recurrent_funding_confirmed", "/practices/0/ods_code", "/period/start",
        "/conflicts_of_interest/declarations/0/declared_on"}
    assert count(app, BusinessCase) == 0 and count(app, Revision) == 0


def test_identity_is_all_a_document_needs(api):
    response = api.submit(minimal_document())
    assert response.status_code == 201
    assert body(response)["latest_assessment"]["rating"] == "red"


def test_missing_identity_and_wrong_types_are_422(api):
    response = api.submit({"schema_version": "2", "consortium": {"code": "e", "name": ""}})
    pointers = {e["pointer"] for e in body(response)["errors"]}
    assert response.status_code == 422
    assert pointers == {"/schema_version", "/title", "/consortium/code", "/consortium/name"}


def test_numbers_must_be_numbers_not_strings_or_booleans(api):
    document = make_document()
    document["finance"]["total_savings"] = "516375"
    document["strategic_fit"]["patients_affected"] = True
    document["finance"]["sensitivity"][0]["net_benefit"] = Decimal("-66719.5")  # negative allowed here
    document["options"][0]["total_cost"] = -1
    response = api.submit(document)
    assert {e["pointer"] for e in body(response)["errors"]} == {
        "/finance/total_savings", "/strategic_fit/patients_affected", "/options/0/total_cost"}


def test_a_body_that_is_not_a_json_object_is_refused(api):
    for raw, status in [(b"{", 400), (b'{"title": NaN}', 400), (b'{"a": Infinity}', 400),
                        (b"[" * 100000 + b"]" * 100000, 400), (b"\xff\xfe{}", 400), (b"", 400),
                        (b"[1, 2]", 422), (b'"text"', 422), (b"null", 422)]:
        response = api.post("/api/v1/cases", data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == status, raw[:20]
        assert response.headers["Content-Type"].startswith(PROBLEM)
        assert "Traceback" not in response.get_data(as_text=True)


def test_a_body_that_is_not_json_is_415(api):
    response = api.post("/api/v1/cases", data="title=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 415
    assert body(response)["status"] == 415


def test_a_body_over_the_limit_is_413(app_env, tmp_path):
    from bcapi.http.app import create_app

    from .factories import ApiClient

    app = create_app({**app_env, "BCAPI_MAX_BODY_BYTES": "2000"})
    api = ApiClient(app)
    response = api.submit(make_document())
    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith(PROBLEM)
    app.extensions["bcapi"].db.dispose()


def test_unknown_routes_and_methods_are_problems(api):
    missing = api.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith(PROBLEM)
    wrong = api.request("DELETE", "/api/v1/cases")
    assert wrong.status_code == 405 and wrong.headers["Content-Type"].startswith(PROBLEM)
    assert "POST" in wrong.headers["Allow"]


def test_no_key_or_an_unknown_key_is_401(api):
    assert api.get("/api/v1/cases", as_=None).status_code == 401
    response = api.get("/api/v1/cases", as_=None, headers={"Authorization": "Bearer bcapi_not-a-key"})
    assert response.status_code == 401
    assert response.headers["Content-Type"].startswith(PROBLEM)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_commissioner_cannot_submit_for_another_consortium(api, app):
    response = api.submit(make_document(consortium="NEWCASTLE-W"), as_="EAS")
    assert response.status_code == 403
    assert count(app, BusinessCase) == 0


def test_board_cannot_submit_cases(api):
    assert api.submit(make_document(), as_="board").status_code == 403


def test_commissioner_cannot_read_another_consortiums_case(api):
    case_id = body(api.submit(make_document(consortium="SOTON-C"), as_="SOTON-C"))["id"]
    assert api.get(f"/api/v1/cases/{case_id}", as_="EAS").status_code == 404
    assert api.get(f"/api/v1/cases/{case_id}/revisions", as_="EAS").status_code == 404
    assert api.get(f"/api/v1/cases/{case_id}", as_="board").status_code == 200
    assert api.get(f"/api/v1/cases/{case_id}", as_="admin").status_code == 200
    listed = body(api.get("/api/v1/cases", as_="EAS"))
    assert listed["items"] == []


def test_admin_can_submit_for_any_consortium(api):
    response = api.submit(make_document(consortium="SOTON-C", title="Admin's case"), as_="admin")
    assert response.status_code == 201
    case = body(response)
    assert case["consortium"] == {"code": "SOTON-C", "name": "SOTON-C consortium"}
    assert (case["status"], case["revision"], case["title"]) == ("submitted", 1, "Admin's case")
    # The case is that consortium's: its commissioner sees it, another's does not.
    assert body(api.get(f"/api/v1/cases/{case['id']}", as_="SOTON-C"))["id"] == case["id"]
    assert api.get(f"/api/v1/cases/{case['id']}", as_="EAS").status_code == 404
    assert [c["id"] for c in body(api.get("/api/v1/cases", as_="SOTON-C"))["items"]] == [case["id"]]


def test_revising_needs_if_match_and_keeps_every_revision(api):
    first = api.submit(make_document(title="First version"))
    case = body(first)
    url = f"/api/v1/cases/{case['id']}"

    second_doc = make_document(title="Second version")
    assert api.put(url, json=second_doc).status_code == 428
    assert api.put(url, json=second_doc, headers={"If-Match": '"stale"'}).status_code == 412

    revised = api.put(url, json=second_doc, headers={"If-Match": first.headers["ETag"]})
    assert revised.status_code == 200
    assert body(revised)["revision"] == 2 and body(revised)["status"] == "revised"
    assert body(revised)["title"] == "Second version"
    assert revised.headers["ETag"] != first.headers["ETag"]
    assert body(revised)["latest_assessment"]["revision"] == 2

    # The old ETag is now stale.
    assert api.put(url, json=second_doc, headers={"If-Match": first.headers["ETag"]}).status_code == 412

    revisions = body(api.get(f"{url}/revisions"))["items"]
    assert [r["number"] for r in revisions] == [1, 2]
    assert body(api.get(f"{url}/revisions/1"))["document"]["title"] == "First version"
    assert body(api.get(f"{url}/revisions/2"))["document"]["title"] == "Second version"
    assert api.get(f"{url}/revisions/3").status_code == 404
    history = body(api.get(f"{url}/assessments"))["items"]
    assert [a["revision"] for a in history] == [2, 1]


def test_if_match_may_list_several_entity_tags(api):
    """RFC 9110 13.1.1: the condition holds if any listed tag matches the current one (strongly)."""
    first = api.submit(make_document(title="First version"))
    url = f"/api/v1/cases/{body(first)['id']}"
    current = first.headers["ETag"]
    assert api.put(url, json=make_document(title="Second version"),
                   headers={"If-Match": f'"x", W/{current}'}).status_code == 412  # weak never matches strongly
    revised = api.put(url, json=make_document(title="Second version"), headers={"If-Match": f'"x", {current}'})
    assert revised.status_code == 200 and body(revised)["revision"] == 2
    # The old tag is stale now; listed with others that are not the current one, still 412.
    assert api.put(url, json=make_document(title="Third version"),
                   headers={"If-Match": f'{current}, "y"'}).status_code == 412
    again = api.put(url, json=make_document(title="Third version"),
                    headers={"If-Match": f'{current},{revised.headers["ETag"]}'})
    assert again.status_code == 200 and body(again)["revision"] == 3


def test_an_invalid_revision_changes_nothing(api):
    first = api.submit(make_document())
    url = f"/api/v1/cases/{body(first)['id']}"
    bad = make_document()
    bad["risks"][0]["impact"] = 0
    response = api.put(url, json=bad, headers={"If-Match": first.headers["ETag"]})
    assert response.status_code == 422
    assert body(api.get(url))["revision"] == 1
    assert api.get(url).headers["ETag"] == first.headers["ETag"]


def test_a_revision_cannot_move_a_case_to_another_consortium(api):
    first = api.submit(make_document(), as_="admin")
    url = f"/api/v1/cases/{body(first)['id']}"
    moved = api.put(url, json=make_document(consortium="SOTON-C"), as_="admin",
                    headers={"If-Match": first.headers["ETag"]})
    assert moved.status_code == 403


def test_conditional_get_answers_304(api):
    first = api.submit(make_document())
    url = f"/api/v1/cases/{body(first)['id']}"
    assert api.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_retrying_with_the_same_idempotency_key_gives_the_same_case(api, app):
    document = make_document()
    first = api.submit(document, headers={"Idempotency-Key": "retry-1"})
    retry = api.submit(document, headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == retry.status_code == 201
    assert body(first)["id"] == body(retry)["id"]
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert count(app, BusinessCase) == 1


def test_the_same_idempotency_key_with_another_body_is_422(api, app):
    api.submit(make_document(title="One"), headers={"Idempotency-Key": "k-2"})
    other = api.submit(make_document(title="Two"), headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422
    assert other.headers["Content-Type"].startswith(PROBLEM)
    assert count(app, BusinessCase) == 1


def test_a_key_still_in_flight_is_409(api, app):
    from bcapi.services.principal import hash_key
    from bcapi.storage.models import ApiKey
    from bcapi.services.idempotency import request_digest

    document = make_document()
    key = api.key("EAS")
    with app.extensions["bcapi"].db.writing() as session:
        key_id = session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key)))
        session.add(IdempotencyRecord(api_key_id=key_id, key="busy", request_digest=request_digest(document),
                                      state="in_flight", created_at=utcnow()))
    response = api.submit(document, headers={"Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert count(app, BusinessCase) == 0


def test_a_failed_request_releases_its_idempotency_key(api, app):
    api.submit(make_document(consortium="SOTON-C"), headers={"Idempotency-Key": "k-3"})  # 403
    assert count(app, IdempotencyRecord) == 0


def test_dry_run_assesses_and_stores_nothing(api, app):
    response = api.post("/api/v1/assessments", json=sample("dermatology-gpwsi"), as_="board")
    assert response.status_code == 200
    assessment = body(response)
    assert assessment["case_id"] is None and assessment["revision"] is None and assessment["id"] is None
    assert assessment["rating"] == "red"
    assert count(app, BusinessCase) == 0


def test_board_can_reassess_and_commissioner_cannot(api):
    case_id = body(api.submit(make_document()))["id"]
    assert api.post(f"/api/v1/cases/{case_id}/assessments", as_="EAS").status_code == 403
    again = api.post(f"/api/v1/cases/{case_id}/assessments", as_="board")
    assert again.status_code == 201
    history = body(api.get(f"/api/v1/cases/{case_id}/assessments", as_="EAS"))["items"]
    assert len(history) == 2 and history[0]["id"] == body(again)["id"]
    assert history[0]["findings"] == history[1]["findings"]


def test_listing_is_newest_first_and_paged_with_a_next_link(api):
    ids = [body(api.submit(make_document(title=f"Case number {i}")))["id"] for i in range(5)]
    page = api.get("/api/v1/cases?limit=2", as_="board")
    listing = body(page)
    assert [c["id"] for c in listing["items"]] == ids[::-1][:2]
    assert page.headers["Link"] == f'<{listing["next"]}>; rel="next"'
    seen = [c["id"] for c in listing["items"]]
    while listing["next"]:
        listing = body(api.get(listing["next"], as_="board"))
        seen += [c["id"] for c in listing["items"]]
    assert seen == ids[::-1]


def test_listing_filters(api):
    api.submit(make_document(service_area="respiratory"))
    api.submit(sample("dermatology-gpwsi"), as_="admin")
    by_area = body(api.get("/api/v1/cases?service_area=dermatology", as_="board"))["items"]
    assert [c["service_area"] for c in by_area] == ["dermatology"]
    red = body(api.get("/api/v1/cases?rating=red", as_="board"))["items"]
    assert all(c["rating"] == "red" for c in red) and red
    assert body(api.get("/api/v1/cases?consortium=NEWCASTLE-W", as_="board"))["items"][0]["consortium"]["code"] == "NEWCASTLE-W"
    future = body(api.get("/api/v1/cases?submitted_after=2999-01-01", as_="board"))["items"]
    assert future == []
    past = body(api.get("/api/v1/cases?submitted_before=2000-01-01T00:00:00Z", as_="board"))["items"]
    assert past == []


def test_bad_list_parameters_are_422_naming_the_parameter(api):
    response = api.get("/api/v1/cases?limit=101&rating=purple&submitted_after=yesterday", as_="board")
    assert response.status_code == 422
    assert {e["pointer"] for e in body(response)["errors"]} == {"/limit", "/rating", "/submitted_after"}
    assert api.get("/api/v1/cases?cursor=nonsense", as_="board").status_code == 400
