"""A board member in a real headless Chromium: sign in, read the queue, decide on the case's page.

Uses Debian's Chromium (/usr/bin/chromium, or BCAPI_CHROMIUM) through Playwright; no browser is
downloaded. axe-core (bundled by axe-playwright-python) checks every page at desktop width and at
a phone's 390 px. Screenshots go to test-artifacts/ for a person to look at (whole pages, to the
folder BCAPI_SCREENSHOTS names, when it is set).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from bcapi.storage.models import BusinessCase

from .chromium import launched, serving
from .factories import body, sample

# Whole-page screenshots when BCAPI_SCREENSHOTS names a folder (they take seconds each); else
# what the window shows, in test-artifacts/.
FULL_PAGE = bool(os.environ.get("BCAPI_SCREENSHOTS"))
ARTIFACTS = Path(os.environ.get("BCAPI_SCREENSHOTS") or Path(__file__).resolve().parent.parent / "test-artifacts")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The dermatology sample's two failed blockers, as the ruleset titles them.
DERM_BLOCKERS = ["Where the provider includes the commissioners, interests are declared",
                 "Where the provider includes the commissioners, the case is scrutinised by a body independent of the interest"]


@pytest.fixture
def live_server(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with launched() as browser:
        yield browser


@pytest.fixture
def board_cases(api, app, database_url):
    """The three sample cases, due in 10 days (dermatology, red), 3 days ago (COPD) and in 30
    days (MSK), so the queue's order is not the order they were submitted in."""
    if not database_url.startswith("sqlite"):
        pytest.skip("one browser run is enough; the pages' queries are covered on both databases elsewhere")
    derm = body(api.submit(sample("dermatology-gpwsi"), as_="admin"))
    copd = body(api.submit(sample("copd-community-service"), as_="admin"))
    msk = body(api.submit(sample("msk-triage"), as_="admin"))
    today = dt.datetime.now(dt.timezone.utc).date()
    with app.extensions["bcapi"].db.writing() as session:
        for case, days in ((derm, 10), (copd, -3), (msk, 30)):
            session.get(BusinessCase, case["id"]).decision_due = today + dt.timedelta(days=days)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return {"derm": derm, "copd": copd, "msk": msk}


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def heading_levels(page) -> list[int]:
    return page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])")


def check_page(page, name: str) -> None:
    """No serious or critical axe-core violation; one h1 and no skipped heading level; at phone
    width, no sideways scroll. Saves a screenshot."""
    assert serious_violations(page) == [], name
    levels = heading_levels(page)
    assert levels[0] == 1 and levels.count(1) == 1, name
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), f"{name} skips a heading level: {levels}"
    width = page.viewport_size["width"]
    if width <= PHONE["width"]:
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} scrolls sideways"
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=FULL_PAGE)


