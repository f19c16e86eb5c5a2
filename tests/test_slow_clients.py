"""Slow and idle clients do not take the service down (issue #13): `gunicorn wsgi:app` as shipped,
over real sockets, with 30 connections that send nothing and 10 that send a byte a second (in
the head, in the body, and a `Content-Length: 2000000` that sends ten bytes) open all along.

Before the buffering worker, two idle connections stopped both sync workers for 30-60 s. The
timings are `bench/http_slow_clients.py`'s business; here a third client must simply be served
(each call may take up to 5 s, a generous bound) while every attacking connection is still open.
"""
from __future__ import annotations

import pytest
import requests

from .live import ROOT, LiveServer, SlowClients

pytestmark = pytest.mark.slow

SAMPLE = (ROOT / "schemas" / "examples" / "msk-triage.json").read_bytes()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slow")
    server = LiveServer({"BCAPI_INSTANCE_PATH": str(tmp), "BCAPI_DATABASE_URL": f"sqlite:///{tmp / 'slow.sqlite3'}"})
    server.bcapi("db", "upgrade")
    server.key = server.bcapi("keys", "create", "--role", "commissioner", "--consortium", "EAS")  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()


def served_during(clients: SlowClients, url: str, key: str, rounds: int = 3) -> list[tuple[int, int]]:
    """`rounds` times: the status of /healthz and of a dry run, each on a new connection."""
    answers = []
    for _ in range(rounds):
        health = requests.get(f"{url}/healthz", timeout=5)
        dry_run = requests.post(f"{url}/api/v1/assessments", data=SAMPLE, timeout=5,
                                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                         "Connection": "close"})
        answers.append((health.status_code, dry_run.status_code))
        assert dry_run.json()["rating"] in ("green", "amber", "red")
        clients.stopping.wait(1.0)
    return answers


def test_30_idle_and_10_slow_connections_do_not_stop_others_being_served(live):
    with SlowClients(live.port, idle=30, slow=10, duration=15) as clients:
        clients.stopping.wait(2.0)  # the slow ones have started trickling
        assert served_during(clients, live.url, live.key) == [(200, 200)] * 3
        assert clients.running()
        assert clients.still_open() == 40  # the attack held on throughout


def test_after_the_attack_the_slow_requests_are_refused_in_time(tmp_path):
    """Each client has BCAPI_CLIENT_TIMEOUT seconds to send its request whole: then 408 (or, having
    sent nothing, the connection closes)."""
    server = LiveServer({"BCAPI_INSTANCE_PATH": str(tmp_path), "BCAPI_CLIENT_TIMEOUT": "3",
                         "BCAPI_DATABASE_URL": f"sqlite:///{tmp_path / 'slow.sqlite3'}"})
    server.bcapi("db", "upgrade")
    server.start()
    try:
        with SlowClients(server.port, idle=3, slow=3, duration=12) as clients:
            clients.stopping.wait(8.0)
            assert clients.still_open() == 0
            answers = []
            for sock in clients.sockets:
                sock.settimeout(1)
                answers.append(sock.recv(200).split(b"\r\n")[0])
        assert sorted(answers) == [b""] * 3 + [b"HTTP/1.1 408 Request Timeout"] * 3
    finally:
        server.stop()
