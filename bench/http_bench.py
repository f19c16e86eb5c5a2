"""HTTP benchmark (issue #7): bcapi under gunicorn against the floor of any Flask JSON API.

    .venv/bin/python bench/http.py [--quick]   (bench/http.py runs this module) [--rounds N] [--threads N] [--no-postgres]
                                   [--compare-old]

Starts, on free loopback ports and with the project's own gunicorn settings (`gunicorn.conf.py`):

- `gunicorn wsgi:app` over a fresh SQLite database in a temporary folder (migrated with
  `bcapi db upgrade`, a commissioner key made with `bcapi keys create`); and the same over a
  uniquely named PostgreSQL database when a server answers at BCAPI_BENCH_POSTGRES_URL (default
  postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the database is dropped afterwards;
- `gunicorn bench.floor_app:app`, a minimal Flask app that only parses the same JSON body and
  answers a small JSON object: the floor.

Then, in rounds (interleaved, so that a noisy neighbour hurts every figure alike), it sends a
bounded number of requests from a few client threads (one connection each: a minimal raw-socket
HTTP/1.1 client by default, because requests' own CPU time per request exceeds the floor app's;
`--client requests` uses requests.Session instead) and reports requests/s for the floor, `POST /api/v1/assessments` (dry run) and `POST /api/v1/cases`
(stored submission) with the same ~10 KB case (`bench/http_case.py`), the ratio of each to the
floor (median over rounds), and the server's CPU time per request (from /proc: all gunicorn
processes, so the client's own CPU is not in it). The only setting changed from the defaults is
BCAPI_RATE_LIMIT (a benchmark key would otherwise be throttled at 1200 requests a minute).

`--compare-old` also starts the floor and bcapi with the settings before issue #13 (`--worker-class
sync --threads 1 --workers 2`), measured in the same rounds, each against the floor under its own settings.

Targets (issue #7), on SQLite: dry run >= 0.5x the floor, stored submission >= 0.35x the floor.
"""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import requests  # noqa: E402

from http_case import check_published_schema, grown_body, grown_case  # noqa: E402
from scratch_postgres import scratch_database  # noqa: E402

BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`gunicorn APP` from the project root, so that it reads the project's gunicorn.conf.py."""

    def __init__(self, name: str, app: str, env: dict[str, str], log: Path, args: tuple[str, ...] = ()):
        self.name, self.app, self.log, self.args = name, app, log, args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "BCAPI_BIND": f"127.0.0.1:{self.port}"}
        self.process: subprocess.Popen | None = None

    def start(self) -> "Server":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([str(BIN / "gunicorn"), *self.args, self.app], env=self.env, cwd=ROOT,
                                            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited with {self.process.returncode}; see {self.log}")
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: gunicorn did not become healthy in 60 s; see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: the master and its workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)

    def cpu_seconds(self) -> tuple[frozenset[int], float] | None:
        """CPU time (user + system) of the master and its live workers, from /proc; None if unknown."""
        if self.process is None or not Path("/proc").is_dir():
            return None
        master = self.process.pid
        pids, ticks = set(), 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            pid, ppid = int(entry.name), int(fields[1])
            if pid == master or ppid == master:
                pids.add(pid)
                ticks += int(fields[11]) + int(fields[12])
        return frozenset(pids), ticks / CLK_TCK


