"""`bcapi rules check` output: text, JSON, SARIF 2.1.0 (code scanning) and GitHub annotations."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from .ruleset import RulesetProblem

FILE_RULE = "ruleset-file"  # the SARIF rule id of problems that concern no one rule
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render_text(problems: Iterable[RulesetProblem]) -> str:
    return "\n".join(str(p) for p in problems)


def render_json(problems: Iterable[RulesetProblem]) -> str:
    return json.dumps({"problems": [p.to_dict() for p in problems]}, indent=2)


def shown_path(file: str | os.PathLike) -> str:
    """`file` relative to the working directory when it is under it (as CI annotations want)."""
    path = Path(file)
    if path.is_absolute():
        with contextlib.suppress(ValueError):
            return path.relative_to(Path.cwd()).as_posix()
    return str(file)


def artifact_uri(file: str) -> str:
    """A relative URI for files under the working directory (as code scanning wants), else file://."""
    shown = Path(shown_path(file))
    return shown.as_uri() if shown.is_absolute() else quote(shown.as_posix())


def render_sarif(problems: list[RulesetProblem], *, version: str) -> str:
    rule_ids = list(dict.fromkeys(p.rule_id or FILE_RULE for p in problems))
    rules = [{"id": rule_id, "name": rule_id,
              "shortDescription": {"text": "The ruleset file is well-formed" if rule_id == FILE_RULE
                                   else f"Rule {rule_id} is well-formed and refers only to what exists"},
              "defaultConfiguration": {"level": "error"}} for rule_id in rule_ids]
    results = []
    for problem in problems:
        rule_id = problem.rule_id or FILE_RULE
        location = {"physicalLocation": {"artifactLocation": {"uri": artifact_uri(problem.file)}}}
        if problem.line:
            region = {"startLine": problem.line}
            if problem.column:
                region["startColumn"] = problem.column
            location["physicalLocation"]["region"] = region
        results.append({"ruleId": rule_id, "ruleIndex": rule_ids.index(rule_id), "level": "error",
                        "message": {"text": problem.message}, "locations": [location]})
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "bcapi rules check", "version": version, "rules": rules}},
        "invocations": [{"executionSuccessful": True}],
        "columnKind": "unicodeCodePoints",
        "results": results}]}
    return json.dumps(log, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(problems: Iterable[RulesetProblem]) -> str:
    """GitHub Actions workflow commands: each problem annotates its line of the YAML in the PR."""
    lines = []
    for p in problems:
        props = [f"file={_escape_property(shown_path(p.file))}"]
        if p.line:
            props.append(f"line={p.line}")
            if p.column:
                props.append(f"col={p.column}")
        props.append(f"title={_escape_property(p.rule_id or 'ruleset')}")
        lines.append(f"::error {','.join(props)}::{_escape_data(p.message)}")
    return "\n".join(lines)
