"""The board's web pages, through the Flask test client (tests/test_browser.py drives a real browser)."""
from __future__ import annotations

import re

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
    assert "<caption>Rules failed most often</caption>" in html
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
        assert f"<h2>{criterion['title']}:" in html
    failed = [f for f in case["latest_assessment"]["findings"] if f["status"] == "fail"]
    assert failed and all(f["rule_id"] in html for f in failed)
    assert "What to do:" in html and "@media print" not in html
    assert client.get("/dashboard/cases/no-such-case").status_code == 404


def test_sign_out_forgets_the_session(api):
    client = api.app.test_client()
    sign_in(client, api.key("board"))
    page = client.get("/dashboard").get_data(as_text=True)
    assert client.post("/dashboard/sign-out", data={"csrf_token": csrf(page)}).status_code == 303
    assert client.get("/dashboard").status_code == 303
