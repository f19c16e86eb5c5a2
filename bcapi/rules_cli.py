"""`bcapi rules ...`: the checks CI runs on every rule change."""
from __future__ import annotations

import json
from pathlib import Path

import click

from bcapi.config import DEFAULT_RULES


@click.group()
def rules() -> None:
    """Check, test and compare rulesets."""


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(paths: tuple[Path, ...], fmt: str) -> None:
    """Report every problem in each ruleset (default: the reference ruleset); exit 1 on any."""
    from bcapi.engine import InvalidRuleset, load_ruleset

    problems = []
    for path in paths or (DEFAULT_RULES,):
        try:
            ruleset = load_ruleset(path)
            if fmt == "text":
                click.echo(f"{path}: ok ({len(ruleset.rules)} rules, digest {ruleset.digest[:12]})", err=True)
        except InvalidRuleset as exc:
            problems.extend(exc.problems)
    if fmt == "json":
        click.echo(json.dumps({"problems": [p.to_dict() for p in problems]}, indent=2))
    else:
        for problem in problems:
            click.echo(str(problem))
    if problems:
        raise click.exceptions.Exit(1)


@rules.command("test")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tests", "tests_dir", type=click.Path(file_okay=False, path_type=Path),
              help="folder of rule tests (default: tests/ beside the ruleset)")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=0, show_default=True)
def test(path: Path | None, tests_dir: Path | None, min_coverage: float) -> None:
    """Run the ruleset's own fixtures; show expected against actual; report coverage."""
    from bcapi.engine import InvalidRuleset, load_ruleset
    from bcapi.engine.ruletests import run_rule_tests

    path = path or DEFAULT_RULES
    try:
        ruleset = load_ruleset(path)
    except InvalidRuleset as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        raise click.exceptions.Exit(1) from None
    folder = tests_dir or path.parent / "tests"
    report = run_rule_tests(ruleset, sorted(folder.glob("*.yaml")))
    failed = [r for r in report.results if not r.passed]
    for result in failed:
        click.echo(result.describe())
    click.echo(f"{len(report.results) - len(failed)} passed, {len(failed)} failed")
    click.echo(f"coverage: {report.coverage_pct:.1f}% of rules have a passing and a failing fixture"
               + (f"; uncovered: {', '.join(report.uncovered)}" if report.uncovered else ""))
    if failed or report.coverage_pct < min_coverage:
        raise click.exceptions.Exit(1)
