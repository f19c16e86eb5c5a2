"""Scaling out: two gunicorn servers of two workers each on one PostgreSQL and one Redis share
one rate limit per key and per address, and one database; `/metrics` adds up every worker.

Real gunicorn over real sockets (tests/live.py); Redis is the tests' own (tests/redis_server.py).
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import time
from pathlib import Path

import pytest
import requests

from bcapi.document import dumps
from bcapi.http.app import create_app

from .conftest import _postgres_skip_reason, _truncate_all
from .factories import make_document, new_key
from .live import LiveServer
from .redis_server import redis_server, redis_url  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def shared_postgres(postgres_url) -> str:
    """The session's PostgreSQL database, emptied: the one both servers use."""
    if postgres_url is None:
        pytest.skip("POSTGRESQL TEST SKIPPED: no PostgreSQL server could be reached "
                    f"({_postgres_skip_reason[0] if _postgres_skip_reason else 'see BCAPI_TEST_POSTGRES_URL'})")
    _truncate_all(postgres_url)
    return postgres_url


def _servers(env: dict[str, str], count: int):
    servers = []
    for _ in range(count):
        server = LiveServer(env, workers=2, threads=1)
        server.env.update(env)  # LiveServer lifts the rate limit; these tests need theirs
        servers.append(server)
    return servers


def test_two_servers_share_one_rate_limit_per_key_and_per_address_and_one_database(
        shared_postgres, redis_url, tmp_path):
    # An hour's window, not the minute: the figures must not depend on when the test runs.
    env = {"BCAPI_DATABASE_URL": shared_postgres, "BCAPI_INSTANCE_PATH": str(tmp_path),
           "BCAPI_RATE_LIMIT": "5 per hour", "BCAPI_RATE_LIMIT_STORAGE": redis_url}
    one, two = _servers(env, 2)
    try:
        one.start(), two.start()
        app = create_app(env)  # only to make keys in the shared database
        commissioner = {"Authorization": f"Bearer {new_key(app, role='commissioner', consortium='EAS')}"}
        board = {"Authorization": f"Bearer {new_key(app, role='board')}"}
        app.extensions["bcapi"].db.dispose()

        # A case written through one server is read through the other.
        written = requests.post(f"{one.url}/api/v1/cases", data=dumps(make_document(title="Shared")),
                                headers={**commissioner, "Content-Type": "application/json"}, timeout=10)
        assert written.status_code == 201
        case_id = written.json()["id"]
        assert written.headers["Location"] == f"/api/v1/cases/{case_id}"
        read = requests.get(two.url + written.headers["Location"], headers=commissioner, timeout=10)
        assert read.status_code == 200 and read.json()["title"] == "Shared"

        # One allowance for the key across both servers (and their four workers): 5 in all.
        more = [requests.get(f"{server.url}/api/v1/cases", headers=commissioner, timeout=10)
                for server in (one, two, one)]
        assert [r.headers["X-RateLimit-Remaining"] for r in (written, read, *more)] == ["4", "3", "2", "1", "0"]
        refused = [requests.get(f"{server.url}/api/v1/cases", headers=commissioner, timeout=10)
                   for server in (two, one)]
        assert [r.status_code for r in refused] == [429, 429]
        assert refused[0].headers["Content-Type"] == "application/problem+json"
        assert 0 < int(refused[0].headers["Retry-After"]) <= 3600

        # Made-up keys spend the address's allowance, whichever server they reach: 5, then 429.
        guesses = [requests.get(f"{(one, two)[i % 2].url}/api/v1/cases", timeout=10,
                                headers={"Authorization": f"Bearer bcapi_{secrets.token_hex(16)}"})
                   for i in range(8)]
        assert [r.status_code for r in guesses] == [401] * 5 + [429] * 3
        # No key at all is the same address: refused too.
        assert requests.get(f"{two.url}/api/v1/cases", timeout=10).status_code == 429
        # A valid key from that address still has its own allowance: guessing locks no one out.
        assert requests.get(f"{two.url}/api/v1/cases", headers=board, timeout=10).status_code == 200
    finally:
        one.stop(), two.stop()


def _sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus text (0 if the series is not there yet)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def _workers(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def test_metrics_count_the_whole_service_and_never_go_down(tmp_path):
    """Six scrapes of a two-worker server, a worker killed between the third and fourth: each
    scrape counts every request made before it, whichever worker served it, the dead one's too."""
    server = LiveServer({"BCAPI_INSTANCE_PATH": str(tmp_path),
                         "BCAPI_DATABASE_URL": f"sqlite:///{tmp_path}/bcapi.sqlite3"}, workers=2, threads=1)
    server.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the service makes its own
    server.bcapi("db", "upgrade")
    server.start()
    try:
        unauthorised, durations, scrapes = [], [], []
        for scrape in range(6):
            if scrape == 3:
                victim = _workers(server.process.pid)[0]
                os.kill(victim, signal.SIGKILL)
                deadline = time.monotonic() + 30
                while victim in _workers(server.process.pid) or len(_workers(server.process.pid)) < 2:
                    assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
                    time.sleep(0.1)
            for _ in range(3):  # a new connection each: the kernel hands them to either worker
                assert requests.get(f"{server.url}/api/v1/cases", timeout=10).status_code == 401
            text = requests.get(f"{server.url}/metrics", timeout=10).text
            unauthorised.append(_sample(text, "bcapi_http_requests_total", method="GET",
                                        endpoint="cases.list_cases", status="401"))
            durations.append(_sample(text, "bcapi_http_request_duration_seconds_count", endpoint="cases.list_cases"))
            scrapes.append(_sample(text, "bcapi_http_requests_total", method="GET", endpoint="ops.metrics",
                                   status="200"))
        assert unauthorised == [3, 6, 9, 12, 15, 18]
        assert durations == [3, 6, 9, 12, 15, 18]
        assert scrapes == [0, 1, 2, 3, 4, 5]  # a scrape is counted once it has been answered
    finally:
        server.stop()
