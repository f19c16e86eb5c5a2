"""A private `redis-server` for the tests, on a free port, never the machine's shared one."""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from .live import free_port


@pytest.fixture(scope="session")
def redis_server():
    """The URL of a Redis this test session started (no persistence), or a loud skip."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("REDIS TESTS SKIPPED: no redis-server on PATH (Debian: apt-get install -y redis-server; "
                    ".ci/run installs it)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    return redis_server
