"""Per-case evaluation time of the reference ruleset: bcapi.engine against a hand-written Python
function doing the same checks, measured in the same run, and the same rules in the engines a
team would otherwise pick (GoRules ZEN, CEL in three implementations, JsonLogic, OPA Rego).

    .venv/bin/python bench/engine.py [--quick] [--check-all] [--wall]

Each case is one of schemas/examples/*.json, parsed as the API parses it (bcapi.document.loads:
numbers with a fraction are Decimals); every time is per case, averaged over the three, best of
several repeats, repeats of all contenders interleaved. What counts are the ratios to the
hand-written function (bench/handwritten.py): absolute times depend on the machine, which here
is small and shared. Times are this process's CPU time (`--wall` for wall-clock time), as the
neighbours on a shared machine otherwise show up in them.

Before timing anything it checks that the hand-written function gives every rule the engine's
status on every check document (bench/engine_fixtures.py: the samples, mutated samples and
every fixture document of rules/tests/) and exits 1 if not; and it reports how far each foreign
engine agrees with the engine on its subset (`--check-all`: on all the check documents, slow
for cel-python and Rego; otherwise on the samples and their mutations, or with `--quick` on the
samples only). A package that does not install or load here is reported and skipped.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import timeit
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import engine_foreign  # noqa: E402
import handwritten  # noqa: E402
from engine_fixtures import EXAMPLES, check_documents, mutated_samples, samples  # noqa: E402

from bcapi.engine import assess, load_ruleset  # noqa: E402

# The ruleset bench/handwritten.py mirrors, rule for rule: pinned, so that the comparison stays
# like with like when rules/reference.yaml moves on.
RULES = HERE / "ruleset-2026.11.0" / "reference.yaml"
TARGET_RATIO = 3.0


class Contender:
    """Something to time: `run()` does all the sample cases once."""

    def __init__(self, key: str, label: str, run: Callable[[], Any], cases: int):
        self.key, self.label, self.run, self.cases = key, label, run, cases
        self.number = 1
        self.rounds = 0
        self.times: list[float] = []

    @property
    def best(self) -> float:
        """Seconds per case, best of the repeats."""
        return min(self.times) / self.number / self.cases


def calibrate(contenders: list[Contender], timer: Callable[[], float], per_measure: float, rounds: int,
              slow_rounds: int) -> None:
    """Pick each contender's calls per measurement (about `per_measure` seconds) and repeats."""
    for c in contenders:
        c.run()  # warm up (first calls fill caches, compile regexes ...)
        start = timer()
        c.run()
        once = max(timer() - start, 1e-7)
        c.number = max(1, int(per_measure / once))
        c.rounds = rounds if once < 0.1 else slow_rounds


def measure(contenders: list[Contender], timer: Callable[[], float]) -> None:
    """Interleaved repeats: every contender once per round, so drift on a shared machine hits
    them all alike; each keeps its best."""
    for round_ in range(max(c.rounds for c in contenders)):
        for c in contenders:
            if round_ < c.rounds:
                c.times.append(timeit.timeit(c.run, number=c.number, timer=timer))


def check_handwritten(ruleset: Any, documents: list[tuple[str, dict]]) -> list[str]:
    """Every rule's status from the hand-written function against the engine's."""
    problems = []
    params = ruleset.parameters
    for name, doc in documents:
        mine = handwritten.statuses(doc, params)
        for rule in ruleset.rules:
            expected = rule.evaluate(doc, params).status
            if mine.get(rule.id) != expected:
                problems.append(f"{name}: {rule.id}: hand-written {mine.get(rule.id)}, engine {expected}")
    return problems


def check_foreign(runner: engine_foreign.Runner, ruleset: Any, documents: list[tuple[str, dict]]) -> dict[str, int]:
    """{rule id: number of documents where the foreign engine's status differs from the engine's}."""
    rules = {r.id: r for r in ruleset.rules}
    differs: dict[str, int] = {}
    for _, doc in documents:
        got = runner.statuses(doc)
        for rule_id in engine_foreign.SUBSET:
            if got.get(rule_id) != rules[rule_id].evaluate(doc, ruleset.parameters).status:
                differs[rule_id] = differs.get(rule_id, 0) + 1
    return differs


def machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.system()} {platform.machine()}, {cores} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 30 s)")
    parser.add_argument("--check-all", action="store_true", help="check the foreign engines on every check document")
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    args = parser.parse_args(argv)
    timer = time.perf_counter if args.wall else time.process_time
    started = time.perf_counter()

    ruleset = load_ruleset(RULES)
    params = ruleset.parameters
    cases = samples()
    docs = [doc for _, doc in cases]
    sizes = ", ".join(f"{(EXAMPLES / f'{name}.json').stat().st_size / 1024:.1f} KB" for name, _ in cases)

    # --- checks ------------------------------------------------------------------------------
    documents = check_documents()
    problems = check_handwritten(ruleset, documents)
    print(f"hand-written against the engine: {len(documents)} documents x {len(ruleset.rules)} rules, "
          f"{'all statuses equal' if not problems else f'{len(problems)} differ'}")
    if problems:
        for problem in problems[:20]:
            print("  " + problem)
        return 1
    runners, missing = engine_foreign.load(params)
    for package, why in missing:
        print(f"skipped {package}: does not load here ({why})")
    foreign_docs = documents if args.check_all else cases if args.quick else cases + mutated_samples()
    agreement: dict[str, str] = {}
    for runner in runners:
        differs = check_foreign(runner, ruleset, foreign_docs)
        outcomes = len(foreign_docs) * len(engine_foreign.SUBSET)
        wrong = sum(differs.values())
        agreement[runner.name] = (f"{outcomes - wrong}/{outcomes} outcomes as the engine's" +
                                  (f"; differ: {', '.join(f'{r} ({n})' for r, n in differs.items())}" if differs else ""))

    # --- timing ------------------------------------------------------------------------------
    n = len(docs)
    evaluates = [rule.evaluate for rule in ruleset.rules]
    subset_ids = set(engine_foreign.SUBSET)
    subset_evaluates = [rule.evaluate for rule in ruleset.rules if rule.id in subset_ids]
    hand_subset = handwritten.subset(engine_foreign.SUBSET)
    statuses = handwritten.statuses

    def each_doc(function: Callable[[dict], Any]) -> Callable[[], None]:
        def run() -> None:
            for doc in docs:
                function(doc)
        return run

    def rule_loop(functions: list) -> Callable[[], None]:
        def run() -> None:
            for doc in docs:
                for evaluate in functions:
                    evaluate(doc, params)
        return run

    full = [
        Contender("hand", "hand-written function", each_doc(lambda d: statuses(d, params)), n),
        Contender("loop", "bcapi.engine: every rule's evaluate", rule_loop(evaluates), n),
        Contender("assess", "bcapi.engine: assess() (findings, scores)", each_doc(lambda d: assess(d, ruleset)), n),
    ]
    part = [
        Contender("hand", "hand-written function, those rules", each_doc(lambda d: hand_subset(d, params)), n),
        Contender("loop", "bcapi.engine: those rules' evaluate", rule_loop(subset_evaluates), n),
    ]
    converted: dict[str, Contender] = {}
    for runner in runners:
        prepared = [runner.prepare(doc) for doc in docs]
        part.append(Contender(runner.name, runner.name,
                              (lambda r: lambda: [r.run(r.prepare(d)) for d in docs])(runner), n))
        if runner.converts:
            converted[runner.name] = Contender(runner.name, runner.name,
                                               (lambda r, p: lambda: [r.run(x) for x in p])(runner, prepared), n)
    contenders = full + part + list(converted.values())
    per_measure, rounds, slow_rounds = (0.01, 5, 1) if args.quick else (0.05, 25, 3)
    calibrate(contenders, timer, per_measure, rounds, slow_rounds)
    measure(contenders, timer)

    # --- the table ---------------------------------------------------------------------------
    today = datetime.date.today().isoformat()
    print()
    print(f"bench/engine.py{' --quick' if args.quick else ''}, {today}, {machine()}")
    print(f"per case: mean of the {n} samples ({sizes}), best of up to {rounds} repeats, "
          f"{'wall-clock' if args.wall else 'CPU'} time; ratios to the hand-written function of this run")
    base = full[0].best
    print()
    print(f"{'all ' + str(len(ruleset.rules)) + ' rules':<56}{'µs/case':>10}{'× hand':>9}")
    for c in full:
        print(f"  {c.label:<54}{c.best * 1e6:>10.1f}{c.best / base:>8.2f}×")
    base_subset = part[0].best
    print()
    print(f"{'the subset of ' + str(len(engine_foreign.SUBSET)) + ' rules (bench/engine_foreign.py)':<56}"
          f"{'µs/case':>10}{'× hand':>9}   {'once converted':>14}")
    for c in part:
        extra = ""
        if c.key in converted:
            k = converted[c.key]
            extra = f"   {k.best * 1e6:>9.0f} µs {k.best / base_subset:>6.1f}×"
        precision = ".1f" if c.best < 1e-2 else ".0f"
        ratio = f"{c.best / base_subset:>8.2f}×" if c.best / base_subset < 100 else f"{c.best / base_subset:>8.0f}×"
        print(f"  {c.label:<54}{c.best * 1e6:>10{precision}}{ratio}{extra}")
    print()
    print("foreign engines against bcapi.engine on "
          f"{len(foreign_docs)} documents ({'all check documents' if args.check_all else 'samples' if args.quick else 'samples and mutated samples'}):")
    for runner in runners:
        print(f"  {runner.name}: {agreement[runner.name]}")
    loop_ratio, assess_ratio = full[1].best / base, full[2].best / base
    ours_subset = part[1].best
    slower = [c.label for c in part[2:] if c.best <= ours_subset]
    print()
    print(f"target, within {TARGET_RATIO:g}× the hand-written function over all the rules: every rule's evaluate "
          f"{loop_ratio:.2f}× ({'met' if loop_ratio <= TARGET_RATIO else 'not met'}), "
          f"assess() {assess_ratio:.2f}× ({'met' if assess_ratio <= TARGET_RATIO else 'not met'})")
    print(f"faster than every foreign engine on the subset: {'yes' if not slower else 'no: ' + ', '.join(slower)}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
