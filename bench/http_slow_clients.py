"""Availability under slow and idle clients (issue #13), before and after, side by side.

    .venv/bin/python bench/http_slow_clients.py [--duration 20] [--idle 30] [--slow 10]

Starts `gunicorn wsgi:app` on one SQLite database three times: with the settings before issue #13
(`--worker-class sync --threads 1`, otherwise the same), with gunicorn's own gthread worker and 8
threads, and with the shipped settings (`gunicorn.conf.py`: the buffering gthread worker of
bcapi/http/worker.py). Against each in turn, opens `--idle` connections that
send nothing and `--slow` ones that send a byte a second (in the head, in the body, and a
`Content-Length: 2000000` that sends ten bytes), and meanwhile a third client asks for
`/healthz` and a dry run (`POST /api/v1/assessments`, a sample case) every second, each with a
5-second timeout, on a new connection. Reports how many answered within a second, and their
median and slowest times (a timed-out probe counts as 5 s).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.live import LiveServer, SlowClients  # noqa: E402

SAMPLE = ROOT / "schemas" / "examples" / "msk-triage.json"


def probe(server: LiveServer, key: str) -> dict[str, float]:
    """Seconds each probe took (5.0 when it timed out or failed)."""
    took = {}
    for name, call in (("healthz", lambda: requests.get(f"{server.url}/healthz", timeout=5)),
                       ("dry run", lambda: requests.post(f"{server.url}/api/v1/assessments", data=SAMPLE.read_bytes(),
                                                         headers={"Authorization": f"Bearer {key}",
                                                                  "Content-Type": "application/json"}, timeout=5))):
        start = time.monotonic()
        try:
            ok = call().status_code == 200
        except requests.RequestException:
            ok = False
        took[name] = time.monotonic() - start if ok else 5.0
    return took


def attack(server: LiveServer, key: str, args) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"healthz": [], "dry run": []}
    with SlowClients(server.port, idle=args.idle, slow=args.slow, duration=args.duration) as clients:
        time.sleep(2)  # let the attack take hold
        while clients.running() and time.monotonic() - clients.started < args.duration - 5:
            for name, seconds in probe(server, key).items():
                times[name].append(seconds)
            time.sleep(max(0.0, 1.0 - min(times["healthz"][-1] + times["dry run"][-1], 1.0)))
        times["open at the end"] = [clients.still_open()]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each attack lasts (default 20)")
    parser.add_argument("--idle", type=int, default=30)
    parser.add_argument("--slow", type=int, default=10)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bcapi-bench-slow-"))
    env = {"BCAPI_INSTANCE_PATH": str(tmp), "BCAPI_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}"}
    setups = [("before: sync workers (--worker-class sync --threads 1)", ("--worker-class", "sync"), 1),
              ("gunicorn's own gthread worker, 8 threads (--worker-class gthread)", ("--worker-class", "gthread"), 8),
              ("after: gunicorn.conf.py as shipped", (), int(os.environ.get("BCAPI_THREADS", "4")))]
    try:
        first = LiveServer(env)
        first.bcapi("db", "upgrade")
        key = first.bcapi("keys", "create", "--role", "commissioner", "--consortium", "EAS", "--label", "bench")
        print(f"{args.idle} idle + {args.slow} slow connections for {args.duration:g} s; probes every second, "
              f"5 s timeout; 2 workers")
        for label, extra, threads in setups:
            server = LiveServer(env, workers=2, threads=threads, extra_args=extra).start()
            try:
                times = attack(server, key, args)
            finally:
                server.stop()
            print(f"\n{label}  (attack connections still open at the end: {times.pop('open at the end')[0]})")
            for name, seconds in times.items():
                within = sum(1 for s in seconds if s <= 1.0)
                print(f"  {name:8s} {within}/{len(seconds)} answered within 1 s; median {statistics.median(seconds):.3f} s, "
                      f"slowest {max(seconds):.3f} s" + ("  (5.000 = timed out)" if max(seconds) >= 5 else ""))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