def bcapi_cli(env: dict[str, str], *args: str) -> str:
    """`bcapi ARGS` from this tree (not whatever copy is installed); its last line of output."""
    command = [sys.executable, "-c", "import sys; from bcapi.cli.main import main; sys.argv[0] = 'bcapi'; main()", *args]
    out = subprocess.run(command, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


class RawClient:
    """A minimal HTTP/1.1 client on a plain socket: one prebuilt request, the status read back.

    It keeps the connection when the server does (gunicorn's gthread workers) and reconnects
    when the server closes it (the sync workers answer `Connection: close`). Much cheaper than
    requests, whose own CPU time per request exceeds the floor app's, so that with requests the
    client, not the server, sets the floor's pace on a 2-core machine.
    """

    def __init__(self, port: int, path: str, body: bytes, headers: dict[str, str]):
        self.address = ("127.0.0.1", port)
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}",
                "Connection: keep-alive", *(f"{k}: {v}" for k, v in headers.items())]
        self.request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
        self.sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(self.request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection before answering")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "content-length" not in fields:
            raise ConnectionError(f"no Content-Length in the answer ({lines[0]})")
        length = int(fields["content-length"])
        while len(rest) < length:
            chunk = self.sock.recv(max(65536, length - len(rest)))
            if not chunk:
                raise ConnectionError("the server closed the connection mid-answer")
            rest += chunk
        if fields.get("connection", "").lower() == "close":
            self.close()
        return status, rest[:length]


class RequestsClient:
    """The same through `requests.Session`."""

    def __init__(self, port: int, path: str, body: bytes, headers: dict[str, str]):
        self.url, self.body, self.headers = f"http://127.0.0.1:{port}{path}", body, headers
        self.session = requests.Session()

    def send(self) -> tuple[int, bytes]:
        response = self.session.post(self.url, data=self.body, headers=self.headers, timeout=60)
        return response.status_code, response.content

    def close(self) -> None:
        self.session.close()


CLIENTS = {"raw": RawClient, "requests": RequestsClient}


def hammer(client: type, port: int, path: str, body: bytes, headers: dict[str, str], n: int, threads: int,
           ok: int) -> dict:
    """Send `n` POSTs from `threads` threads, one connection (or session) each; requests/s and CPU."""
    remaining = [n]
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        connection = client(port, path, body, headers)
        try:
            while True:
                with lock:
                    if remaining[0] <= 0 or failures:
                        return
                    remaining[0] -= 1
                status, answer = connection.send()
                if status != ok:
                    failures.append(f"{status}: {answer[:300]!r}")
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if failures:
        raise RuntimeError(f"{path}: {len(failures)} unexpected response(s), first {failures[0]}")
    return {"rps": n / wall, "wall": wall, "client_cpu_ms": cpu / n * 1000}


def measure(client: type, server: Server, path: str, body: bytes, headers: dict[str, str], n: int,
            threads: int, ok: int) -> dict:
    hammer(client, server.port, path, body, headers, max(20, n // 20), threads, ok)  # warm up
    before = server.cpu_seconds()
    result = hammer(client, server.port, path, body, headers, n, threads, ok)
    after = server.cpu_seconds()
    if before and after and before[0] == after[0]:
        result["server_cpu_ms"] = (after[1] - before[1]) / n * 1000
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few requests, one round (under a minute)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, quick 1)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--requests", type=int, help="requests per bcapi measurement (default 1500, quick 200)")
    parser.add_argument("--client", choices=sorted(CLIENTS), default="raw",
                        help="raw: a minimal keep-alive socket client (default); requests: requests.Session")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--compare-old", action="store_true",
                        help="also the settings before issue #13 (sync workers, one thread), side by side")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    n_app = args.requests or (200 if args.quick else 1500)
    n_floor = 3 * n_app
    client = CLIENTS[args.client]

    body = grown_body()
    invalid = check_published_schema(grown_case())
    if invalid:
        raise SystemExit(f"the benchmark's case is not valid against the published JSON Schema: {invalid}")
    tmp = Path(tempfile.mkdtemp(prefix="bcapi-bench-http-"))
    servers: list[Server] = []
    drops = []
    legs: list[tuple[str, str, Server, dict[str, str]]] = []
    setups = {"": ()}
    if args.compare_old:
        setups = {"": (), "old ": ("--worker-class", "sync", "--threads", "1", "--workers", "2")}
    try:
        floors: dict[str, Server] = {}
        databases = [("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}")]
        if not args.no_postgres:
            pg = scratch_database("bcapi_bench_http")
            if pg:
                databases.append(("postgresql", pg[0]))
                drops.append(pg[1])
        for setup, extra in setups.items():
            floors[setup] = Server(f"{setup}floor", "bench.floor_app:app", {}, tmp / f"{setup}floor.log", extra).start()
            servers.append(floors[setup])
        for name, url in databases:
            env = {"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": str(tmp / name),
                   "BCAPI_RATE_LIMIT": "10000000 per minute"}
            bcapi_cli(env, "db", "upgrade")
            key = bcapi_cli(env, "keys", "create", "--role", "commissioner", "--consortium", "EAS",
                            "--label", "bench")
            for setup, extra in setups.items():
                server = Server(f"{setup}{name}", "wsgi:app", env, tmp / f"{setup}{name}.log", extra).start()
                servers.append(server)
                legs.append((setup, name, server, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}))

        print(f"bcapi HTTP benchmark, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; "
              f"{platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
              f"{os.getloadavg()[0]:.1f}")
        print(f"body {len(body)} bytes; {rounds} round(s); {args.threads} client threads ({args.client} client); "
              f"{n_floor} floor and {n_app} bcapi requests per measurement; gunicorn.conf.py defaults "
              f"(BCAPI_WORKERS={os.environ.get('BCAPI_WORKERS', '2')}, "
              f"BCAPI_THREADS={os.environ.get('BCAPI_THREADS', '4')})"
              + ("; 'old': --worker-class sync --threads 1 --workers 2, each against its own floor" if args.compare_old else ""))
        json_headers = {"Content-Type": "application/json"}
        results: dict[str, list[dict]] = {}
        for r in range(rounds):
            floor_results = {}
            for setup, floor in floors.items():
                floor_results[setup] = measure(client, floor, "/api/v1/assessments", body, json_headers, n_floor,
                                               args.threads, 200)
                results.setdefault(f"{setup}floor", []).append(floor_results[setup])
            for setup, name, server, headers in legs:
                for kind, path, ok in (("dry run", "/api/v1/assessments", 200), ("submission", "/api/v1/cases", 201)):
                    result = measure(client, server, path, body, headers, n_app, args.threads, ok)
                    result["ratio"] = result["rps"] / floor_results[setup]["rps"]
                    results.setdefault(f"{setup}{name} {kind}", []).append(result)
            print(f"  round {r + 1}: " + "; ".join(f"{k} {v[-1]['rps']:.0f}" + (f" ({v[-1]['ratio']:.2f}x)" if "ratio" in v[-1] else "")
                                                  for k, v in results.items()))

        def median(rows: list[dict], key: str) -> float | None:
            values = [row[key] for row in rows if row.get(key) is not None]
            return statistics.median(values) if values else None

        print()
        shipped_floor = median(results["floor"], "rps")
        print(f"{'':28s} {'req/s':>8s} {'x floor':>8s} {'x shipped floor':>16s} {'server CPU ms/req':>18s} "
              f"{'floor CPU / CPU':>16s} {'client CPU ms/req':>18s}")
        for label, rows in results.items():
            ratio = median(rows, "ratio")
            server_cpu = median(rows, "server_cpu_ms")
            floor_cpu = median(results["old floor" if label.startswith("old ") else "floor"], "server_cpu_ms")
            cpu_ratio = floor_cpu / server_cpu if floor_cpu and server_cpu else None
            print(f"{label:28s} {median(rows, 'rps'):8.0f} {('%.2f' % ratio) if ratio else '1.00':>8s} "
                  f"{median(rows, 'rps') / shipped_floor:16.2f} "
                  f"{('%.2f' % server_cpu) if server_cpu is not None else 'n/a':>18s} "
                  f"{('%.2f' % cpu_ratio) if cpu_ratio else 'n/a':>16s} "
                  f"{median(rows, 'client_cpu_ms'):18.2f}")
        print()
        verdicts = []
        for label, target in (("sqlite dry run", 0.5), ("sqlite submission", 0.35),
                              ("postgresql dry run", 0.5), ("postgresql submission", 0.35),
                              ("old sqlite dry run", 0.5), ("old sqlite submission", 0.35)):
            if label in results:
                ratio = median(results[label], "ratio")
                verdicts.append(f"{label} {ratio:.2f}x (target >= {target}x: {'met' if ratio >= target else 'NOT met'})")
        print("targets: " + "; ".join(verdicts))
        return 0
    finally:
        for server in servers:
            server.stop()
        for drop in drops:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
