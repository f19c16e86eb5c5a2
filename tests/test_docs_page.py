"""The API docs page renders the OpenAPI 3.1 document in a real headless Chromium, offline.

Checks what a reader sees (the operations, their parameters and error answers), not that the page
answers 200: Swagger UI 4 answered 200 and showed "Unable to render this definition". Screenshots
at desktop and phone width are saved under test-artifacts/ for a person to look at.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from .chromium import launched, serving

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


@pytest.fixture
def docs_url(app, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the docs page does not touch the database; one run is enough")
    with serving(app) as url:
        yield url


@pytest.fixture
def chromium():
    with launched() as browser:
        yield browser


def _open_docs(chromium, docs_url: str, width: int):
    page = chromium.new_page(viewport={"width": width, "height": 900})
    elsewhere: list[str] = []
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def offline(route):  # the page must need nothing from the internet
        if route.request.url.startswith(docs_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(f"{docs_url}/api/v1/docs")
    page.wait_for_selector(".opblock", timeout=20000)
    return page, elsewhere, errors


def test_the_docs_page_renders_every_operation_offline(chromium, docs_url, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = sum(1 for item in spec["paths"].values() for method in item if method in METHODS)
    ARTIFACTS.mkdir(exist_ok=True)
    page, elsewhere, errors = _open_docs(chromium, docs_url, 1280)
    assert "Unable to render" not in page.content()
    assert page.locator(".info .title").inner_text().startswith("bcapi: PbC business-case assessment")
    submit = page.locator(".opblock-post", has=page.locator(".opblock-summary-path[data-path='/api/v1/cases']"))
    assert submit.count() == 1
    assert page.locator(".opblock-put .opblock-summary-path[data-path='/api/v1/cases/{case_id}']").count() == 1
    assert page.locator(".opblock").count() == operations
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)

    submit.locator(".opblock-summary").click()
    body = submit.locator(".opblock-body")
    body.wait_for()
    parameters = body.locator(".parameters .parameter__name").all_inner_texts()
    assert any(name.startswith("Idempotency-Key") for name in parameters), parameters
    statuses = body.locator(".responses-table .response-col_status").all_inner_texts()
    assert {"201", "401", "403", "413", "415", "422", "429"} <= {s.strip() for s in statuses}, statuses
    assert "Example Value" in body.inner_text()
    page.screenshot(path=str(ARTIFACTS / "api-docs-submit.png"), full_page=False)
    assert elsewhere == [] and errors == []


def test_the_docs_page_fits_a_phone(chromium, docs_url):
    ARTIFACTS.mkdir(exist_ok=True)
    page, elsewhere, errors = _open_docs(chromium, docs_url, 390)
    page.screenshot(path=str(ARTIFACTS / "api-docs-390.png"), full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    submit = page.locator(".opblock-post", has=page.locator(".opblock-summary-path[data-path='/api/v1/cases']"))
    submit.locator(".opblock-summary").click()
    submit.locator(".opblock-body").wait_for()
    submit.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "api-docs-390-submit.png"), full_page=False)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # an open operation fits too
    assert elsewhere == [] and errors == []
