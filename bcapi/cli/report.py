"""An assessment as text for a terminal.

What sets the rating and the path to green come first, so that a red case with a high score
cannot read as nearly fine; then the ruleset, then each criterion with its failures first.
Styled with click (bcapi.cli.style): `click.echo` drops the styles where there is no terminal.
"""
from __future__ import annotations

from typing import Any

from . import style

MAJORS_LISTED = 3  # more failed major rules than this are named on one line
MARKS = {"fail": "FAIL", "error": "ERROR", "pass": "pass", "not_applicable": "n/a"}


def render_text(assessment: dict[str, Any], *, show_passed: bool = True) -> str:
    ruleset = assessment["ruleset"]
    rating = assessment["rating"]
    lines = [style.rating(f"Overall: {rating.upper()}  score {assessment['score']}/100", rating)]
    lines += _verdict(assessment)
    lines += ["", style.dim(f"ruleset {ruleset['id']} {ruleset['version']} ({ruleset['digest'][:12]})")]
    for criterion in assessment["criteria"]:
        lines += ["", style.rating(f"{criterion['title']}: {criterion['rating'].upper()} {criterion['score']}/100 "
                                   f"({criterion['passed']} passed, {criterion['failed']} failed, "
                                   f"{criterion['not_applicable']} n/a)", criterion["rating"], bold=False)]
        for finding in (f for f in assessment["findings"] if f["criterion"] == criterion["id"]):
            if finding["status"] in ("fail", "error"):
                lines.append(f"  {style.bad(MARKS[finding['status']])} {style.severity(finding['severity'])} "
                             f"{finding['rule_id']}: {finding['message']}")
                if finding["fields"]:
                    lines.append(f"      at {', '.join(finding['fields'])}")
                lines.append(f"      what to do: {finding['guidance']}")
            elif show_passed and finding["status"] == "pass":
                lines.append(style.dim(f"  pass [{finding['severity']}] {finding['rule_id']}: {finding['title']}"))
    return "\n".join(lines)


def _verdict(assessment: dict[str, Any]) -> list[str]:
    """What sets the rating, worst first, and the rules to fix for green, in order."""
    reasons = assessment.get("rating_reasons") or []
    path = assessment.get("path_to_green") or []
    if not reasons:
        return ["Nothing holds this case below green."] if assessment["rating"] == "green" else []
    lines = ["What sets this rating:"]
    majors = [r for r in reasons if r["severity"] == "major"]
    for reason in reasons:
        if reason["severity"] == "major" and len(majors) > MAJORS_LISTED:
            if reason is majors[0]:  # many: one line, as the path to green lists each of them
                lines.append(f"  {style.rating('AMBER', 'amber')} {len(majors)} major rules failed, each of which keeps "
                             f"the case from green: {', '.join(r['rule_id'] for r in majors)}.")
            continue
        rule = f" ({reason['rule_id']})" if reason["rule_id"] else ""
        lines.append(f"  {style.rating(reason['rating'].upper().ljust(5), reason['rating'])} {reason['reason']}{rule}")
    if path:
        lines += ["", f"To reach green, fix these {len(path)} rule(s), in this order:" if len(path) > 1
                  else "To reach green, fix this rule:"]
        width = len(str(len(path)))
        for number, step in enumerate(path, 1):
            lines.append(f"  {str(number).rjust(width)}. {style.severity(step['severity'])} {step['rule_id']}: "
                         f"{step['title']}")
            if step["fields"]:
                lines.append(f"  {' ' * width}  at {', '.join(step['fields'])}")
    return lines
