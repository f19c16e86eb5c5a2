"""What changed between two rulesets (`bcapi rules diff`): rules, parameters, weights, thresholds.

A rule is matched by id; for a changed rule the keys that differ are named (a change of
layout only, such as re-wrapping a long expression, is marked as such).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bcapi.document import dumps

from .model import Ruleset

@dataclass(frozen=True)
class Change:
    name: str
    before: Any  # None: absent in the base
    after: Any   # None: absent in the head

    def describe(self) -> str:
        if self.before is None:
            return f"{self.name} added ({_show(self.after)})"
        if self.after is None:
            return f"{self.name} removed (was {_show(self.before)})"
        return f"{self.name} {_show(self.before)} → {_show(self.after)}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    keys: tuple[Change, ...]
    layout_only: tuple[str, ...] = ()  # keys whose text differs only in whitespace

    def describe(self) -> str:
        shown = [c.describe() if c.name in ("severity", "criterion") else c.name for c in self.keys]
        shown += [f"{k} (layout only)" for k in self.layout_only]
        return f"{self.rule_id}: {', '.join(shown)}"


@dataclass
class RulesetDiff:
    base: dict[str, str]
    head: dict[str, str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[RuleChange] = field(default_factory=list)
    parameters: list[Change] = field(default_factory=list)
    criteria: list[Change] = field(default_factory=list)
    severity_weights: list[Change] = field(default_factory=list)
    thresholds: list[Change] = field(default_factory=list)
    sources: list[Change] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any((self.added, self.removed, self.changed, self.parameters, self.criteria,
                        self.severity_weights, self.thresholds, self.sources))

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head,
                "rules": {"added": self.added, "removed": self.removed,
                          "changed": [{"rule_id": c.rule_id, "keys": [k.to_dict() for k in c.keys],
                                       "layout_only": list(c.layout_only)} for c in self.changed]},
                "parameters": [c.to_dict() for c in self.parameters],
                "criteria": [c.to_dict() for c in self.criteria],
                "severity_weights": [c.to_dict() for c in self.severity_weights],
                "rating_thresholds": [c.to_dict() for c in self.thresholds],
                "sources": [c.to_dict() for c in self.sources]}


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(" ".join(value.split())) if len(value) < 60 else repr(" ".join(value.split())[:57] + "...")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _map_changes(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    return [Change(k, before.get(k), after.get(k)) for k in dict.fromkeys([*before, *after])
            if before.get(k) != after.get(k) or (k in before) != (k in after)]


def diff_rulesets(base: Ruleset, head: Ruleset) -> RulesetDiff:
    result = RulesetDiff(base={"id": base.id, "version": base.version, "digest": base.digest},
                         head={"id": head.id, "version": head.version, "digest": head.digest})
    old_rules, new_rules = {r.id: r for r in base.rules}, {r.id: r for r in head.rules}
    result.added = [r for r in new_rules if r not in old_rules]
    result.removed = [r for r in old_rules if r not in new_rules]
    for rule_id, rule in new_rules.items():
        if rule_id not in old_rules or old_rules[rule_id].spec == rule.spec:
            continue
        old, new = old_rules[rule_id].spec, rule.spec
        keys, layout = [], []
        for key in dict.fromkeys([*old, *new]):
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            if isinstance(a, str) and isinstance(b, str) and a.split() == b.split():
                layout.append(key)
            else:
                keys.append(Change(key, a, b))
        result.changed.append(RuleChange(rule_id, tuple(keys), tuple(layout)))
    result.parameters = _map_changes(base.parameters, head.parameters)
    result.criteria = _map_changes({c.id: c.weight for c in base.criteria}, {c.id: c.weight for c in head.criteria})
    result.severity_weights = _map_changes(base.severity_weights, head.severity_weights)
    result.thresholds = _map_changes(base.thresholds, head.thresholds)
    result.sources = _map_changes({k: s.title for k, s in base.sources.items()},
                                  {k: s.title for k, s in head.sources.items()})
    return result


def _sections(diff: RulesetDiff) -> list[tuple[str, list[str]]]:
    return [
        ("rules added", diff.added), ("rules removed", diff.removed),
        ("rules changed", [c.describe() for c in diff.changed]),
        ("parameters", [c.describe() for c in diff.parameters]),
        ("criteria weights", [c.describe() for c in diff.criteria]),
        ("severity weights", [c.describe() for c in diff.severity_weights]),
        ("rating thresholds", [c.describe() for c in diff.thresholds]),
        ("sources", [c.describe() for c in diff.sources]),
    ]


def _header(diff: RulesetDiff, base_label: str, head_label: str) -> str:
    return (f"{base_label} ({diff.base['id']} {diff.base['version']}) → "
            f"{head_label} ({diff.head['id']} {diff.head['version']})")


def render_text(diff: RulesetDiff, base_label: str, head_label: str) -> str:
    lines = [_header(diff, base_label, head_label)]
    if diff.empty:
        same = diff.base["digest"] == diff.head["digest"]
        return "\n".join(lines + ["no differences" + ("" if same else
                                  " in rules, parameters, weights or thresholds (only layout, comments or metadata)")])
    for title, items in _sections(diff):
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines += [f"  {item}" for item in items]
    return "\n".join(lines)


def render_markdown(diff: RulesetDiff, base_label: str, head_label: str) -> str:
    lines = ["### Ruleset changes", "", _header(diff, f"`{base_label}`", f"`{head_label}`"), ""]
    if diff.empty:
        return "\n".join(lines + ["No differences in rules, parameters, weights or thresholds.", ""])
    for title, items in _sections(diff):
        if items:
            lines += [f"**{title[0].upper()}{title[1:]}** ({len(items)})", ""]
            lines += [f"- {item}" for item in items]
            lines.append("")
    return "\n".join(lines)


def render_json(diff: RulesetDiff) -> str:
    return dumps(diff.to_dict(), indent=2)
