"""An acceptance tester with inputs we have not seen: hostile bodies, headers and query strings.

Every 4xx must be a problem (RFC 9457), never a 500, and a refused request stores nothing
(CONTRACT §1, §2). Each test here once found a fault.
"""
from __future__ import annotations

import base64
import io
import re
from decimal import Decimal

from bcapi.document import dumps

from .factories import body, make_document, minimal_document

PROBLEM = "application/problem+json"


# The problem type each status is sent with (bcapi/http/problems.py): a client branches on it.
TYPES = {400: "bad-request", 401: "unauthorised", 403: "forbidden", 404: "not-found", 409: "conflict",
         413: "body-too-large", 415: "unsupported-media-type", 422: "validation-failed"}


def is_problem(response, status: int | None = None) -> bool:
    """An RFC 9457 problem: its media type, the members every problem has, the status the
    response has, and (for the statuses above) the type a client would branch on."""
    if status is not None and response.status_code != status:
        return False
    if not response.headers["Content-Type"].startswith(PROBLEM):
        return False
    problem = body(response)
    if not ({"type", "title", "status", "detail"} <= set(problem) and problem["status"] == response.status_code):
        return False
    expected = TYPES.get(response.status_code)
    return expected is None or problem["type"] == f"https://bcapi.nhs.example/problems/{expected}"


def detail(response) -> str:
    return body(response)["detail"]


def stored_cases(api) -> int:
    return len(body(api.get("/api/v1/cases?limit=100", as_="admin"))["items"])


def post_raw(api, path: str, raw: str | bytes, **kwargs):
    return api.post(path, data=raw, headers={"Content-Type": "application/json"}, **kwargs)


def with_literal(document: dict, placeholder: str, literal: str) -> str:
    """The document as JSON text with the string "placeholder" replaced by a raw JSON literal."""
    return dumps(document).replace(f'"{placeholder}"', literal)


def pointers(response) -> set[str]:
    return {e["pointer"] for e in body(response).get("errors", [])}


# --- What works, kept working -------------------------------------------------------------


def test_unknown_field_names_are_escaped_in_their_pointers(api):
    """RFC 6901: '~' is '~0', '/' is '~1', and the empty name is the pointer '/'."""
    document = minimal_document()
    document.update({"a/b": 1, "c~d": 2, "": 3})
    document["consortium"]["x/~"] = 4
    response = api.post("/api/v1/assessments", json=document)
    assert is_problem(response, 422)
    assert pointers(response) == {"/a~1b", "/c~0d", "/", "/consortium/x~1~0"}


def test_integers_may_be_written_3_0_but_not_3_5_or_true(api):
    for literal, status in [("3.0", 200), ("30e-1", 200), ("3.5", 422), ("true", 422), ('"3"', 422)]:
        document = make_document()
        document["risks"][0]["likelihood"] = "__X__"
        response = post_raw(api, "/api/v1/assessments", with_literal(document, "__X__", literal))
        assert response.status_code == status, literal
        if status == 422:
            assert is_problem(response, 422), literal
            assert pointers(response) == {"/risks/0/likelihood"}, literal


def test_every_malformed_body_is_a_problem_and_nothing_is_stored(api):
    base = dumps(minimal_document())
    bodies = [b"hello", base[:-3].encode(), b"[]", b'"x"', b"3", b"null", b"   ",
              base.replace('"1"', "NaN").encode(), ("[" * 10000 + "]" * 10000).encode(),
              base.encode() + b" trailing", base.replace("Minimal", "Min\xe9mal").encode("latin-1"),
              base.encode("utf-16")]
    for raw in bodies:
        response = post_raw(api, "/api/v1/cases", raw)
        if raw in (b"[]", b'"x"', b"3", b"null"):  # JSON, but not an object: the whole document is wrong
            assert is_problem(response, 422), raw
            assert pointers(response) == {""}, raw
        else:  # not JSON at all
            assert is_problem(response, 400), raw[:30]
            assert "errors" not in body(response)
    assert stored_cases(api) == 0


# --- Faults found by the hostile pass -----------------------------------------------------


def test_money_far_beyond_the_maximum_is_422_not_500(api):
    for pointer, literal in [("/finance/total_savings", "1e26"), ("/finance/total_savings", "1e400"),
                             ("/finance/sensitivity/0/net_benefit", "-1e400")]:
        document = make_document()
        if pointer == "/finance/total_savings":
            document["finance"]["total_savings"] = "__X__"
        else:
            document["finance"]["sensitivity"][0]["net_benefit"] = "__X__"
        for path in ("/api/v1/assessments", "/api/v1/cases"):
            response = post_raw(api, path, with_literal(document, "__X__", literal))
            assert is_problem(response, 422), (path, literal)
            assert pointers(response) == {pointer}
    assert stored_cases(api) == 0