def test_board_member_reads_the_queue_and_decides_on_the_case_page(api, live_server, browser, board_cases):
    derm = board_cases["derm"]
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/dashboard")
    assert "/dashboard/sign-in" in page.url
    page.fill("#key", "bcapi_wrong")
    page.click("button[type=submit]")
    assert page.locator("#sign-in-error").is_visible()
    assert "sign-in-error" in page.get_attribute("#key", "aria-describedby")
    check_page(page, "sign-in-error")
    page.fill("#key", api.key("board"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard")
    assert page.locator("#total-cases").inner_text() == "3"

    # The queue: soonest due first, days left in words, money at stake.
    queue = page.locator("#queue tbody tr")
    assert queue.count() == 3
    assert [queue.nth(i).locator(".days-left").inner_text() for i in range(3)] == [
        "3 days overdue", "10 days left", "30 days left"]
    assert "COPD" in queue.nth(0).inner_text() and "dermatology" in queue.nth(1).inner_text().lower()
    assert "£207,000 investment" in queue.nth(1).inner_text()  # the dermatology case's stated total
    # Red cases with the blockers that make them red, by title.
    red = page.locator("#red tbody tr")
    assert red.count() == 1
    assert [li.inner_text().removeprefix("BLOCKER ").strip() for li in red.nth(0).locator("ul.blockers li").all()] \
        == DERM_BLOCKERS
    # The worst findings start with blockers, never with an advice rule.
    assert page.locator("#worst-rules tbody tr").first.locator("th").inner_text() == DERM_BLOCKERS[0]
    check_page(page, "portfolio")

    # Filters still work.
    page.click("text=Filter the portfolio")
    page.fill("#f-consortium", "NEWCASTLE-W")
    page.click("text=Apply filters")
    page.wait_for_url("**consortium=NEWCASTLE-W**")
    assert page.locator("#total-cases").inner_text() == "1"

    # The case's page: a decision without reasons is refused next to the field, and what was typed stays.
    page.click(f"#red a[href$='{derm['id']}']")
    page.wait_for_url(f"**/dashboard/cases/{derm['id']}")
    verdict = page.locator("#verdict").inner_text()
    assert verdict.startswith("Overall:") and "RED" in verdict
    assert page.locator("section.criterion").count() == len(derm["latest_assessment"]["criteria"])
    check_page(page, "case")
    page.check("#outcome-rejected")
    page.fill("#note", "Discussed at the December board.")
    page.click("text=Record the decision")
    assert " ".join(page.locator("#reasons-error").text_content().split()) == \
        "Error: Give the reasons to reject this case."
    assert page.get_attribute("#reasons", "aria-describedby") == "reasons-hint reasons-error"
    assert page.input_value("#note") == "Discussed at the December board."
    assert page.is_checked("#outcome-rejected")
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    check_page(page, "case-error")
    assert body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"] == []

    page.fill("#reasons", "Interests are not declared and nobody independent scrutinised the case.")
    page.click("text=Link the reasons to failed rules (optional)")
    page.check(f"label:has-text('{DERM_BLOCKERS[0]}')")
    page.click("text=Record the decision")
    page.wait_for_url(f"**/dashboard/cases/{derm['id']}#confirmation")
    assert page.locator("#confirmation h3").inner_text() == "Decision recorded: rejected"
    assert "Interests are not declared" in page.locator(".history").inner_text()
    check_page(page, "case-decided")

    # The API shows the decision, and the audit trail names the same board key as the actor.
    case = body(api.get(f"/api/v1/cases/{derm['id']}", as_="board"))
    assert case["status"] == "decided" and case["decision"]["outcome"] == "rejected"
    [decision] = body(api.get(f"/api/v1/cases/{derm['id']}/decisions", as_="board"))["items"]
    assert decision["reasons"] == [{"reason": "Interests are not declared and nobody independent scrutinised "
                                              "the case.", "rule_ids": ["COI-DECLARATIONS-PRESENT"]}]
    assert decision["note"] == "Discussed at the December board."
    board_key = next(k for k in body(api.get("/api/v1/keys", as_="admin"))["items"] if k["role"] == "board")
    assert decision["decided_by"] == board_key["id"]
    [event] = body(api.get(f"/api/v1/audit?case_id={derm['id']}&action=case.decided", as_="admin"))["items"]
    assert event["actor"]["key_id"] == board_key["id"] and event["details"]["outcome"] == "rejected"

    page.emulate_media(media="print")
    assert not page.locator("header.masthead").is_visible() and not page.locator("form.decision-form").is_visible()
    context.close()


def test_every_page_is_accessible_and_fits_a_phone(api, live_server, browser, board_cases):
    context = browser.new_context(viewport=PHONE, locale="en-GB", has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(f"{live_server}/dashboard/sign-in")
    check_page(page, "sign-in")
    page.fill("#key", api.key("board"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard")
    check_page(page, "portfolio")
    page.goto(f"{live_server}/dashboard/cases/{board_cases['derm']['id']}")
    check_page(page, "case")
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server}/dashboard/sign-in")
    check_page(page, "sign-in")

    # The skip link is the first thing a keyboard reaches, and it shows when focused.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to main content"
    assert page.locator(".skip-link").is_visible()
    context.close()


def contrast(first: str, second: str) -> float:
    """WCAG contrast ratio of two CSS colours given as 'rgb(r, g, b)'."""
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in colour[colour.index("(") + 1:colour.index(")")].split(",")[:3]]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_focus_ring_has_3_to_1_contrast_on_white_and_on_the_masthead(api, live_server, browser, board_cases):
    """WCAG 2.2 (1.4.11, 2.4.7): the ring is a dark line on white pages and a yellow band on the blue
    masthead; each part must reach 3:1 against what it sits on."""
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/dashboard/sign-in")
    page.fill("#key", api.key("board"))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/dashboard")
    ring = """el => { const s = getComputedStyle(el); return [s.outlineStyle, parseFloat(s.outlineWidth),
                      s.outlineColor, s.boxShadow.match(/rgb\\([^)]*\\)/)[0]]; }"""
    page.focus("#queue a")
    style, width, line, band = page.eval_on_selector("#queue a", ring)
    assert style == "solid" and width >= 2 and contrast(line, "rgb(255, 255, 255)") >= 3
    page.focus(".masthead a.brand")
    masthead = page.eval_on_selector(".masthead", "el => getComputedStyle(el).backgroundColor")
    style, width, line, band = page.eval_on_selector(".masthead a.brand", ring)
    assert contrast(band, masthead) >= 3
    context.close()
