"""Benchmark: `bcapi rules impact --cases DIR` over many case files.

    python bench/impact_files.py [--n 10000] [--quick] [--jobs N]

Generates N varied cases from schemas/examples/*.json into a temporary folder (money scaled,
totals nudged, risks re-scored or dropped, dates moved, whole sections dropped, a few made
invalid), then runs `impact` in-process over them, the reference ruleset against a softened
one (green threshold 75 → 65, RISK-REGISTER demoted from blocker to major). Prints the cases/s
and total seconds, and their ratio to a baseline measured in the same run over the same files:
plain `json.loads` (with exact decimals) + `assess` under one ruleset, in one process.
The target: 10,000 files reported within a minute on a 2-core machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import random
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bcapi.document import dumps, loads  # noqa: E402

EXAMPLES = sorted((ROOT / "schemas" / "examples").glob("*.json"))
RULES = ROOT / "rules" / "reference.yaml"
MONEY = {"one_off", "recurring", "total_investment", "amount", "total_savings", "annual_cost", "unit_cost",
         "total_cost", "total_benefit", "contract_value", "net_benefit", "expected", "reference_price",
         "proposed_price"}
SECTIONS = ("finance", "risks", "governance", "conflicts_of_interest", "options", "baseline", "activity_shift",
            "strategic_fit", "practices", "lead_clinician")
CENT = Decimal("0.01")


def _scale_money(node, factor: Decimal) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in MONEY and isinstance(value, (int, Decimal)) and not isinstance(value, bool):
                node[key] = (Decimal(value) * factor).quantize(CENT, rounding=ROUND_HALF_UP)
            else:
                _scale_money(value, factor)
    elif isinstance(node, list):
        for value in node:
            _scale_money(value, factor)


def _shift_dates(node, days: int) -> None:
    import datetime as dt

    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
                try:
                    node[key] = (dt.date.fromisoformat(value) + dt.timedelta(days=days)).isoformat()
                except ValueError:
                    pass
            else:
                _shift_dates(value, days)
    elif isinstance(node, list):
        for value in node:
            _shift_dates(value, days)


def vary(document: dict, rng: random.Random, index: int, invalid_rate: float = 0.005) -> dict:
    """A plausible variant of `document`; about `invalid_rate` of them break the schema."""
    doc = copy.deepcopy(document)
    doc["reference"] = f"BENCH-{index:06d}"
    if rng.random() < 0.7:
        _scale_money(doc, Decimal(rng.randint(50, 150)) / 100)
    finance = doc.get("finance") or {}
    if rng.random() < 0.15 and "total_investment" in finance:
        finance["total_investment"] = Decimal(finance["total_investment"]) + rng.randint(1, 50000)
    if rng.random() < 0.5:
        _shift_dates(doc, rng.randint(-400, 400))
    for risk in doc.get("risks") or []:
        if rng.random() < 0.4:
            risk["likelihood"], risk["impact"] = rng.randint(1, 5), rng.randint(1, 5)
            if rng.random() < 0.7:
                risk["score"] = risk["likelihood"] * risk["impact"]
        if rng.random() < 0.1:
            risk.pop("mitigation", None)
    if doc.get("risks") and rng.random() < 0.2:
        doc["risks"] = doc["risks"][: rng.randint(0, len(doc["risks"]))]
    for section in SECTIONS:
        if rng.random() < 0.06:
            doc.pop(section, None)
    if rng.random() < invalid_rate:
        if rng.random() < 0.5:
            doc["finance"] = {**(doc.get("finance") or {}), "totl_savings": 1}
        else:
            doc["title"] = ""
    return doc


def generate(n: int, folder: Path, seed: int = 20090401) -> None:
    rng = random.Random(seed)
    bases = [loads(path.read_bytes()) for path in EXAMPLES]
    for i in range(n):
        document = vary(bases[i % len(bases)], rng, i)
        (folder / f"case-{i:06d}.json").write_text(dumps(document), encoding="utf-8")


def softened(text: str) -> str:
    """The reference ruleset made gentler: a lower green threshold, one blocker demoted."""
    out = text.replace("rating: {green: 75, amber: 50}", "rating: {green: 65, amber: 50}")
    marker = "  - id: RISK-REGISTER\n"
    at = out.index(marker)
    severity = out.index("severity: blocker", at)
    out = out[:severity] + "severity: major" + out[severity + len("severity: blocker"):]
    assert out != text
    return out


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the impact workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def baseline(folder: Path) -> tuple[int, float, float]:
    from bcapi.engine import assess, load_ruleset

    ruleset = load_ruleset(RULES)
    started, cpu = time.perf_counter(), cpu_seconds()
    count = 0
    for path in sorted(folder.glob("*.json")):
        assess(json.loads(path.read_bytes(), parse_float=Decimal), ruleset)
        count += 1
    return count, time.perf_counter() - started, cpu_seconds() - cpu


def run_impact(folder: Path, head: Path, jobs: int | None) -> tuple[dict, float]:
    from click.testing import CliRunner

    from bcapi.cli.rules import rules

    args = ["impact", "--base", str(RULES), "--head", str(head), "--cases", str(folder), "--format", "json"]
    if jobs:
        args += ["--jobs", str(jobs)]
    started, cpu = time.perf_counter(), cpu_seconds()
    result = CliRunner().invoke(rules, args, catch_exceptions=False)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    if result.exit_code != 0:
        raise SystemExit(f"impact failed ({result.exit_code}): {result.output}")
    return json.loads(result.stdout), elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="case files (default 10,000; --quick 1,000)")
    parser.add_argument("--quick", action="store_true", help="a short run (1,000 files)")
    parser.add_argument("--jobs", type=int, default=None, help="impact --jobs (default: its own choice)")
    args = parser.parse_args()
    n = args.n or (1000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="bcapi-impact-bench-") as tmp:
        folder, head = Path(tmp) / "cases", Path(tmp) / "softened.yaml"
        folder.mkdir()
        head.write_text(softened(RULES.read_text(encoding="utf-8")), encoding="utf-8")
        started = time.perf_counter()
        generate(n, folder)
        print(f"generated {n} case files in {time.perf_counter() - started:.1f}s")

        count, base_seconds, base_cpu = baseline(folder)
        print(f"baseline  json.loads + assess (1 ruleset, 1 process): {count} cases in {base_seconds:.1f}s, "
              f"{count / base_seconds:,.0f} cases/s ({base_cpu:.1f} CPU s)")
        report, seconds, cpu = run_impact(folder, head, args.jobs)
        summary = report["summary"]
        assessed = summary["cases"] + summary["invalid"]
        print(f"impact    base vs softened head, validated, CLI end to end: {assessed} cases in {seconds:.1f}s, "
              f"{assessed / seconds:,.0f} cases/s ({cpu:.1f} CPU s, all processes)")
        print(f"          {summary['rating_changed']} change rating {summary['transitions']}, "
              f"{summary['invalid']} invalid, {report['rules_reevaluated']} rule(s) re-evaluated under the head")
        print(f"ratio     impact / baseline: wall time {(seconds / assessed) / (base_seconds / count):.2f}, "
              f"CPU time {(cpu / assessed) / (base_cpu / count):.2f} (per case; load average now "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        if n >= 10_000:
            verdict = "within" if seconds * 10_000 / n <= 60 else "OVER"
            print(f"target    10,000 files within 60 s: {verdict} ({seconds * 10_000 / n:.1f}s per 10,000)")


if __name__ == "__main__":
    main()