def test_an_integer_of_5000_digits_is_a_400_problem(api):
    document = minimal_document()
    document["period"] = {"years": "__X__"}
    response = post_raw(api, "/api/v1/cases", with_literal(document, "__X__", "1" + "0" * 5000))
    assert is_problem(response, 400)
    assert detail(response) == "The body has a number with too many digits."
    assert stored_cases(api) == 0


def test_a_lone_surrogate_escape_is_a_400_problem(api):
    document = minimal_document(title="__X__")
    response = post_raw(api, "/api/v1/cases", with_literal(document, "__X__", '"Case \\ud800 one"'))
    assert is_problem(response, 400) and "lone surrogate" in detail(response)
    # A dry run echoes a risk id in a finding's message: the same text must not break it either.
    document = make_document()
    document["risks"][0].update(id="__X__", score=24)
    response = post_raw(api, "/api/v1/assessments", with_literal(document, "__X__", '"\\udfff"'))
    assert is_problem(response, 400) and "lone surrogate" in detail(response)
    assert stored_cases(api) == 0


def test_codes_with_a_trailing_newline_are_refused(api):
    document = minimal_document()
    document["consortium"]["code"] = "EAS\n"
    document["pct"] = {"code": "5ND\n", "name": "A PCT"}
    document["practices"] = [{"ods_code": "A83005\n"}]
    response = api.post("/api/v1/assessments", json=document)
    assert is_problem(response, 422)
    assert pointers(response) == {"/consortium/code", "/pct/code", "/practices/0/ods_code"}
    response = api.post("/api/v1/keys", as_="admin", json={"role": "commissioner", "consortium": "EAS\n"})
    assert is_problem(response, 422)


def test_instants_that_overflow_when_made_utc_are_422(api):
    for path, who in [("/api/v1/cases?submitted_after=0001-01-01T00:00:00%2B01:00", "EAS"),
                      ("/api/v1/cases?submitted_before=9999-12-31T23:59:59-01:00", "EAS"),
                      ("/api/v1/dashboard?submitted_after=0001-01-01T00:00:00%2B01:00", "board"),
                      ("/api/v1/dashboard/cases.csv?submitted_after=0001-01-01T00:00:00%2B01:00", "board"),
                      ("/api/v1/audit?since=0001-01-01T00:00:00%2B01:00", "admin")]:
        response = api.get(path, as_=who)
        assert is_problem(response, 422), path
        assert len(pointers(response)) == 1, path


def test_a_forged_or_naive_next_cursor_is_a_400_problem(api):
    api.submit(make_document())
    for text in (b"9999-12-31T23:59:59-23:59|x", b"9999-12-31T23:59:59+00:00|\x00", b"2026-01-01T00:00:00|x"):
        cursor = base64.urlsafe_b64encode(text).decode().rstrip("=")
        response = api.get(f"/api/v1/cases?cursor={cursor}")
        assert is_problem(response, 400), text
        assert detail(response) == "The cursor is not valid; start again from the first page."


def test_a_revision_number_beyond_any_integer_column_is_404(api):
    case_id = body(api.submit(make_document()))["id"]
    for suffix in ("", "/document"):
        response = api.get(f"/api/v1/cases/{case_id}/revisions/99999999999999999999999{suffix}")
        assert is_problem(response, 404), suffix


def test_an_audit_cursor_beyond_any_integer_is_422_naming_it(api):
    response = api.get("/api/v1/audit?before=99999999999999999999999", as_="admin")
    assert is_problem(response, 422)
    assert pointers(response) == {"/before"}


def test_a_chunked_body_over_the_limit_is_413_not_truncated_and_stored(app_env):
    from bcapi.http.app import create_app

    from .factories import ApiClient

    app = create_app({**app_env, "BCAPI_MAX_BODY_BYTES": "2000"})
    try:
        api = ApiClient(app)
        text = dumps(minimal_document())
        raw = (text + " " * 5000).encode()  # valid JSON whatever its length; its first 2000 bytes too
        response = api.client.post("/api/v1/cases", input_stream=io.BytesIO(raw),
                                   environ_overrides={"wsgi.input_terminated": True},
                                   headers={"Authorization": f"Bearer {api.key('EAS')}",
                                            "Content-Type": "application/json",
                                            "Transfer-Encoding": "chunked"})  # as gunicorn passes it
        assert is_problem(response, 413)
        assert stored_cases(api) == 0
    finally:
        app.extensions["bcapi"].db.dispose()


