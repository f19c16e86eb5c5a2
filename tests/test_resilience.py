"""Over real HTTP against `gunicorn wsgi:app`: retries, races, crashes and a vanishing database.

Each test runs on SQLite and on PostgreSQL. Nothing acknowledged may be lost; nothing a client
sends may produce a 5xx other than the 503 of a database that is away.
"""
from __future__ import annotations

import copy
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from bcapi.client import ApiError, Client, PreconditionFailed

from .factories import make_document
from .live import LiveServer

pytestmark = pytest.mark.slow


@pytest.fixture
def live(database_url, tmp_path):
    server = LiveServer({"BCAPI_DATABASE_URL": database_url, "BCAPI_INSTANCE_PATH": str(tmp_path)})
    server.keys = {  # type: ignore[attr-defined]
        "admin": server.bcapi("keys", "create", "--role", "admin"),
        "board": server.bcapi("keys", "create", "--role", "board"),
        "EAS": server.bcapi("keys", "create", "--role", "commissioner", "--consortium", "EAS"),
    }
    server.start()
    yield server
    server.stop()


def client(server, who="EAS", **kwargs) -> Client:
    return Client(server.url, server.keys[who], **kwargs)


def document(i: int) -> dict:
    doc = make_document(title=f"Load case number {i}")
    doc["reference"] = f"LOAD-{i}"
    return doc


def test_client_round_trip_over_http(live):
    api = client(live)
    case = api.submit_case(document(1))
    assert case.etag and case["revision"] == 1
    again = api.get_case(case["id"])
    assert again["document"] == document(1)
    revised = api.revise_case(case["id"], document(2), etag=again.etag)
    assert revised["revision"] == 2
    with pytest.raises(PreconditionFailed):
        api.revise_case(case["id"], document(3), etag=again.etag)
    with pytest.raises(ApiError) as bad:
        bad_doc = document(4)
        bad_doc["risks"][0]["likelihood"] = 9
        api.submit_case(bad_doc)
    assert bad.value.status == 422 and bad.value.errors[0]["pointer"] == "/risks/0/likelihood"
    assert [c["id"] for c in api.iter_cases(limit=1)] == [case["id"]]
    assert client(live, "board").dashboard()["cases"]["total"] == 1


def test_sixteen_threads_retrying_every_submission_store_each_case_once(live):
    api = client(live)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit_twice(i: int) -> str:
        key, doc = str(uuid.uuid4()), document(i)
        ids = set()
        for _ in range(2):  # the retry: same key, same body
            response = api.request("POST", "/api/v1/cases", json=doc, headers={"Idempotency-Key": key})
            with lock:
                statuses.append(response.status_code)
            ids.add(response.json()["id"])
        assert len(ids) == 1
        return ids.pop()

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(submit_twice, range(200)))
    assert len(set(ids)) == 200
    assert set(statuses) == {201}
    total = sum(1 for _ in client(live, "board").iter_cases(limit=100))
    assert total == 200


def test_two_concurrent_revisions_from_one_etag_one_wins(live):
    api = client(live)
    case = api.submit_case(document(1))
    barrier = threading.Barrier(2)

    def revise(i: int) -> int:
        barrier.wait()
        response = requests.put(f"{live.url}/api/v1/cases/{case['id']}", data=_json(document(10 + i)),
                                headers={"Authorization": f"Bearer {live.keys['EAS']}",
                                         "Content-Type": "application/json", "If-Match": case.etag})
        return response.status_code

    for _ in range(5):
        current = api.get_case(case["id"])
        case.etag = current.etag
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = sorted(pool.map(revise, range(2)))
        assert results == [200, 412]
    assert len(api.revisions(case["id"])) == 6


def _json(doc) -> bytes:
    from bcapi.document import dumps

    return dumps(doc).encode()


def test_every_acknowledged_case_survives_a_sigkill(live):
    acknowledged: list[str] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        session = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            try:
                response = session.post(f"{live.url}/api/v1/cases", data=_json(document(worker * 10000 + i)),
                                        headers={"Authorization": f"Bearer {live.keys['EAS']}",
                                                 "Content-Type": "application/json"}, timeout=10)
            except requests.RequestException:
                continue
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])

    threads = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = threading.Event()
    deadline.wait(3)
    live.kill()
    stop.set()
    for t in threads:
        t.join()
    assert acknowledged, "the load reached the server before the kill"
    live.start()
    board = client(live, "board")
    for case_id in acknowledged:
        assert board.get_case(case_id)["id"] == case_id


def test_a_vanished_database_is_503_and_recovers_without_restart(live, database_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("an embedded SQLite file cannot vanish from under the server: its open connections "
                    "keep the file, so only a networked database (PostgreSQL) can go away")
    api = client(live, retries=0)
    case = api.submit_case(document(1))
    with _database_away(database_url):
        response = requests.get(f"{live.url}/api/v1/cases/{case['id']}",
                                headers={"Authorization": f"Bearer {live.keys['EAS']}"}, timeout=10)
        assert response.status_code in (401, 503)  # the key cannot be checked either: never a 500
        assert response.headers["Content-Type"].startswith("application/problem+json")
        ready = requests.get(f"{live.url}/readyz", timeout=10)
        assert ready.status_code == 503
    assert api.get_case(case["id"])["id"] == case["id"]
    assert requests.get(f"{live.url}/readyz", timeout=10).status_code == 200


class _database_away:
    """Make the PostgreSQL database unreachable for the server, then bring it back: new
    connections are refused and the open ones are killed."""

    def __init__(self, url: str):
        self.url = url

    def __enter__(self):
        self._pg("ALTER DATABASE \"{db}\" WITH ALLOW_CONNECTIONS false",
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()")
        return self

    def __exit__(self, *exc):
        self._pg("ALTER DATABASE \"{db}\" WITH ALLOW_CONNECTIONS true")

    def _pg(self, *statements: str) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement.format(db=url.database)))
        engine.dispose()


def test_nothing_a_client_sends_gives_a_500(live):
    """A scatter of hostile requests; the property tests (schemathesis) go further."""
    headers = {"Authorization": f"Bearer {live.keys['admin']}"}
    weird_bodies = [b"", b"{", b"[]", b"null", b"1e999999", b'{"title": "\\ud800"}', "{\"é\": 1}".encode("latin-1"),
                    b'{"schema_version": "1", "title": "x' + b"y" * 3_000_000 + b'"}',
                    _json({**make_document(), "practices": [{"list_size": 10**30}]})]
    for body in weird_bodies:
        for path in ("/api/v1/cases", "/api/v1/assessments"):
            response = requests.post(f"{live.url}{path}", data=body, timeout=30,
                                     headers={**headers, "Content-Type": "application/json"})
            assert response.status_code < 500, (path, body[:40], response.status_code)
    deep = copy.deepcopy(make_document())
    deep["summary"] = {"a": [[[[[]]]]]}
    assert requests.post(f"{live.url}/api/v1/cases", data=_json(deep), timeout=10,
                         headers={**headers, "Content-Type": "application/json"}).status_code == 422
    for path in ("/api/v1/cases/%00", "/api/v1/cases/" + "x" * 5000, "/api/v1/cases?limit=abc",
                 "/api/v1/cases?cursor=%ff%fe", "/api/v1/dashboard?submitted_after=2010-13-45"):
        assert requests.get(f"{live.url}{path}", headers=headers, timeout=10).status_code < 500, path
