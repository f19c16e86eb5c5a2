"""Every Assessment says what sets its rating and the path to green: dry runs, stored assessments
(also those stored before the two fields existed), the OpenAPI and the case's web page."""
from __future__ import annotations

from bcapi.document import dumps, loads
from bcapi.storage.models import StoredAssessment

from .factories import body, sample
from .test_web import sign_in

SEVERITY_ORDER = ("blocker", "major", "minor", "advice")


def test_a_dry_run_leads_with_what_makes_a_red_case_red_and_the_blockers_to_fix_first(api):
    assessment = body(api.post("/api/v1/assessments", json=sample("dermatology-gpwsi")))
    assert assessment["rating"] == "red"
    assert list(assessment)[5:9] == ["rating", "score", "rating_reasons", "path_to_green"]
    reasons, path = assessment["rating_reasons"], assessment["path_to_green"]
    assert reasons[0]["rating"] == "red"
    assert [r["rating"] for r in reasons] == sorted((r["rating"] for r in reasons), key=("red", "amber").index)
    failed = {f["rule_id"]: f for f in assessment["findings"] if f["status"] in ("fail", "error")}
    blockers = [rule_id for rule_id, f in failed.items() if f["severity"] == "blocker"]
    assert blockers and [r["rule_id"] for r in reasons[:len(blockers)]] == blockers
    assert [s["rule_id"] for s in path[:len(blockers)]] == blockers
    assert [SEVERITY_ORDER.index(s["severity"]) for s in path] == sorted(SEVERITY_ORDER.index(s["severity"]) for s in path)
    for step in path:
        finding = failed[step["rule_id"]]
        assert {k: step[k] for k in ("criterion", "severity", "title", "fields", "guidance")} == {
            k: finding[k] for k in ("criterion", "severity", "title", "fields", "guidance")}


def test_the_openapi_documents_both_fields(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    assessment = schemas["Assessment"]["properties"]
    assert assessment["rating_reasons"]["type"] == "array" and assessment["path_to_green"]["type"] == "array"
    reason = schemas[assessment["rating_reasons"]["items"]["$ref"].rsplit("/", 1)[1]]["properties"]
    step = schemas[assessment["path_to_green"]["items"]["$ref"].rsplit("/", 1)[1]]["properties"]
    assert set(reason) == {"rating", "criterion", "rule_id", "severity", "reason"}
    assert set(step) == {"rule_id", "criterion", "severity", "title", "fields", "guidance"}


def test_an_assessment_stored_before_the_fields_existed_is_served_with_them(api):
    case = body(api.submit(sample("dermatology-gpwsi"), as_="admin"))
    stored = case["latest_assessment"]
    with api.app.extensions["bcapi"].db.writing() as session:  # as a 2026.11 release stored it
        row = session.get(StoredAssessment, stored["id"])
        old = loads(row.body)
        del old["rating_reasons"], old["path_to_green"]
        row.body = dumps(old)
    assert body(api.get(f"/api/v1/cases/{case['id']}", as_="admin"))["latest_assessment"] == stored
    assert body(api.get(f"/api/v1/cases/{case['id']}/assessments", as_="admin"))["items"] == [stored]

    client = api.app.test_client()
    sign_in(client, api.key("board"))
    html = client.get(f"/dashboard/cases/{case['id']}").get_data(as_text=True)
    start = html.index('<section class="rating-why')
    block = html[start:html.index("</section>", start)]
    assert html.index('id="verdict"') < html.index('class="rating-why') < html.index("<caption>Scores by criterion")
    assert "What sets this rating" in block and "To reach green" in block
    assert stored["rating_reasons"][0]["reason"].replace("'", "&#39;") in block
    assert all(step["rule_id"] in block for step in stored["path_to_green"])
    majors = [r for r in stored["rating_reasons"] if r["severity"] == "major"]
    assert len(majors) > 3 and f"{len(majors)} major rules failed" in block  # many: named once, in the path