def test_a_decision_citing_two_unknown_rules_names_both(api):
    case_id = body(api.submit(make_document()))["id"]
    response = api.post(f"/api/v1/cases/{case_id}/decisions", as_="board", json={
        "outcome": "rejected", "note": "Not yet.",
        "reasons": [{"reason": "Weak finance", "rule_ids": ["NOPE-1", "NOPE-2"]}]})
    assert is_problem(response, 422)
    assert pointers(response) == {"/reasons/0/rule_ids/0", "/reasons/0/rule_ids/1"}


def test_a_decision_note_or_key_label_with_nul_is_422_on_both_databases(api):
    case_id = body(api.submit(make_document()))["id"]
    response = api.post(f"/api/v1/cases/{case_id}/decisions", as_="board",
                        json={"outcome": "approved", "note": "Approved\u0000."})
    assert is_problem(response, 422)
    assert pointers(response) == {"/note"}
    response = api.post("/api/v1/keys", as_="admin", json={"role": "board", "label": "ops\u0000"})
    assert is_problem(response, 422)
    assert pointers(response) == {"/label"}


def test_the_ruleset_lists_the_fields_each_rule_reads(api):
    rules = body(api.get("/api/v1/rulesets/current"))["rules"]
    assert all("fields" in rule for rule in rules)
    assert any(rule["fields"] for rule in rules)


def test_an_idempotent_replay_after_a_revision_keeps_body_and_etag_together(api):
    key = {"Idempotency-Key": "retry-after-revise-1"}
    first = api.submit(make_document(), headers=key)
    url = first.headers["Location"]
    assert api.put(url, json=make_document(title="Revised title"),
                   headers={"If-Match": first.headers["ETag"]}).status_code == 200
    replay = api.submit(make_document(), headers=key)
    assert replay.status_code == 201
    assert body(replay)["revision"] == 1
    assert replay.headers["ETag"] == first.headers["ETag"]


def test_a_weak_if_none_match_still_answers_304(api):
    first = api.submit(make_document())
    response = api.get(first.headers["Location"], headers={"If-None-Match": "W/" + first.headers["ETag"]})
    assert response.status_code == 304


def test_metrics_content_type_has_one_charset(api):
    response = api.get("/metrics", as_=None)
    assert response.status_code == 200
    assert response.headers["Content-Type"].count("charset") == 1


def test_a_signed_in_board_member_can_download_the_csv_the_dashboard_links_to(api):
    client = api.app.test_client()
    page = client.get("/dashboard/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/dashboard/sign-in", data={"key": api.key("board"), "csrf_token": token}).status_code == 303
    dashboard = client.get("/dashboard").get_data(as_text=True)
    link = re.search(r'href="([^"]*\.csv[^"]*)"', dashboard).group(1)
    response = client.get(link)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"


def test_a_document_with_a_duplicate_member_name_is_refused(api):
    raw = ('{"schema_version": "1", "title": "The first title", "title": "The second title", '
           '"consortium": {"code": "EAS", "name": "East"}}')
    response = post_raw(api, "/api/v1/cases", raw)
    assert is_problem(response, 400)
    assert detail(response) == "The body names the member 'title' twice in one object."
    assert stored_cases(api) == 0


def test_money_lines_adding_up_beyond_the_money_columns_are_422_not_a_500(api):
    """Each line is within the money limit, but a case's lines are stored as its total when it
    states none: lines adding up past Numeric(14, 2) were a 500 on PostgreSQL."""
    most = Decimal("999999999999.99")
    document = make_document()
    finance = document["finance"]
    del finance["total_investment"], finance["total_savings"]
    finance["investment"] = [{"year": y, "one_off": most, "recurring": most} for y in range(1, 11)]
    finance["savings"] = [{"year": y, "amount": most} for y in range(1, 3)]
    response = api.submit(document)
    assert is_problem(response, 422)
    problem = body(response)
    assert {e["pointer"] for e in problem["errors"]} == {"/finance/investment", "/finance/savings"}
    assert "add up" in problem["errors"][0]["detail"]
    assert body(api.get("/api/v1/cases", as_="admin"))["items"] == []
    # With the totals stated, the lines are not what is stored: no limit on their sum (this case
    # stays, and the dashboard below counts it too).
    stated = api.submit({**document, "finance": {**finance, "total_investment": 1, "total_savings": 2}})
    assert stated.status_code == 201, stated.get_data(as_text=True)
    # Up to the limit itself is fine, stored exactly and counted on the dashboard.
    finance["investment"] = [{"year": 1, "one_off": most - 1, "recurring": Decimal(1)}]
    finance["savings"] = [{"year": 1, "amount": most}]
    stored = api.submit(document)
    assert stored.status_code == 201, stored.get_data(as_text=True)
    money = body(api.get("/api/v1/dashboard", as_="board"))["money"]
    assert Decimal(str(money["total_investment"])) == most + 1
    assert Decimal(str(money["total_savings"])) == most + 2
