"""Mutation testing of the core modules: one small change at a time, then the tests that cover it.

    .venv/bin/python bench/mutate.py assess            # one module, its mapped tests
    .venv/bin/python bench/mutate.py all               # the four modules, one after another
    .venv/bin/python bench/mutate.py all --jobs 2      # mutants side by side (default: one a core)
    .venv/bin/python bench/mutate.py cases --list      # the mutants only, numbered, no test run
    .venv/bin/python bench/mutate.py idempotency --only 7,12   # re-run a few mutants
    .venv/bin/python bench/mutate.py auth --tests before       # with the tests of before issue #16

Each mutant is one AST change to the module (an operator swapped, a comparison flipped, `and`
for `or`, a `not` dropped, a constant moved by one, `True` for `False`, a statement deleted, a
returned value replaced by `None`, a condition forced), written into a scratch copy of the
project (so the working tree is never touched), and the module's mapped tests are run there
with `pytest -x`: a failing test kills the mutant, a clean run lets it survive. Docstrings,
log calls and the text of messages are not mutated (a message is read by people, not code).
Survivors are printed as a diff line; `docs/TESTING.md` explains each one.

Chosen over mutmut 3, which copies the project into `mutants/` and routes every function through
its own trampoline: here the tests run exactly as they do in CI (both databases, live servers),
against a plain copy, with nothing to install.
"""
from __future__ import annotations

import argparse
import ast
import copy
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parent.parent

# The module, the tests that cover it (run in this order with -x, the quickest to fail first),
# and the same with only the tests that existed before issue #16 (`--tests before`).
MODULES: dict[str, dict] = {
    "assess": {
        "path": "bcapi/engine/assess.py",
        "tests": ["tests/engine/test_scoring.py", "tests/engine/test_scoring_properties.py",
                  "tests/engine/test_explain.py"],
        "before": ["tests/engine/test_properties.py", "tests/engine/test_reference_ruleset.py"],
    },
    "idempotency": {
        "path": "bcapi/services/idempotency.py",
        "tests": ["tests/test_idempotency.py", "tests/test_cases_api.py::test_retrying_with_the_same_idempotency_key_gives_the_same_case",
                  "tests/test_cases_api.py::test_the_same_idempotency_key_with_another_body_is_422",
                  "tests/test_cases_api.py::test_a_key_still_in_flight_is_409",
                  "tests/test_cases_api.py::test_a_failed_request_releases_its_idempotency_key"],
        "before": ["tests/test_cases_api.py::test_retrying_with_the_same_idempotency_key_gives_the_same_case",
                   "tests/test_cases_api.py::test_the_same_idempotency_key_with_another_body_is_422",
                   "tests/test_cases_api.py::test_a_key_still_in_flight_is_409",
                   "tests/test_cases_api.py::test_a_failed_request_releases_its_idempotency_key",
                   "tests/test_hostile_http.py::test_an_idempotent_replay_after_a_revision_keeps_body_and_etag_together"],
    },
    "cases": {
        "path": "bcapi/services/cases.py",
        "tests": ["tests/test_case_lifecycle.py", "tests/test_cases_api.py", "tests/test_decisions_and_audit.py",
                  "tests/test_hostile_http.py::test_an_idempotent_replay_after_a_revision_keeps_body_and_etag_together",
                  "tests/test_hostile_http.py::test_a_forged_or_naive_next_cursor_is_a_400_problem",
                  "tests/test_hostile_http.py::test_a_revision_number_beyond_any_integer_column_is_404"],
        "before": ["tests/test_cases_api.py", "tests/test_decisions_and_audit.py",
                   "tests/test_hostile_http.py"],
        # The SQLite leg only: the code under mutation is the same on both databases, and the
        # PostgreSQL leg would double the run.
        "select": "not postgresql",
    },
    "auth": {
        "path": "bcapi/http/auth.py",
        "tests": ["tests/test_keys_and_access.py", "tests/test_access_policy.py", "tests/test_hardening.py",
                  "tests/test_sessions.py", "tests/test_public_url.py",
                  "tests/test_cases_api.py::test_no_key_or_an_unknown_key_is_401",
                  "tests/test_decisions_and_audit.py::test_an_admin_issues_a_key_that_works_and_revoking_it_stops_it_at_once",
                  "tests/test_decisions_and_audit.py::test_an_expired_key_is_refused"],
        "before": ["tests/test_access_policy.py", "tests/test_cases_api.py", "tests/test_decisions_and_audit.py",
                   "tests/test_web.py"],
        "select": "not postgresql",
    },
}

SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
              ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv}
SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
QUIET_CALLS = {"debug", "info", "warning", "log"}  # logging: not behaviour a test should pin


@dataclass
class Mutant:
    number: int
    line: int
    end_line: int
    description: str
    source: str  # the whole module, mutated


def _is_docstring(node: ast.AST, parent: ast.AST | None) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _is_quiet_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute) and node.value.func.attr in QUIET_CALLS)


def _in_message(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """A node inside the text of an exception's message or an f-string: not mutated."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id[:1].isupper():
            return True  # SomeError("...") / Problem(401, "...")
    return False


def sites(tree: ast.Module) -> list[tuple[ast.AST, str, callable]]:
    """Every place a mutation applies: (node, description, apply(node) -> replacement)."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[tuple[ast.AST, str, callable]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
            new = SWAP_BINOP[type(node.op)]
            found.append((node, f"{type(node.op).__name__} -> {new.__name__}",
                          lambda n, new=new: ast.BinOp(n.left, new(), n.right)))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                new = SWAP_CMP.get(type(op))
                if new:
                    def flip(n, i=i, new=new):
                        ops = list(n.ops)
                        ops[i] = new()
                        return ast.Compare(n.left, ops, n.comparators)
                    found.append((node, f"{type(op).__name__} -> {new.__name__}", flip))
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            found.append((node, f"{type(node.op).__name__} -> {new.__name__}",
                          lambda n, new=new: ast.BoolOp(new(), n.values)))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            found.append((node, "drop `not`", lambda n: n.operand))
        elif isinstance(node, ast.Constant) and not _in_message(node, parents):
            value = node.value
            if isinstance(value, bool):
                found.append((node, f"{value} -> {not value}", lambda n: ast.Constant(not n.value)))
            elif isinstance(value, int) and not isinstance(parents.get(node), ast.Subscript):
                found.append((node, f"{value} -> {value + 1}", lambda n: ast.Constant(n.value + 1)))
                if value != 0:
                    found.append((node, f"{value} -> {value - 1}", lambda n: ast.Constant(n.value - 1)))
            elif isinstance(value, str) and value and isinstance(parents.get(node), ast.Compare):
                found.append((node, f"{value!r} -> 'XX'", lambda n: ast.Constant("XX" + n.value)))
        elif isinstance(node, ast.Return) and node.value is not None \
                and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            found.append((node, "return None", lambda n: ast.Return(ast.Constant(None))))
        elif isinstance(node, (ast.If, ast.While)) and not isinstance(node.test, ast.Constant):
            found.append((node, "condition -> True",
                          lambda n: type(n)(ast.Constant(True), n.body, n.orelse)))
            found.append((node, "condition -> False",
                          lambda n: type(n)(ast.Constant(False), n.body, n.orelse)))
        elif isinstance(node, ast.IfExp):
            found.append((node, "x if c else y -> x", lambda n: n.body))
            found.append((node, "x if c else y -> y", lambda n: n.orelse))
        if (isinstance(node, (ast.Expr, ast.AugAssign, ast.Raise, ast.Continue, ast.Delete))
                or (isinstance(node, ast.Assign) and _reassigned(node, parents))) \
                and not _is_docstring(node, None) and not _is_quiet_call(node) \
                and isinstance(parents.get(node), (ast.FunctionDef, ast.For, ast.If, ast.With, ast.Try,
                                                   ast.ExceptHandler, ast.While)):
            found.append((node, f"delete `{ast.unparse(node).splitlines()[0][:60]}`", lambda n: ast.Pass()))
    found.sort(key=lambda site: (site[0].lineno, site[0].col_offset, site[1]))
    return found


def _reassigned(node: ast.Assign, parents: dict[ast.AST, ast.AST]) -> bool:
    """An assignment worth deleting: to an item (a cache, a count), or to a name the function
    also sets elsewhere. Deleting the only assignment to a name is a NameError, killed by any
    test that runs it, and would only pad the score."""
    target = node.targets[0]
    if isinstance(target, ast.Subscript):
        return True
    if not isinstance(target, ast.Name):
        return False
    scope = node
    while scope in parents and not isinstance(scope, (ast.FunctionDef, ast.Module)):
        scope = parents[scope]
    names = [t.id for n in ast.walk(scope) if isinstance(n, (ast.Assign, ast.AugAssign))
             for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)]
    return names.count(target.id) > 1


def mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    count = len(sites(tree))
    out = []
    for index in range(count):
        mutated = copy.deepcopy(tree)
        node, description, apply = sites(mutated)[index]
        replacement = ast.copy_location(apply(node), node)
        parents = {child: p for p in ast.walk(mutated) for child in ast.iter_child_nodes(p)}
        parent = parents[node]
        for field, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, field, replacement)
            elif isinstance(value, list) and any(v is node for v in value):
                value[[i for i, v in enumerate(value) if v is node][0]] = replacement
        ast.fix_missing_locations(mutated)
        text = ast.unparse(mutated)
        if text == ast.unparse(tree):
            continue
        out.append(Mutant(len(out) + 1, node.lineno, getattr(node, "end_lineno", None) or node.lineno,
                          description, text))
    return out


def scratch_copy() -> Path:
    """The project as it is (not as committed), without the venv, git or caches."""
    where = Path(tempfile.mkdtemp(prefix="bcapi-mutate-"))
    ignore = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".hypothesis", "node_modules",
                                    "mutants", "*.sqlite3", ".pytest_cache")
    for name in ("bcapi", "tests", "rules", "schemas", "pyproject.toml", "docs", "README.md", "bench",
                 "gunicorn.conf.py", "examples"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, where / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, where / name)
    return where


def run_tests(where: Path, tests: list[str], timeout: float, select: str | None = None,
              env: dict[str, str] | None = None, plugins: tuple[str, ...] = ()) -> tuple[str, float]:
    """'killed', 'survived' or 'timeout' (counted as killed: the mutant hangs), and seconds."""
    env = {**os.environ, "PYTHONPATH": f"{where}{os.pathsep}{where / 'bench'}", **(env or {})}
    start = time.monotonic()
    try:
        result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                 *(a for p in plugins for a in ("-p", p)),
                                 *(["-k", select] if select else []), *tests], cwd=where, env=env, timeout=timeout,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start
    elapsed = time.monotonic() - start
    if result.returncode == 0:
        return "survived", elapsed
    if result.returncode in (1,):
        return "killed", elapsed
    sys.stderr.write(result.stdout[-3000:])
    raise SystemExit(f"pytest could not run the tests (exit {result.returncode})")


def tests_by_line(data_file: Path, target: Path) -> tuple[dict[int, list[str]], list[str]]:
    """{line: node ids of the tests that ran it}, and every node id in the order pytest ran them."""
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    by_line = {line: [c for c in contexts if c]
               for line, contexts in (data.contexts_by_lineno(str(target)) or {}).items()}
    order = Path(f"{data_file}.order").read_text(encoding="utf-8").split("\n")
    return by_line, [node for node in order if node]


def statement_starts(source: str) -> dict[int, int]:
    """{line: the first line of the innermost statement holding it}: coverage records a
    statement on its first line only."""
    starts: dict[int, int] = {}
    for node in ast.walk(ast.parse(source)):  # outer statements first, so inner ones win
        if isinstance(node, ast.stmt):
            for line in range(node.lineno, node.end_lineno + 1):
                starts[line] = node.lineno
    return starts


