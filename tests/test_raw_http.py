"""Requests the Flask app never sees, over raw sockets against `gunicorn wsgi:app` as shipped:
every answer is problem+json in the project's format (issue #13), the HTTP server's own refusals
(an unreadable request, one that does not arrive in time) and the 503 of a request or worker that
ran out of time included.
"""
from __future__ import annotations

import os
import signal
import socket
import sqlite3
import threading
import time

import pytest

from .live import ROOT, LiveServer, raw_exchange

pytestmark = pytest.mark.slow

PROBLEM = "application/problem+json"
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
POST = b"POST /api/v1/assessments HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"

# (what is wrong, the request, the status it gets). Statuses are gunicorn's (RFC 9110/9112):
# 414 for a request line over its 4094-byte limit, 431 for a field over 8190 bytes or more than
# 100 fields, 417 for an expectation it cannot meet, and 400 for anything else it cannot read.
MALFORMED = [
    ("request line over 4094 bytes", b"GET /" + b"a" * 4100 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
    ("a header over 8190 bytes", HEAD + b"X-Long: " + b"a" * 8200 + b"\r\n\r\n", 431),
    ("101 headers", HEAD + b"".join(b"X-%d: a\r\n" % i for i in range(101)) + b"\r\n", 431),
    ("a bare LF inside a header", HEAD + b"X-A: a\nb\r\n\r\n", 400),
    ("a bare CR inside a header", HEAD + b"X-A: a\rb\r\n\r\n", 400),
    ("a NUL inside a header", HEAD + b"X-A: a\x00b\r\n\r\n", 400),
    ("lines ended by bare LFs", b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n", 400),
    ("a negative Content-Length", POST + b"Content-Length: -1\r\n\r\n", 400),
    ("two different Content-Lengths", POST + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    ("Content-Length and chunked together", POST + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("a transfer coding that is not chunked", POST + b"Transfer-Encoding: gzip\r\n\r\n", 400),
    ("an invalid request line", b"GARBAGE\r\n\r\n", 400),
    ("a request line with no version", b"GET /healthz\r\nHost: 127.0.0.1\r\n\r\n", 400),
    ("an invalid HTTP version", b"GET /healthz HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n", 400),
    ("an invalid method", b"G@T /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    ("a space in a header name", HEAD + b"X A: b\r\n\r\n", 400),
    ("a header line folded (obsolete)", HEAD + b"X-A: a\r\n b\r\n\r\n", 400),
    ("an expectation it cannot meet", HEAD + b"Expect: 100-banana\r\n\r\n", 417),
]


def assert_problem(answer, status: int) -> dict:
    assert answer is not None, "no answer"
    assert answer.status == status
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://bcapi.nhs.example/problems/")
    assert problem["title"] and problem["detail"]
    return problem


def sqlite_server(tmp_path, workers: int = 2, **env: str) -> LiveServer:
    server = LiveServer({"BCAPI_INSTANCE_PATH": str(tmp_path),
                         "BCAPI_DATABASE_URL": f"sqlite:///{tmp_path / 'raw.sqlite3'}", **env}, workers=workers)
    server.bcapi("db", "upgrade")
    server.key = server.bcapi("keys", "create", "--role", "commissioner", "--consortium", "EAS")  # type: ignore[attr-defined]
    return server.start()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = sqlite_server(tmp_path_factory.mktemp("raw"))
    yield server
    server.stop()


@pytest.mark.parametrize("what, request_bytes, status", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_request_gunicorn_cannot_read_is_answered_with_a_problem(live, what, request_bytes, status):
    problem = assert_problem(raw_exchange(live.port, request_bytes), status)
    assert problem["detail"].startswith("The request could not be read: ")


def test_a_chunked_body_that_cannot_be_read_is_400_and_nothing_follows_an_answer(live):
    body = b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"
    request = POST + b"Authorization: Bearer " + live.key.encode() + b"\r\n" + body
    problem = assert_problem(raw_exchange(live.port, request), 400)
    assert problem["detail"] == "The request body could not be read: Invalid chunk size: b'zz'."
    # Without a key the app answers 401 before reading the body; the broken body then closes the
    # connection rather than adding a second, unasked-for answer.
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(POST + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 401 ")
    assert received.count(b"HTTP/1.1 ") == 1


def test_a_client_that_expects_100_continue_is_told_to_send_its_body(live):
    """curl sends large bodies after `Expect: 100-continue` and waits (a second) for the 100."""
    case = (ROOT / "schemas" / "examples" / "msk-triage.json").read_bytes()
    head = (POST + b"Authorization: Bearer " + live.key.encode() + b"\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(case))
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(head)
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(case)
        received = b""
        while b"\r\n\r\n{" not in received or not received.endswith(b"}"):
            received += sock.recv(65536)
    final = received.replace(b"HTTP/1.1 100 Continue\r\n\r\n", b"")
    assert final.startswith(b"HTTP/1.1 200 OK\r\n")


def test_the_titles_name_what_was_too_long(live):
    assert assert_problem(raw_exchange(live.port, MALFORMED[0][1]), 414)["title"] == "Request line too long"
    assert assert_problem(raw_exchange(live.port, MALFORMED[1][1]), 431)["title"] == "Request header fields too large"


def test_a_body_over_the_limit_is_refused_from_its_content_length(live):
    """Announced over BCAPI_MAX_BODY_BYTES (2 MiB), nothing sent: the server answers at once."""
    request = POST + b"Content-Length: 3000000\r\nAuthorization: Bearer " + live.key.encode() + b"\r\n\r\n"
    answer = raw_exchange(live.port, request)
    assert_problem(answer, 413)
    assert answer.headers["connection"] == "close"


def test_a_request_that_does_not_arrive_whole_in_time_gets_408(tmp_path):
    server = sqlite_server(tmp_path, BCAPI_CLIENT_TIMEOUT="2")
    try:
        started = time.monotonic()
        answer = raw_exchange(server.port, POST + b"Content-Length: 2000000\r\n\r\n" + b'{"a": 1, ', timeout=10)
        problem = assert_problem(answer, 408)
        assert problem["detail"] == "The request did not arrive whole within 2 seconds."
        assert time.monotonic() - started < 9
        # A connection that sends nothing is closed without an answer.
        assert raw_exchange(server.port, b"", timeout=10) is None
    finally:
        server.stop()


class HeldWriteLock:
    """Hold SQLite's write lock, so that a submission waits (its busy timeout is 30 s)."""

    def __init__(self, path):
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("BEGIN EXCLUSIVE")

    def release(self):
        self.connection.execute("ROLLBACK")
        self.connection.close()


def submit_in_background(server: LiveServer, results: list) -> threading.Thread:
    case = (ROOT / "schemas" / "examples" / "msk-triage.json").read_bytes()
    request = (b"POST /api/v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Authorization: Bearer " + server.key.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(case) + case)
    thread = threading.Thread(target=lambda: results.append(raw_exchange(server.port, request, timeout=30)))
    thread.start()
    return thread


def test_a_request_running_past_the_timeout_gets_503_and_the_worker_is_replaced(tmp_path):
    server = sqlite_server(tmp_path, workers=1, BCAPI_TIMEOUT="2")
    lock = HeldWriteLock(tmp_path / "raw.sqlite3")
    try:
        results: list = []
        submit_in_background(server, results).join(timeout=20)
        problem = assert_problem(results[0], 503)
        assert problem["detail"] == ("A request took longer than 2 seconds and the server stopped it. "
                                     "Retry shortly.")
        assert results[0].headers["retry-after"] == "5"
        lock.release()
        lock = None
        # A new worker serves, and the abandoned submission was not stored.
        deadline = time.monotonic() + 20
        while (answer := raw_exchange(server.port, HEAD + b"\r\n")) is None or answer.status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert sqlite3.connect(tmp_path / "raw.sqlite3").execute("SELECT count(*) FROM business_cases").fetchone() == (0,)
    finally:
        if lock:
            lock.release()
        server.stop()


def test_the_clients_of_a_worker_the_arbiter_aborts_get_503(tmp_path):
    """gunicorn's arbiter sends SIGABRT to a worker that stopped reporting in (BCAPI_TIMEOUT)."""
    server = sqlite_server(tmp_path, workers=1)
    lock = HeldWriteLock(tmp_path / "raw.sqlite3")
    try:
        results: list = []
        thread = submit_in_background(server, results)
        time.sleep(1.5)  # the submission is waiting for the write lock
        (worker,) = server.worker_pids()
        os.kill(worker, signal.SIGABRT)
        thread.join(timeout=20)
        problem = assert_problem(results[0], 503)
        assert problem["detail"] == "The server timed out while answering. Retry shortly."
    finally:
        lock.release()
        server.stop()
