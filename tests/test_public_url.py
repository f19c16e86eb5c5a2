"""Links come from BCAPI_PUBLIC_URL, never from the Host header: a forged Host is never echoed."""
from __future__ import annotations

import pytest

from bcapi.config import ConfigError
from bcapi.http.app import create_app

from .factories import ApiClient, body, make_document

FORGED = {"Host": "evil.example"}


def _never_echoed(response) -> None:
    everything = str(response.headers) + response.get_data(as_text=True)
    assert "evil.example" not in everything, everything


def test_without_a_public_url_links_are_relative_whatever_the_host(api):
    """RFC 9110 10.2.2 lets Location be relative; `next` and Link resolve against the URL asked."""
    ids = [body(r)["id"] for r in (api.submit(make_document(title=t), headers=FORGED) for t in ("One", "Two"))]
    first = api.submit(make_document(title="Three"), headers=FORGED)
    ids.append(body(first)["id"])
    assert first.status_code == 201 and first.headers["Location"] == f"/api/v1/cases/{ids[2]}"

    page = api.get("/api/v1/cases?limit=2&consortium=EAS", headers=FORGED)
    listing = body(page)
    assert [c["id"] for c in listing["items"]] == [ids[2], ids[1]]
    assert listing["next"].startswith("/api/v1/cases?limit=2&consortium=EAS&cursor=")
    assert page.headers["Link"] == f'<{listing["next"]}>; rel="next"'
    last = body(api.get(listing["next"], headers=FORGED))
    assert [c["id"] for c in last["items"]] == [ids[0]] and last["next"] is None

    audit = api.get("/api/v1/audit?limit=1", as_="admin", headers=FORGED)
    assert body(audit)["next"].startswith("/api/v1/audit?limit=1&before=")
    for response in (first, page, audit):
        _never_echoed(response)


def test_with_a_public_url_links_are_absolute_and_another_host_is_refused(app_env):
    app = create_app({**app_env, "BCAPI_PUBLIC_URL": "https://bcapi.example.nhs.uk/"})
    api = ApiClient(app)
    public = {"Host": "bcapi.example.nhs.uk"}
    cases = [api.submit(make_document(title=t), headers=public) for t in ("One", "Two")]
    assert cases[1].headers["Location"] == f"https://bcapi.example.nhs.uk/api/v1/cases/{body(cases[1])['id']}"
    page = api.get("/api/v1/cases?limit=1", headers={"Host": "BCAPI.example.nhs.uk:443"})  # the same origin
    assert body(page)["next"].startswith("https://bcapi.example.nhs.uk/api/v1/cases?limit=1&cursor=")
    assert page.headers["Link"] == f'<{body(page)["next"]}>; rel="next"'

    # Any other Host: 421 problem+json naming the service's host, never the one sent; nothing stored.
    for response in (api.submit(make_document(title="Forged"), headers=FORGED),
                     api.get("/api/v1/cases?limit=1", headers=FORGED),
                     api.get("/api/v1/audit?limit=1", as_="admin", headers=FORGED),
                     api.get("/dashboard", as_=None, headers=FORGED),
                     api.get("/no/such/page", headers=FORGED),
                     api.get("/api/v1/cases", headers={"Host": "bcapi.example.nhs.uk:8443"})):
        assert response.status_code == 421
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "bcapi.example.nhs.uk" in body(response)["detail"]
        _never_echoed(response)
    assert [c["title"] for c in body(api.get("/api/v1/cases", headers=public))["items"]] == ["Two", "One"]
    # Probes and Prometheus reach a server by its own address; those answers carry no links.
    assert api.get("/healthz", as_=None, headers={"Host": "10.1.2.3:8000"}).status_code == 200
    assert api.get("/metrics", as_=None, headers={"Host": "10.1.2.3:8000"}).status_code == 200
    app.extensions["bcapi"].db.dispose()


def test_a_public_url_with_a_path_prefix_is_kept_in_links(app_env):
    """Behind a proxy that serves the app under /bcapi/ (and strips it on the way in)."""
    app = create_app({**app_env, "BCAPI_PUBLIC_URL": "https://nhs.example/bcapi"})
    response = ApiClient(app).submit(headers={"Host": "nhs.example"})
    assert response.headers["Location"] == f"https://nhs.example/bcapi/api/v1/cases/{body(response)['id']}"
    app.extensions["bcapi"].db.dispose()


@pytest.mark.parametrize("url", ["bcapi.example.nhs.uk", "ftp://bcapi.example", "https://", "https://h/?q=1",
                                 "https://user:pw@h"])
def test_a_public_url_that_is_not_one_is_refused_at_start(url):
    with pytest.raises(ConfigError, match="BCAPI_PUBLIC_URL"):
        create_app({"BCAPI_PUBLIC_URL": url, "BCAPI_DATABASE_URL": "sqlite://"})


def test_no_page_echoes_a_forged_host(api):
    """Every route a browser or client might hit, with and without a key: the Host is not echoed."""
    for path, who in (("/api/v1/docs", None), ("/api/v1/openapi.json", None), ("/dashboard", None),
                      ("/dashboard/sign-in", None), ("/dashboard/", None), ("/api/v1/cases/", "EAS"),
                      ("/api/v1/cases", None), ("/nowhere", None), ("/readyz", None), ("/metrics", None)):
        _never_echoed(api.get(path, as_=who, headers=FORGED))
    _never_echoed(api.request("DELETE", "/api/v1/cases", headers=FORGED))
