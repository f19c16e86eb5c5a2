"""A real `gunicorn wsgi:app` over a real database, for end-to-end, load and crash tests; raw
HTTP over sockets; and an attack by slow and idle clients."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
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

    def __init__(self, env: dict[str, str], workers: int = 2, threads: int = 4, extra_args: tuple[str, ...] = ()):
        self.env = {**os.environ, **env, "BCAPI_LOG_LEVEL": "WARNING", "BCAPI_RATE_LIMIT": "100000 per minute"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        self.extra_args = extra_args  # e.g. ("--worker-class", "sync") for the settings of old
        self.process: subprocess.Popen | None = None

    def bcapi(self, *args: str) -> str:
        """Run the `bcapi` command against this server's database; its last line of output."""
        out = subprocess.run([str(BIN / "bcapi"), *args], env=self.env, cwd=ROOT, capture_output=True,
                             text=True, check=True)
        return out.stdout.strip().splitlines()[-1]

    def start(self) -> "LiveServer":
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "-w", str(self.workers), "--threads", str(self.threads),
             "-b", f"127.0.0.1:{self.port}", *self.extra_args, "wsgi:app"],
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

    def worker_pids(self) -> list[int]:
        """The pids of the master's workers, from /proc."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2:].split()[1]) == self.process.pid:
                    pids.append(int(entry.name))
        return pids


# -- raw HTTP ----------------------------------------------------------------------------------
@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> RawAnswer | None:
    """Send `data` as is on a new connection and read one answer to the end; None if the server
    closed the connection without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before reading everything
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            if answer := _parse_answer(received):
                return answer
    return _parse_answer(received)


def _parse_answer(data: bytes) -> RawAnswer | None:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if len(body) < int(headers.get("content-length", "0")):
        return None
    return RawAnswer(int(lines[0].split()[1]), headers, body)


# -- slow and idle clients ---------------------------------------------------------------------
@dataclass
class SlowClients:
    """Connections that tie up a server that waits on its clients: `idle` ones that send nothing,
    and `slow` ones sending a byte a second, in turn: in the request head; in a body after a
    whole head; and a head announcing `Content-Length: 2000000` followed by ten bytes, then
    nothing. Everything stops after `duration` seconds at most.
    """

    port: int
    idle: int = 30
    slow: int = 10
    duration: float = 20.0
    path: str = "/api/v1/assessments"
    sockets: list[socket.socket] = field(default_factory=list)
    started: float = 0.0

    def __enter__(self) -> "SlowClients":
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.threads = []
        for _ in range(self.idle):
            self.sockets.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
        for n in range(self.slow):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.sockets.append(sock)
            head = (f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"X-Padding: {'a' * 100}\r\n").encode()
            if n % 3 == 0:  # a byte a second in the head
                prefix, trickle = b"", head
            elif n % 3 == 1:  # a byte a second in the body
                prefix, trickle = head + b"Content-Length: 500\r\n\r\n", b"{" + b" " * 499
            else:  # announces two megabytes, sends ten bytes, then waits
                prefix, trickle = head + b"Content-Length: 2000000\r\n\r\n" + b'{"a": 1, ', b""
            thread = threading.Thread(target=self._trickle, args=(sock, prefix, trickle), daemon=True)
            self.threads.append(thread)
            thread.start()
        return self

    def _trickle(self, sock: socket.socket, prefix: bytes, trickle: bytes) -> None:
        try:
            if prefix:
                sock.sendall(prefix)
            for i in range(len(trickle)):
                if self.stopping.wait(1.0) or time.monotonic() - self.started > self.duration:
                    return
                sock.sendall(trickle[i:i + 1])
        except OSError:
            return

    def running(self) -> bool:
        return time.monotonic() - self.started < self.duration

    def still_open(self) -> int:
        """How many of the attack's connections the server has neither answered nor closed."""
        count = 0
        for sock in self.sockets:
            try:
                sock.setblocking(False)
                sock.recv(1, socket.MSG_PEEK)  # returns: answered (bytes) or closed (b"")
            except BlockingIOError:
                count += 1
            except OSError:
                pass
            finally:
                sock.settimeout(5)
        return count

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()
