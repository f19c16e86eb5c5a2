"""`bcapi rules impact` output: text for a terminal, JSON for tools, Markdown for a pull request."""
from __future__ import annotations

from typing import Any

from bcapi.document import dumps

from .impact import ChangedRow, ImpactSummary
from .model import Ruleset


def _arrow(transition: str) -> str:
    return transition.replace("→", " → ")


def _counts(counter: Any) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common()) or "none"


def _ruleset_line(label: str, ruleset: Ruleset) -> str:
    return f"{label} ({ruleset.id} {ruleset.version}, {ruleset.digest[:12]})"


def headline(summary: ImpactSummary) -> str:
    if not summary.changes:
        text = f"No impact: {summary.cases} case(s) assessed, none changes rating, score or findings."
    else:
        text = f"{summary.rating_changes} of {summary.cases} case(s) change rating"
        others = summary.changes - summary.rating_changes
        text += f"; {others} more change only score or findings." if others else "."
    if summary.invalid_count:
        text += f" {summary.invalid_count} case(s) could not be assessed (invalid)."
    return text


def render_text(summary: ImpactSummary, base: tuple[str, Ruleset], head: tuple[str, Ruleset], *,
                reevaluated: int, max_rows: int) -> str:
    lines = [f"base: {_ruleset_line(*base)}", f"head: {_ruleset_line(*head)}",
             f"rules evaluated under the head: {reevaluated} of {len(head[1].rules)} "
             "(the others are unchanged and share the base's outcome)", "", headline(summary)]
    if summary.cases:
        lines.append(f"ratings before: {_counts(summary.ratings_before)}; after: {_counts(summary.ratings_after)}")
    if summary.rating_changes:
        lines.append("rating changes: " + ", ".join(f"{_arrow(t)} {n}" for t, n in summary.transitions.most_common()))
    for criterion, transitions in sorted(summary.by_criterion.items()):
        lines.append(f"  {criterion}: " + ", ".join(f"{_arrow(t)} {n}" for t, n in transitions.most_common()))
    if summary.appeared:
        lines.append("now failing: " + ", ".join(f"{r} in {n}" for r, n in sorted(summary.appeared.items())))
    if summary.disappeared:
        lines.append("no longer failing: " + ", ".join(f"{r} in {n}" for r, n in sorted(summary.disappeared.items())))
    rows = summary.rows()
    if rows:
        width = min(max(len(r.case) for r in rows), 60)
        lines += ["", f"{'case':<{width}}  {'reference':<16}  {'rating':<15}  {'score':<14}  findings"]
        for row in rows[:max_rows]:
            findings = " ".join([*(f"+{r}" for r in row.appeared), *(f"-{r}" for r in row.disappeared)])
            lines.append(f"{row.case:<{width}}  {(row.reference or '-'):<16}  "
                         f"{row.rating[0] + ' → ' + row.rating[1]:<15}  "
                         f"{f'{row.score[0]} → {row.score[1]}':<14}  {findings}".rstrip())
        if len(rows) > max_rows:
            lines.append(f"... and {len(rows) - max_rows} more changed case(s) (--max-rows, or --format json)")
    if summary.invalid:
        lines += ["", f"invalid cases ({summary.invalid_count}), not assessed:"]
        lines += [f"  {bad.case}: {bad.reason}" for bad in sorted(summary.invalid, key=lambda b: b.case)[:max_rows]]
        if summary.invalid_count > min(max_rows, len(summary.invalid)):
            lines.append(f"  ... and {summary.invalid_count - min(max_rows, len(summary.invalid))} more")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else _cell(text)


def render_markdown(summary: ImpactSummary, base: tuple[str, Ruleset], head: tuple[str, Ruleset], *,
                    reevaluated: int, max_rows: int) -> str:
    (base_label, base_rules), (head_label, head_rules) = base, head
    out = ["### Rule change impact", "",
           f"{_code(base_label)} ({_cell(base_rules.version)}) → {_code(head_label)} ({_cell(head_rules.version)}): "
           f"{reevaluated} of {len(head_rules.rules)} rules evaluated under the head, the rest unchanged.", "",
           f"**{_cell(headline(summary))}**", ""]
    if summary.cases:
        out += ["| rating | before | after |", "|---|--:|--:|"]
        out += [f"| {r} | {summary.ratings_before[r]} | {summary.ratings_after[r]} |"
                for r in ("green", "amber", "red")]
        out.append("")
    if summary.rating_changes:
        out += ["| rating change | cases |", "|---|--:|"]
        out += [f"| {_arrow(t)} | {n} |" for t, n in summary.transitions.most_common()]
        out.append("")
    if summary.by_criterion:
        out += ["| criterion | change | cases |", "|---|---|--:|"]
        out += [f"| {_cell(c)} | {_arrow(t)} | {n} |" for c, ts in sorted(summary.by_criterion.items())
                for t, n in ts.most_common()]
        out.append("")
    if summary.appeared or summary.disappeared:
        out += ["| rule | now fails in | no longer fails in |", "|---|--:|--:|"]
        for rule_id in sorted({*summary.appeared, *summary.disappeared}):
            out.append(f"| {_code(rule_id)} | {summary.appeared[rule_id]} | {summary.disappeared[rule_id]} |")
        out.append("")
    rows = summary.rows()
    if rows:
        out += ["| case | reference | rating | score | findings appeared | findings disappeared |",
                "|---|---|---|---|---|---|"]
        out += [_markdown_row(row) for row in rows[:max_rows]]
        if len(rows) > max_rows:
            out.append(f"\n… and {len(rows) - max_rows} more changed case(s).")
        out.append("")
    if summary.invalid:
        out += [f"<details><summary>{summary.invalid_count} invalid case(s), not assessed</summary>", "",
                "| case | problem |", "|---|---|"]
        shown = sorted(summary.invalid, key=lambda b: b.case)[:max_rows]
        out += [f"| {_code(b.case)} | {_cell(b.reason)} |" for b in shown]
        if summary.invalid_count > len(shown):
            out.append(f"\n… and {summary.invalid_count - len(shown)} more.")
        out += ["", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"


def _markdown_row(row: ChangedRow) -> str:
    rating = f"{row.rating[0]} → **{row.rating[1]}**" if row.rating_changed else row.rating[1]
    score = f"{row.score[0]} → {row.score[1]}" if row.score[0] != row.score[1] else str(row.score[1])
    return (f"| {_code(row.case)} | {_cell(row.reference or '')} | {rating} | {score} | "
            f"{', '.join(row.appeared)} | {', '.join(row.disappeared)} |")


def render_json(summary: ImpactSummary, base: tuple[str, Ruleset], head: tuple[str, Ruleset], *,
                reevaluated: int) -> str:
    def side(label: str, ruleset: Ruleset) -> dict[str, Any]:
        return {"source": label, **ruleset.ref()}

    return dumps({"base": side(*base), "head": side(*head), "rules_reevaluated": reevaluated,
                  "summary": summary.to_dict(), "changed": [row.to_dict() for row in summary.rows()],
                  "invalid": [{"case": b.case, "reason": b.reason}
                              for b in sorted(summary.invalid, key=lambda b: b.case)]}, indent=2)
