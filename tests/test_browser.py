"""A board member in a real headless Chromium: sign in, filter, open a case report.

Uses Debian's Chromium (/usr/bin/chromium, or BCAPI_CHROMIUM) through Playwright; no browser is
downloaded. Screenshots are saved under test-artifacts/ for a person to look at.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .factories import body, sample

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("BCAPI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def test_board_member_signs_in_filters_and_opens_a_report(api, live_server, browser, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("one browser run is enough; the pages' queries are covered on both databases elsewhere")
    derm = body(api.submit(sample("dermatology-gpwsi"), as_="admin"))
    api.submit(sample("copd-community-service"), as_="admin")
    api.submit(sample("msk-triage"), as_="admin")
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server}/dashboard")
    assert "/dashboard/sign-in" in page.url
    page.fill("#key", "bcapi_wrong")
    page.click("button[type=submit]")
    assert page.locator("#sign-in-error").is_visible()
    page.fill("#key", api.key("board"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard*")
    assert page.locator("#total-cases").inner_text() == "3"
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.fill("input[name=consortium]", "NEWCASTLE-W")
    page.click("text=Apply filters")
    page.wait_for_url("**consortium=NEWCASTLE-W**")
    assert page.locator("#total-cases").inner_text() == "1"
    page.screenshot(path=str(ARTIFACTS / "dashboard-filtered.png"), full_page=True)

    page.click(f"#cases a[href$='{derm['id']}']")
    page.wait_for_url(f"**/dashboard/cases/{derm['id']}")
    verdict = page.locator("#verdict").inner_text()
    assert verdict.startswith("Overall:") and derm["latest_assessment"]["rating"].upper() in verdict
    assert page.locator("section.criterion").count() == len(derm["latest_assessment"]["criteria"])
    page.screenshot(path=str(ARTIFACTS / "case-report.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator("header.masthead").is_visible()
