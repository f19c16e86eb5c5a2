"""Benchmark: re-assess every stored case, streamed out of the database (`bcapi rules impact --database`).

    python bench/bulk_reassess.py [--n 100000] [--quick] [--jobs N] [--no-postgres]

Seeds N varied cases (about one in ten with a second revision, so that only current revisions
must be read) into a fresh SQLite file, and into a uniquely-named PostgreSQL database when a
server answers at postgresql+psycopg://postgres@127.0.0.1:5432/ (dropped afterwards). Seeding
writes the rows directly, not through the API, so that 100,000 cases take minutes, not hours.
Then, per database, runs `impact --database` in-process twice: the reference ruleset against
itself (a plain re-assessment: one assessment per case) and against a softened one. Prints
cases/s end to end and once rows flow (ruleset compilation excluded), the peak RSS growth of
this process and of the workers during the run, and the ratio against an in-memory baseline
measured in the same run: `bcapi.document.loads` + `assess` under one ruleset, in one process,
over the first cases of the same stream. Targets: >= 1,000 cases/s, memory flat in N.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from impact_files import EXAMPLES, RULES, softened, vary  # noqa: E402
from scratch_postgres import scratch_database  # noqa: E402

from bcapi.document import dumps, loads  # noqa: E402



def documents(n: int, seed: int = 19480705):
    """(document, older revision or None) for n varied, valid cases."""
    rng = random.Random(seed)
    bases = [loads(path.read_bytes()) for path in EXAMPLES]
    for i in range(n):
        base = bases[i % len(bases)]
        older = vary(base, rng, i, invalid_rate=0) if rng.random() < 0.1 else None
        yield vary(base, rng, i, invalid_rate=0), older


def seed(urls: list[str], n: int, batch: int = 1000) -> None:
    from sqlalchemy import create_engine, insert

    from bcapi.storage import migrate
    from bcapi.storage.models import BusinessCase, Revision

    engines = []
    for url in urls:
        migrate.upgrade(url)
        engines.append(create_engine(url))
    now = dt.datetime.now(dt.timezone.utc)
    cases, revisions = [], []

    def flush() -> None:
        for engine in engines:
            with engine.begin() as conn:
                conn.execute(insert(BusinessCase), cases)
                conn.execute(insert(Revision), revisions)
        cases.clear()
        revisions.clear()

    for document, older in documents(n):
        case_id = str(uuid.uuid4())
        texts = [dumps(older), dumps(document)] if older else [dumps(document)]
        cases.append({"id": case_id, "consortium_code": document["consortium"]["code"],
                      "consortium_name": document["consortium"]["name"], "reference": document.get("reference"),
                      "title": document["title"], "service_area": document.get("service_area"),
                      "status": "submitted", "current_revision": len(texts), "submitted_at": now, "updated_at": now})
        revisions += [{"case_id": case_id, "number": number, "document": text, "created_at": now,
                       "digest": hashlib.sha256(text.encode()).hexdigest()} for number, text in enumerate(texts, 1)]
        if len(cases) >= batch:
            flush()
    if cases:
        flush()
    for engine in engines:
        engine.dispose()


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the impact workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def baseline(count: int) -> tuple[float, float]:
    """Cases per second and per CPU second of loads + assess under one ruleset, in memory, here."""
    from bcapi.engine import assess, load_ruleset

    ruleset = load_ruleset(RULES)
    texts = [dumps(document) for document, _ in documents(count)]
    started, cpu = time.perf_counter(), cpu_seconds()
    for text in texts:
        assess(loads(text), ruleset)
    return count / (time.perf_counter() - started), count / (cpu_seconds() - cpu)


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


class PeakRss:
    """Samples this process's and the workers' resident memory while a run goes on (Linux)."""

    def __init__(self) -> None:
        self.start = _rss_kib(os.getpid())
        self.main = self.workers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.main = max(self.main, _rss_kib(os.getpid()))
            for child in multiprocessing.active_children():
                self.workers = max(self.workers, _rss_kib(child.pid))

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_impact(url: str, head: Path, jobs: int | None) -> dict:
    from click.testing import CliRunner

    import bcapi.services.casestream as casestream
    from bcapi.cli.rules import rules

    first_row: list[float] = []
    stream = casestream.current_documents

    def timed(session, **kwargs):
        for i, row in enumerate(stream(session, **kwargs)):
            if not i:
                first_row.append(time.perf_counter())
            yield row

    casestream.current_documents = timed
    args = ["impact", "--base", str(RULES), "--head", str(head), "--database", url, "--format", "json"]
    if jobs:
        args += ["--jobs", str(jobs)]
    try:
        with PeakRss() as rss:
            started, cpu = time.perf_counter(), cpu_seconds()
            result = CliRunner().invoke(rules, args, catch_exceptions=False)
            ended, cpu = time.perf_counter(), cpu_seconds() - cpu
    finally:
        casestream.current_documents = stream
    if result.exit_code != 0:
        raise SystemExit(f"impact failed ({result.exit_code}): {result.output[-2000:]}")
    report = json.loads(result.stdout)
    cases = report["summary"]["cases"]
    return {"cases": cases, "seconds": ended - started, "rate": cases / (ended - started), "cpu_rate": cases / cpu,
            "flowing_rate": cases / (ended - first_row[0]), "main_growth_mib": (rss.main - rss.start) / 1024,
            "worker_peak_mib": rss.workers / 1024, "rating_changed": report["summary"]["rating_changed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="cases (default 100,000; --quick 5,000)")
    parser.add_argument("--quick", action="store_true", help="a short run (5,000 cases)")
    parser.add_argument("--jobs", type=int, default=None, help="impact --jobs (default: its own choice)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    n = args.n or (5_000 if args.quick else 100_000)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` drops the database

    rate, cpu_rate = baseline(min(n, 2000))
    print(f"baseline  loads + assess in memory (1 ruleset, 1 process): {rate:,.0f} cases/s, "
          f"{cpu_rate:,.0f} per CPU second")
    with tempfile.TemporaryDirectory(prefix="bcapi-bulk-bench-") as tmp:
        head = Path(tmp) / "softened.yaml"
        head.write_text(softened(RULES.read_text(encoding="utf-8")), encoding="utf-8")
        urls = {"sqlite": f"sqlite:///{tmp}/bench.sqlite3"}
        pg = None if args.no_postgres else scratch_database("bcapi_bench_bulk")
        if pg:
            urls["postgresql"] = pg[0]
        try:
            started = time.perf_counter()
            seed(list(urls.values()), n)
            print(f"seeded {n:,} cases into {', '.join(urls)} in {time.perf_counter() - started:.0f}s")
            for name, url in urls.items():
                for label, ruleset in (("re-assess (head = base)", RULES), ("impact (softened head)", head)):
                    r = run_impact(url, ruleset, args.jobs)
                    r["load"] = os.getloadavg()[0]
                    print(f"{name:<10} {label:<24} {r['cases']:,} cases in {r['seconds']:.1f}s: "
                          f"{r['rate']:,.0f} cases/s end to end, {r['flowing_rate']:,.0f} once rows flow "
                          f"(ratio to baseline {r['flowing_rate'] / rate:.2f}); "
                          f"{r['cpu_rate']:,.0f} per CPU second (ratio {r['cpu_rate'] / cpu_rate:.2f}); "
                          f"RSS growth {r['main_growth_mib']:.0f} MiB here, "
                          f"worker peak {r['worker_peak_mib']:.0f} MiB; "
                          f"{r['rating_changed']:,} change rating; load average {r['load']:.1f}")
        finally:
            if pg:
                pg[1]()


if __name__ == "__main__":
    main()