def function_body_lines(source: str) -> set[int]:
    """The lines inside function bodies: what runs only when called, so only in the tests that
    call it. Anything else (a constant, a default argument) runs at import: every test reads it."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.update(range(node.body[0].lineno, node.end_lineno + 1))
    return lines


def run_module(name: str, *, which: str, only: set[int] | None, list_only: bool, jobs: int = 1) -> dict:
    spec = MODULES[name]
    target = ROOT / spec["path"]
    original = target.read_text(encoding="utf-8")
    found = mutants(original)
    if list_only:
        for m in found:
            print(f"{name} #{m.number} line {m.line}: {m.description}")
        return {}
    tests = spec["tests"] if which == "after" else spec["before"]
    # One scratch copy of the project per job: each mutant is written into a copy no other job
    # is testing at the time.
    copies = [scratch_copy() for _ in range(max(1, jobs))]
    data_file = copies[0] / ".mutate-coverage"
    try:
        # A clean run, recording which test reaches which line of the module.
        state, base = run_tests(copies[0], tests, timeout=3600, select=spec.get("select"),
                                env={"MUTATE_TARGET": str(copies[0] / spec["path"]), "MUTATE_DATA": str(data_file)},
                                plugins=("mutate_coverage",))
        if state != "survived":
            raise SystemExit(f"{name}: the mapped tests fail on the unmutated code ({state})")
        reached, order = tests_by_line(data_file, copies[0] / spec["path"])
        in_functions = function_body_lines(original)
        starts = statement_starts(original)
        print(f"{name}: {len(found)} mutants, {base:.0f} s for a clean run of {len(tests)} test paths, "
              f"{len(copies)} job(s)", flush=True)
        results = {"killed": 0, "survived": [], "timeout": 0}
        started = time.monotonic()
        free: queue.Queue[Path] = queue.Queue()
        for where in copies:
            free.put(where)
        lock = threading.Lock()
        done = [0]

        def try_mutant(m: Mutant) -> None:
            # The tests that reach the mutated lines (in their usual order); all of them for a
            # line no test was seen on (a signature's default, a line run only at import).
            lines = range(m.line, m.end_line + 1)
            nodes = []
            if all(line in in_functions for line in lines):
                ran = {*lines, *(starts.get(line, line) for line in lines)}
                reaching = set().union(*(reached.get(line, ()) for line in ran))
                nodes = [node for node in order if node in reaching]
                if not reaching:  # no test runs these lines: the mutant survives, untested
                    with lock:
                        results["survived"].append(m)
                        print(f"  NOT REACHED #{m.number} line {m.line}: {m.description}", flush=True)
                    return
            where = free.get()
            try:
                copy_target = where / spec["path"]
                copy_target.write_text(m.source, encoding="utf-8")
                for pyc in (copy_target.parent / "__pycache__").glob(copy_target.stem + ".*.pyc"):
                    pyc.unlink()
                state, took = run_tests(where, nodes or tests, timeout=max(60.0, 3 * base),
                                        select=None if nodes else spec.get("select"))
                copy_target.write_text(original, encoding="utf-8")
            finally:
                free.put(where)
            with lock:
                if state == "survived":
                    results["survived"].append(m)
                    print(f"  SURVIVED #{m.number} line {m.line}: {m.description}    "
                          f"[{original.splitlines()[m.line - 1].strip()[:90]}]", flush=True)
                else:
                    results[state if state == "timeout" else "killed"] += 1
                done[0] += 1
                if done[0] % 20 == 0:
                    print(f"  ... {done[0]} run after {time.monotonic() - started:.0f} s", flush=True)

        chosen = [m for m in found if not only or m.number in only]
        with ThreadPoolExecutor(max_workers=len(copies)) as pool:  # each job waits on a pytest process
            list(pool.map(try_mutant, chosen))
        results["survived"].sort(key=lambda m: m.number)
    finally:
        for where in copies:
            shutil.rmtree(where, ignore_errors=True)
    tried = len(only) if only else len(found)
    caught = results["killed"] + results["timeout"]
    print(f"{name}: {caught}/{tried} killed ({results['timeout']} by timeout), "
          f"{len(results['survived'])} survived", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("module", nargs="+", choices=[*MODULES, "all"])
    parser.add_argument("--tests", choices=["after", "before"], default="after",
                        help="the mapped tests (default) or those that existed before issue #16")
    parser.add_argument("--only", help="mutant numbers: 3,7,12 or a range, 55-106")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="mutants tested side by side, each in its own copy (default: one a core)")
    args = parser.parse_args()
    only = None
    if args.only:  # "3,7,12" or "55-106"
        only = set()
        for part in args.only.split(","):
            first, _, last = part.partition("-")
            only.update(range(int(first), int(last or first) + 1))
    started = time.monotonic()
    for name in MODULES if "all" in args.module else args.module:
        run_module(name, which=args.tests, only=only, list_only=args.list, jobs=args.jobs)
    if not args.list:
        print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
