"""Profile the HTTP hot path in-process (issue #7): where a dry run or a submission spends its time.

    .venv/bin/python bench/http_profile.py [dry|submit] [--requests N] [--tree]
    .venv/bin/python bench/http_profile.py budget

Sends the benchmark's ~10 KB case (bench/http_case.py) N times through the Flask test client
over a fresh SQLite database, under pyinstrument (the `bench` extra), then prints the share of
request time spent in each stage (JSON parsing, validation, the rules engine, serialising the
answer, storing it, the API key lookup, rate limiting, ...), and with --tree pyinstrument's tree.

`budget` needs no profiler: it times, without one, a whole request of the floor app
(bench/floor_app.py) and of bcapi's dry run and submission called straight through WSGI, and
each step of the dry run's own work alone (parsing with exact decimals, the document schema, the rules and the
answer, writing it), so that what is left for everything else (authentication, rate limits,
logs, metrics, headers, flask-smorest) can be read off against what a 0.5x target allows.
"""
from __future__ import annotations

import argparse
import os
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
    ("rate limiting (hardening.RateLimits)", {"charge", "add_headers"}),
    ("after-request hooks (logs, metrics, headers)", {"process_response"}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=("dry", "submit", "budget"), default="dry")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--tree", action="store_true", help="also print pyinstrument's call tree")
    args = parser.parse_args()
    if args.what == "budget":
        return budget()
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: .venv/bin/pip install -e '.[bench]'")
        return 2

    from bcapi.storage import migrate
    from bcapi.http.app import create_app
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


def _cpu_ms(call, n: int, repeats: int = 5) -> float:
    """Best of `repeats` runs of `n` calls: CPU milliseconds a call."""
    for _ in range(min(n, 50)):
        call()
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for _ in range(n):
            call()
        best = min(best, (time.process_time() - start) / n * 1000)
    return best


def budget() -> int:
    import importlib.util
    import io
    import json
    import logging

    from bcapi.storage import migrate
    from bcapi.http.api.schemas import DocumentSchema
    from bcapi.http.app import create_app
    from bcapi.document import dumps, loads
    from bcapi.services.assessments import dry_run
    from bcapi.services.keys import create as create_key

    spec = importlib.util.spec_from_file_location("floor_app", BENCH / "floor_app.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    tmp = tempfile.mkdtemp(prefix="bcapi-budget-")
    url = f"sqlite:///{tmp}/budget.sqlite3"
    migrate.upgrade(url)
    app = create_app({"BCAPI_DATABASE_URL": url, "BCAPI_INSTANCE_PATH": tmp, "BCAPI_LOG_LEVEL": "INFO",
                      "BCAPI_RATE_LIMIT": "10000000 per minute"})
    for handler in logging.getLogger("bcapi").handlers:  # logs are formatted and written, to nowhere
        handler.setStream(open(os.devnull, "w"))
    with app.extensions["bcapi"].db.writing() as session:
        _, key = create_key(session, role="commissioner", consortium="EAS", label="budget")
    body = grown_body()

    def request(wsgi_app, path="/api/v1/assessments", ok="200"):
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                   "HTTP_HOST": "127.0.0.1:8000", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
                   "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True,
                   "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "application/json",
                   "HTTP_AUTHORIZATION": f"Bearer {key}"}
        statuses = []
        out = wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
        b"".join(out)
        getattr(out, "close", lambda: None)()
        if not statuses[0].startswith(ok):
            raise SystemExit(f"unexpected {statuses[0]}")

    ruleset = app.extensions["bcapi"].ruleset
    schema = DocumentSchema()
    document = schema.load(loads(body))
    answer = dry_run(document, ruleset)
    floor_ms = _cpu_ms(lambda: request(floor.app), 3000)
    stdlib_ms = _cpu_ms(lambda: json.loads(body), 3000)
    ours_ms = _cpu_ms(lambda: request(app), 1000)
    submit_ms = _cpu_ms(lambda: request(app, "/api/v1/cases", "201"), 300)
    parse_ms = _cpu_ms(lambda: loads(body), 3000)
    steps = {
        "parse the body, exact decimals (bcapi.document.loads)": parse_ms,
        "load it through the document schema": _cpu_ms(lambda: schema.load(loads(body)), 2000) - parse_ms,
        "the rules and the answer (services.assessments.dry_run)": _cpu_ms(lambda: dry_run(document, ruleset), 2000),
        "write the answer (bcapi.document.dumps)": _cpu_ms(lambda: dumps(answer), 3000),
    }
    flask_ms = floor_ms - stdlib_ms
    work_ms = sum(steps.values())
    print(f"CPU ms a request, in-process (no HTTP server), {len(body)}-byte case:")
    print(f"  floor app, whole request                 {floor_ms:6.3f}   (of which json.loads {stdlib_ms:.3f})")
    print(f"  bcapi dry run, whole request             {ours_ms:6.3f}")
    for label, ms in steps.items():
        print(f"    {label:56s} {ms:6.3f}")
    print(f"  Flask's own share of a request (floor - json.loads)   {flask_ms:6.3f}")
    print(f"  the least a dry run can cost: Flask + the steps above {flask_ms + work_ms:6.3f}")
    print(f"  everything else (auth, rate limit, logs, metrics, headers, flask-smorest) "
          f"{ours_ms - flask_ms - work_ms:6.3f}")
    print(f"  bcapi submission, whole request          {submit_ms:6.3f}   (storing adds {submit_ms - ours_ms:.3f} "
          "to a dry run: the write transaction and the case view)")
    print("Under gunicorn each request also costs the server's own HTTP handling (the floor's server CPU in "
          "bench/http.py less its in-process figure here): add it to both sides to read a ratio.")
    return 0


def _time_in(frame, name: str, inside: str, within: bool = False) -> float:
    """Time in frames called `name` below a frame called `inside` (outermost only)."""
    within = within or frame.function == inside
    if within and frame.function == name:
        return frame.time
    return sum(_time_in(child, name, inside, within) for child in frame.children)


if __name__ == "__main__":
    sys.exit(main())
