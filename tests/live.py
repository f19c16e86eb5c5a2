"""A real `gunicorn wsgi:app` over a real database, for end-to-end, load and crash tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """gunicorn serving the project from its root, as operators run it."""

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 4):
        self.env = {**os.environ, **env, "BCAPI_LOG_LEVEL": "WARNING", "BCAPI_RATE_LIMIT": "100000 per minute"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.process: subprocess.Popen | None = None

    def bcapi(self, *args: str) -> str:
        """Run the `bcapi` command against this server's database; its last line of output."""
        out = subprocess.run([str(BIN / "bcapi"), *args], env=self.env, cwd=ROOT, capture_output=True,
                             text=True, check=True)
        return out.stdout.strip().splitlines()[-1]

    def start(self) -> "LiveServer":
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(self.workers), "--threads", str(self.threads),
             "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become healthy in 30 s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Kill the whole process group (master and workers), as a crash would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
