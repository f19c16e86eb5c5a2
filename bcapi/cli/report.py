"""An assessment as text for a terminal: verdict, then each criterion with its failures first."""
from __future__ import annotations

from typing import Any

COLOURS = {"green": "\033[32m", "amber": "\033[33m", "red": "\033[31m", "bold": "\033[1m", "dim": "\033[2m"}
RESET = "\033[0m"
MARKS = {"fail": "FAIL", "error": "ERROR", "pass": "pass", "not_applicable": "n/a"}


def render_text(assessment: dict[str, Any], *, color: bool = False, show_passed: bool = True) -> str:
    def paint(text: str, style: str) -> str:
        return f"{COLOURS[style]}{text}{RESET}" if color and style in COLOURS else text

    ruleset = assessment["ruleset"]
    lines = [
        paint(f"Overall: {assessment['rating'].upper()}  score {assessment['score']}/100", "bold"),
        paint(f"ruleset {ruleset['id']} {ruleset['version']} ({ruleset['digest'][:12]})", "dim"),
    ]
    for criterion in assessment["criteria"]:
        lines += ["", paint(f"{criterion['title']}: {criterion['rating'].upper()} {criterion['score']}/100 "
                            f"({criterion['passed']} passed, {criterion['failed']} failed, "
                            f"{criterion['not_applicable']} n/a)", criterion["rating"])]
        for finding in (f for f in assessment["findings"] if f["criterion"] == criterion["id"]):
            if finding["status"] in ("fail", "error"):
                lines.append(f"  {paint(MARKS[finding['status']], 'red')} [{finding['severity']}] "
                             f"{finding['rule_id']}: {finding['message']}")
                if finding["fields"]:
                    lines.append(f"      at {', '.join(finding['fields'])}")
                lines.append(f"      what to do: {finding['guidance']}")
            elif show_passed and finding["status"] == "pass":
                lines.append(paint(f"  pass [{finding['severity']}] {finding['rule_id']}: {finding['title']}", "dim"))
    return "\n".join(lines)
