"""`bcapi serve` reads the same BCAPI_* server settings as `gunicorn wsgi:app` (issue #14)."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import requests

from .live import BIN, LiveServer, free_port

pytestmark = pytest.mark.slow


def serve(tmp_path, *args: str, **env: str) -> tuple[subprocess.Popen, dict]:
    environment = {**os.environ, "BCAPI_INSTANCE_PATH": str(tmp_path), "BCAPI_LOG_LEVEL": "WARNING", **env}
    LiveServer(environment).bcapi("db", "upgrade")
    process = subprocess.Popen([str(BIN / "bcapi"), "serve", *args], env=environment, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return process, environment


def healthy(port: int, process: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            time.sleep(0.2)
    return False


def worker_count(master: int, expected: int) -> int:
    """How many workers the master has, waiting up to 10 s for `expected` to have booted."""
    deadline = time.monotonic() + 10
    while (count := _children(master)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


def _children(master: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            count += int(stat[stat.rindex(")") + 2:].split()[1]) == master
    return count


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def test_serve_binds_where_BCAPI_BIND_says_with_BCAPI_WORKERS_workers(tmp_path):
    port = free_port()
    process, _ = serve(tmp_path, BCAPI_BIND=f"127.0.0.1:{port}", BCAPI_WORKERS="3")
    try:
        assert healthy(port, process)
        assert worker_count(process.pid, 3) == 3
    finally:
        stop(process)


def test_serve_options_win_over_the_environment(tmp_path):
    port, ignored = free_port(), free_port()
    process, _ = serve(tmp_path, "--bind", f"127.0.0.1:{port}", "--workers", "1",
                       BCAPI_BIND=f"127.0.0.1:{ignored}", BCAPI_WORKERS="3")
    try:
        assert healthy(port, process)
        assert worker_count(process.pid, 1) == 1
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{ignored}/healthz", timeout=1)
    finally:
        stop(process)
