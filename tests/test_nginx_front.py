"""The production front (issue #13): Debian's nginx with `deploy/nginx/bcapi.conf`, in front of
`gunicorn wsgi:app`. Slow and idle clients do not stop others being served through it, and
nginx's own refusals are problem+json in bcapi's format.

Skipped, loudly, where nginx is not installed (`.ci/run` installs it).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from .live import ROOT, LiveServer, SlowClients, free_port, raw_exchange
from .test_raw_http import assert_problem
from .test_slow_clients import served_during

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
SHIPPED = ROOT / "deploy" / "nginx" / "bcapi.conf"


def front_config(upstream_port: int, port: int) -> str:
    """The shipped file with its three "(test)" lines pointed at this test's gunicorn and folders."""
    text = SHIPPED.read_text()
    for old, new in (("server app:8000;", f"server 127.0.0.1:{upstream_port};"),
                     ("listen 8080;", f"listen 127.0.0.1:{port};"),
                     ("root /etc/nginx/bcapi;", f"root {ROOT / 'deploy' / 'nginx'};")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


class Nginx:
    def __init__(self, upstream_port: int, folder: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "bcapi.conf").write_text(front_config(upstream_port, self.port))
        for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / temp).mkdir()
        main = f"""
            {"user root;" if os.geteuid() == 0 else ""}
            worker_processes 1;
            daemon off;
            pid {folder / 'nginx.pid'};
            error_log {folder / 'error.log'} warn;
            events {{ worker_connections 512; }}
            http {{
                access_log off;
                client_body_temp_path {folder / 'body'};
                proxy_temp_path {folder / 'proxy'};
                fastcgi_temp_path {folder / 'fastcgi'};
                uwsgi_temp_path {folder / 'uwsgi'};
                scgi_temp_path {folder / 'scgi'};
                include {folder / 'bcapi.conf'};
            }}
        """
        (folder / "nginx.conf").write_text(main)
        self.folder = folder
        self.process = subprocess.Popen([NGINX, "-c", str(folder / "nginx.conf"), "-p", str(folder), "-e",
                                         str(folder / "error.log")], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return
            except requests.RequestException:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start: " + (folder / "error.log").read_text())
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    if NGINX is None:
        pytest.skip("NGINX IS NOT INSTALLED: the production front's test did not run "
                    "(apt-get install nginx, as .ci/run does)")
    tmp = tmp_path_factory.mktemp("front")
    port = free_port()
    app = LiveServer({"BCAPI_INSTANCE_PATH": str(tmp), "BCAPI_DATABASE_URL": f"sqlite:///{tmp / 'front.sqlite3'}",
                      "BCAPI_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    app.bcapi("db", "upgrade")
    app.key = app.bcapi("keys", "create", "--role", "commissioner", "--consortium", "EAS")  # type: ignore[attr-defined]
    app.start()
    (tmp / "nginx").mkdir()
    nginx = Nginx(app.port, tmp / "nginx", port)
    nginx.app = app  # type: ignore[attr-defined]
    yield nginx
    nginx.stop()
    app.stop()


def test_through_the_front_30_idle_and_10_slow_connections_do_not_stop_others(front):
    with SlowClients(front.port, idle=30, slow=10, duration=15) as clients:
        clients.stopping.wait(2.0)
        assert served_during(clients, front.url, front.app.key) == [(200, 200)] * 3
        assert clients.running()
        assert clients.still_open() == 40


def test_the_app_sees_the_request_and_its_answers_pass_through(front):
    answer = requests.post(f"{front.url}/api/v1/assessments", json={}, timeout=5,
                           headers={"Authorization": f"Bearer {front.app.key}", "X-Request-ID": "ignored-by-nginx"})
    assert answer.status_code == 422  # bcapi's own problem, untouched
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert "/title" in {e["pointer"] for e in answer.json()["errors"]}
    assert len(answer.headers["X-Request-ID"]) == 32  # nginx's $request_id, which the app logs


def test_the_client_host_reaches_the_app_as_sent_and_a_forged_one_is_refused(front):
    """BCAPI_PUBLIC_URL names nginx's address, port included: nginx passes the Host on as sent."""
    headers = {"Authorization": f"Bearer {front.app.key}"}
    assert requests.get(f"{front.url}/api/v1/cases", headers=headers, timeout=5).status_code == 200
    forged = requests.get(f"{front.url}/api/v1/cases", headers={**headers, "Host": "evil.example"}, timeout=5)
    assert forged.status_code == 421
    assert "evil.example" not in forged.text


@pytest.mark.parametrize("what, request_bytes, status, title", [
    ("an invalid request line", b"GARBAGE\r\n\r\n", 400, "Bad request"),
    ("a request line over 8 KB", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "Request line too long"),
    ("a header over 8 KB", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", 431,
     "Request header fields too large"),
    ("a body over 2 MB", b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 3000000\r\n\r\n", 413, "Request body too large"),
])
def test_nginx_refuses_with_problems(front, what, request_bytes, status, title):
    problem = assert_problem(raw_exchange(front.port, request_bytes), status)
    assert problem["title"] == title


def test_a_request_line_gunicorn_refuses_is_its_problem_through_the_front(front):
    """Over gunicorn's 4094 bytes but within nginx's 8 KB: gunicorn's own 414, passed through."""
    answer = raw_exchange(front.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert assert_problem(answer, 414)["detail"].startswith("The request could not be read: ")


def test_with_gunicorn_down_the_front_answers_502_as_a_problem(tmp_path):
    if NGINX is None:
        pytest.skip("NGINX IS NOT INSTALLED: the production front's test did not run")
    nginx = Nginx(free_port(), tmp_path)  # nothing listens upstream
    try:
        answer = requests.get(f"{nginx.url}/healthz", timeout=5)
        assert answer.status_code == 502
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json() == {"type": "https://bcapi.nhs.example/problems/bad-gateway", "title": "Bad gateway",
                                 "status": 502, "detail": "The service is not answering; retry shortly."}
    finally:
        nginx.stop()
