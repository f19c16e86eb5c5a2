"""The Python client: against a live server for what a developer sees, and against a scripted
transport for retries, which a live server will not fail on cue."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from decimal import Decimal

import pytest
import requests
from requests.adapters import BaseAdapter
from werkzeug.serving import make_server

from bcapi import client as bc
from bcapi.client import Client

from .factories import make_document


# -- against a live server -----------------------------------------------------------------------
@pytest.fixture
def server(app, api):
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    http.url = f"http://127.0.0.1:{http.server_port}"  # type: ignore[attr-defined]
    yield http
    http.shutdown()
    thread.join()


def test_a_developer_submits_reads_revises_and_pages_through_cases(server, api):
    with Client(server.url, api.key("EAS")) as eas:
        first = eas.submit_case(make_document(title="First"))
        assert first.etag and first.location.endswith(f"/api/v1/cases/{first['id']}")
        assert first["latest_assessment"]["score"] == Decimal(str(first["latest_assessment"]["score"]))
        revised = eas.revise_case(first["id"], make_document(title="First, revised"), etag=first.etag)
        assert revised["revision"] == 2
        with pytest.raises(bc.PreconditionFailed) as stale:
            eas.revise_case(first["id"], make_document(title="Again"), etag=first.etag)
        assert stale.value.status == 412 and stale.value.request_id
        eas.submit_case(make_document(title="Second"))
        eas.submit_case(make_document(title="Third"))
        assert [c["title"] for c in eas.iter_cases(limit=1)] == ["Third", "Second", "First, revised"]
        assert json.loads(eas.revision_document(first["id"], 1))["title"] == "First"
        with pytest.raises(bc.NotFound):
            eas.get_case("0b6f4f1e-5d55-4b7e-9a59-0c1f1f3b8a40")
        with pytest.raises(bc.Forbidden) as forbidden:
            eas.decide(first["id"], "approved")
        assert forbidden.value.status == 403
        bad = make_document()
        bad["risks"][0]["likelihood"] = 9
        with pytest.raises(bc.ValidationFailed) as invalid:
            eas.submit_case(bad)
        assert [e["pointer"] for e in invalid.value.errors] == ["/risks/0/likelihood"]
    with Client(server.url, "bcapi_not_a_key", retries=0) as stranger, pytest.raises(bc.Unauthenticated):
        stranger.list_cases()
    with Client(server.url, api.key("admin")) as admin:
        actions = [event["action"] for event in admin.iter_audit(limit=2, case_id=first["id"])]
        assert actions == ["case.revised", "case.submitted"]


def test_the_client_says_who_it_is(server, api):
    seen = {}
    original = server.app.wsgi_app

    def spy(environ, start_response):
        seen["agent"] = environ.get("HTTP_USER_AGENT")
        return original(environ, start_response)

    server.app.wsgi_app = spy
    try:
        with Client(server.url, api.key("EAS")) as eas:
            eas.ruleset()
    finally:
        server.app.wsgi_app = original
    assert seen["agent"] == f"bcapi-client/{bc.__version__}"


# -- against a scripted transport ------------------------------------------------------------------
class Script(BaseAdapter):
    """Answers each request with the next scripted step: (status, headers, body) or an exception."""

    def __init__(self, *steps):
        super().__init__()
        self.steps = list(steps)
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        status, headers, body = step
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url, request
        response.headers.update({"Content-Type": "application/json", **headers})
        response._content = json.dumps(body).encode()
        response.reason = {200: "OK", 201: "Created"}.get(status, "Error")
        return response

    def close(self):
        pass


def scripted(*steps, **kwargs):
    transport, slept = Script(*steps), []
    session = requests.Session()
    session.mount("http://", transport)
    session.mount("https://", transport)
    api = Client("http://bcapi.test", "bcapi_key", session=session, sleep=slept.append,
                 jitter=lambda low, high: high, **kwargs)  # the jitter's ceiling, to know the waits
    return api, transport, slept


def problem(status):
    return {"type": "about:blank", "title": "Error", "status": status, "detail": "scripted"}


def test_a_read_is_retried_on_502_503_504_with_growing_waits():
    api, transport, slept = scripted((502, {}, problem(502)), (503, {}, problem(503)), (504, {}, problem(504)),
                                     (200, {}, {"id": "x"}), backoff=0.5)
    assert api.ruleset() == {"id": "x"}
    assert len(transport.requests) == 4
    assert slept == [0.5, 1.0, 2.0]  # backoff * 2**n, the ceiling of each random wait


def test_429_waits_as_long_as_retry_after_says_even_for_a_post():
    api, transport, slept = scripted((429, {"Retry-After": "7"}, problem(429)), (201, {}, {"id": "a1"}))
    assert api.reassess("case-1") == {"id": "a1"}
    assert slept == [7.25] and len(transport.requests) == 2  # Retry-After, plus at most backoff (0.25 s) of jitter


def test_a_retry_after_beyond_the_clients_patience_is_raised_at_once():
    api, transport, slept = scripted((429, {"Retry-After": "3600"}, problem(429)))
    with pytest.raises(bc.RateLimited) as limited:
        api.ruleset()
    assert limited.value.retry_after == 3600 and slept == []


def test_a_submission_is_retried_after_a_timeout_with_the_same_idempotency_key():
    api, transport, slept = scripted(requests.ReadTimeout("slow"), (201, {"ETag": '"e1"'}, {"id": "c1"}))
    case = api.submit_case(make_document())
    assert case["id"] == "c1" and case.etag == '"e1"'
    keys = [r.headers["Idempotency-Key"] for r in transport.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_a_non_idempotent_call_is_not_retried_and_a_transport_failure_is_wrapped():
    api, transport, slept = scripted(requests.ReadTimeout("slow"))
    with pytest.raises(bc.Timeout) as timeout:
        api.decide("case-1", "approved")
    assert isinstance(timeout.value, bc.TransportError) and isinstance(timeout.value.cause, requests.ReadTimeout)
    api, transport, slept = scripted((502, {}, problem(502)))
    with pytest.raises(bc.ServerError):
        api.reassess("case-1")
    assert len(transport.requests) == 1 and slept == []


def test_giving_up_after_the_retries_raises_the_last_error():
    api, transport, slept = scripted(*[requests.ConnectionError("refused")] * 3, retries=2)
    with pytest.raises(bc.TransportError):
        api.get_case("c1")
    assert len(transport.requests) == 3 and len(slept) == 2


@pytest.mark.parametrize("status, kind", [(400, bc.BadRequest), (401, bc.Unauthenticated), (403, bc.Forbidden),
                                          (404, bc.NotFound), (409, bc.Conflict), (412, bc.PreconditionFailed),
                                          (413, bc.PayloadTooLarge), (415, bc.UnsupportedMediaType),
                                          (422, bc.ValidationFailed), (428, bc.PreconditionRequired),
                                          (500, bc.ServerError)])
def test_every_problem_status_has_its_own_error(status, kind):
    api, _, _ = scripted((status, {}, problem(status)), retries=0)
    with pytest.raises(kind) as raised:
        api.get_case("c1")
    assert raised.value.status == status and raised.value.detail == "scripted"
    assert bc.Unauthorized is bc.Unauthenticated


def test_a_next_link_to_another_origin_is_not_followed():
    """A forged Host could put another server in `next`: the client must not send its key there."""
    api, transport, _ = scripted((200, {}, {"items": [{"id": "1"}], "next": "https://evil.example/api/v1/cases?cursor=x"}))
    seen = []
    with pytest.raises(bc.ForeignLink):
        for case in api.iter_cases():
            seen.append(case["id"])
    assert seen == ["1"] and [r.url.split("/")[2] for r in transport.requests] == ["bcapi.test"]


def test_relative_and_same_origin_next_links_are_followed():
    api, transport, _ = scripted((200, {}, {"items": [{"id": "1"}], "next": "/api/v1/cases?cursor=a"}),
                                 (200, {}, {"items": [{"id": "2"}], "next": "http://bcapi.test:80/api/v1/cases?cursor=b"}),
                                 (200, {}, {"items": [{"id": "3"}], "next": None}))
    assert [c["id"] for c in api.iter_cases()] == ["1", "2", "3"]
    assert transport.requests[1].url == "http://bcapi.test/api/v1/cases?cursor=a"


def test_importing_the_client_loads_no_server_library():
    code = ("import sys, bcapi.client\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('flask', 'sqlalchemy', 'psycopg', 'gunicorn', 'marshmallow', 'alembic', 'werkzeug')"
            " or m.startswith(('bcapi.http', 'bcapi.storage', 'bcapi.engine', 'bcapi.services'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
