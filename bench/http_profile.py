"""Profile the HTTP hot path in-process (issue #7): where a dry run or a submission spends its time.

    .venv/bin/python bench/http_profile.py [dry|submit] [--requests N] [--tree]

Sends the benchmark's ~10 KB case (bench/http_case.py) N times through the Flask test client
over a fresh SQLite database, under pyinstrument (the `bench` extra), then prints the share of
request time spent in each stage (JSON parsing, validation, the rules engine, serialising the
answer, storing it, the API key lookup, rate limiting, ...), and with --tree pyinstrument's tree.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH] + [str(BENCH)]
sys.path.insert(0, str(ROOT))

from http_case import grown_body  # noqa: E402

# (label, function names: a frame whose function is one of these is counted, once per sample)
STAGES = [
    ("whole request (Flask.wsgi_app)", {"wsgi_app"}),
    ("JSON body parsing (bcapi.document.loads)", {"_raw_load_json"}),
    ("document validation (BusinessCaseDocument.load)", {"load"}),
    ("rules engine (bcapi.engine.assess)", {"assess"}),
    ("answer serialised (json_response / case_view_json)", {"json_response", "case_view_json"}),
    ("storing (services.cases.submit minus assess)", {"submit"}),
    ("API key lookup (auth.find_key)", {"find_key"}),
    ("rate limiting (hardening.RateLimits)", {"count_request", "add_headers"}),
    ("after-request hooks (logs, metrics, headers)", {"process_response"}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=("dry", "submit"), default="dry")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--tree", action="store_true", help="also print pyinstrument's call tree")
    args = parser.parse_args()
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: .venv/bin/pip install -e '.[bench]'")
        return 2

    from bcapi import migrate
    from bcapi.app import create_app
    from bcapi.services.keys import create as create_key

    tmp = tempfile.mkdtemp(prefix="bcapi-profile-")
    url = f"sqlite:///{tmp}/profile.sqlite3"
    migrate.upgrade(url)
    app = create_app({"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": tmp, "BCAPI_LOG_LEVEL": "WARNING",
                      "BCAPI_RATE_LIMIT": "10000000 per minute"})
    with app.extensions["bcapi"].db.writing() as session:
        _, key = create_key(session, role="commissioner", consortium="EAS", label="profile")
    client = app.test_client()
    body = grown_body()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    path, ok = ("/api/v1/assessments", 200) if args.what == "dry" else ("/api/v1/cases", 201)
    for _ in range(20):
        assert client.post(path, data=body, headers=headers).status_code == ok
    profiler = Profiler(interval=0.0005)
    cpu = time.process_time()
    profiler.start()
    for _ in range(args.requests):
        client.post(path, data=body, headers=headers)
    profiler.stop()
    cpu = time.process_time() - cpu
    print(f"{args.requests} x POST {path} ({len(body)} bytes), {cpu / args.requests * 1000:.2f} ms CPU a request "
          "under the profiler")

    session = profiler.last_session
    totals = {label: 0.0 for label, _ in STAGES}

    def walk(frame, active: frozenset) -> None:
        name = frame.function
        here = set(active)
        for label, names in STAGES:
            if name in names and label not in active:
                totals[label] += frame.time
                here.add(label)
        for child in frame.children:
            walk(child, frozenset(here))

    root = session.root_frame()
    walk(root, frozenset())
    whole = totals[STAGES[0][0]] or 1.0
    storing = STAGES[5][0]
    if totals[storing]:
        totals[storing] -= _time_in(root, "assess", inside="submit")
    for label, _ in STAGES:
        print(f"  {totals[label] / whole * 100:5.1f}%  {label}")
    if args.tree:
        print(profiler.output_text(unicode=False, color=False))
    return 0


def _time_in(frame, name: str, inside: str, within: bool = False) -> float:
    """Time in frames called `name` below a frame called `inside` (outermost only)."""
    within = within or frame.function == inside
    if within and frame.function == name:
        return frame.time
    return sum(_time_in(child, name, inside, within) for child in frame.children)


if __name__ == "__main__":
    sys.exit(main())
