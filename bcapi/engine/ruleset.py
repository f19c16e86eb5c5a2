"""Load a ruleset file, check all of it, and compile its rules.

Every problem is collected — YAML syntax and duplicate keys, the file's JSON Schema, duplicate
rule ids, unknown criteria and sources, undefined parameters, CEL that does not parse or names
fields the document schema lacks, pointers into fields that do not exist — and reported at
once as `RulesetProblem`s with file, line and rule id, in the same spirit as findings.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from bcapi import data

from . import cel
from .evaluate import RuleCompileError, compile_rule
from .model import Criterion, Rule, Ruleset, Source
from .schema_paths import document_schema, pointer_exists

RULESET_SCHEMA_PATH = data.ruleset_schema()


@dataclass(frozen=True)
class RulesetProblem:
    file: str
    line: int | None
    rule_id: str | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.rule_id or '-'} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "column": self.column,
                "rule_id": self.rule_id, "message": self.message}


class InvalidRuleset(Exception):
    """The ruleset file has problems; `problems` lists every one."""

    def __init__(self, problems: list[RulesetProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems[:5])
                         + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))


@lru_cache(maxsize=1)
def _ruleset_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(RULESET_SCHEMA_PATH.read_text()))


def load_ruleset(path: str | Path) -> Ruleset:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRuleset([RulesetProblem(str(path), None, None, f"cannot read the file: {exc}")]) from exc
    return parse_ruleset(text, str(path))


def parse_ruleset(text: str, filename: str = "<ruleset>") -> Ruleset:
    """The Ruleset in `text`, or InvalidRuleset listing every problem found.

    Compiling a ruleset's expressions takes a second or two, so the same text (from the same
    file name, which its problems would name) is compiled once a process: every app a process
    makes (a test's, a worker's) and every CLI command then shares one immutable Ruleset.
    """
    key = (filename, text)
    ruleset = _COMPILED.get(key)
    if ruleset is None:
        ruleset = _Loader(text, filename).load()
        if len(_COMPILED) >= _COMPILED_MAX:
            del _COMPILED[next(iter(_COMPILED))]  # the oldest
        _COMPILED[key] = ruleset
    return ruleset


_COMPILED: dict[tuple[str, str], Ruleset] = {}
_COMPILED_MAX = 8


def _plain(node: Any) -> Any:
    """ruamel's commented containers and scalars as plain JSON-ish values (floats as Decimal)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return Decimal(repr(float(node)))
    if isinstance(node, str):
        return str(node)
    return node


def _jsonable(node: Any) -> Any:
    if isinstance(node, Decimal):
        return float(node)
    if isinstance(node, dict):
        return {k: _jsonable(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonable(v) for v in node]
    return node


class _Loader:
    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self.problems: list[RulesetProblem] = []

    def problem(self, message: str, line: int | None = None, rule_id: str | None = None,
                column: int | None = None) -> None:
        self.problems.append(RulesetProblem(self.filename, line, rule_id, message, column))

    def fail(self) -> InvalidRuleset:
        self.problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        return InvalidRuleset(self.problems)

    def load(self) -> Ruleset:
        yaml = YAML(typ="rt")
        try:
            try:
                raw = yaml.load(self.text)
            except DuplicateKeyError:
                # Report every duplicated key, then go on (the first value counts) to find the rest.
                for line, first, key, rule_id in _duplicate_keys(yaml.compose(self.text)):
                    self.problem(f"duplicate key '{key}' (first on line {first})", line, rule_id)
                yaml = YAML(typ="rt")
                yaml.allow_duplicate_keys = True
                raw = yaml.load(self.text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            self.problem(f"YAML: {exc.problem or exc.context}" + (f" ({exc.context})" if exc.problem and exc.context else ""),
                         mark.line + 1 if mark else None, column=mark.column + 1 if mark else None)
            raise self.fail() from None
        except Exception as exc:  # ruamel raises several unrelated types for bad input
            self.problem(f"YAML: {exc}")
            raise self.fail() from None
        if not isinstance(raw, dict):
            self.problem("the file must be a YAML mapping (ruleset, sources, parameters, criteria, rules ...)", 1)
            raise self.fail()
        self.raw = raw
        data = _plain(raw)
        broken_rules: set[int] = set()
        for error in _ruleset_validator().iter_errors(_jsonable(data)):
            path = list(error.absolute_path)
            self.problem(f"{'/'.join(map(str, path)) or 'file'}: {error.message}",
                         self.line_of(path), self.rule_id_at(data, path))
            in_a_rule = len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int)
            broken_rules.add(path[1] if in_a_rule else -1)
        if -1 in broken_rules:
            raise self.fail()
        # Only some rules are malformed: check the rest too, so that every problem shows at once.
        return self.build(data, skip=broken_rules)

    def line_of(self, path: list) -> int | None:
        """1-based line of the node at `path` in the YAML, or of its nearest ancestor."""
        node, line = self.raw, 1
        for key in path:
            try:
                if isinstance(node, dict):
                    line = node.lc.key(key)[0] + 1
                elif isinstance(node, list):
                    line = node.lc.item(key)[0] + 1
                node = node[key]
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        return line

    @staticmethod
    def rule_id_at(data: dict, path: list) -> str | None:
        if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
            rules = data.get("rules") or []
            if path[1] < len(rules) and isinstance(rules[path[1]], dict):
                rule_id = rules[path[1]].get("id")
                return rule_id if isinstance(rule_id, str) else None
        return None

    def build(self, data: dict, skip: set[int] = frozenset()) -> Ruleset:
        criteria = tuple(Criterion(c["id"], c["title"], Decimal(c["weight"]), c.get("description", ""))
                         for c in data["criteria"])
        seen_criteria: set[str] = set()
        for i, c in enumerate(criteria):
            if c.id in seen_criteria:
                self.problem(f"criterion '{c.id}' is defined twice", self.line_of(["criteria", i]))
            seen_criteria.add(c.id)
        thresholds = {k: Decimal(v) for k, v in data["rating"].items()}
        if thresholds["amber"] > thresholds["green"]:
            self.problem("rating.amber must not be above rating.green", self.line_of(["rating"]))
        sources = {k: Source(k, v["title"], v.get("url")) for k, v in data["sources"].items()}
        params = data["parameters"]
        variables = {"doc": document_schema(), "params": {
            "type": "object", "properties": {k: {} for k in params}, "additionalProperties": False}}

        rules: list[Rule] = []
        seen_ids: dict[str, int] = {}
        for i, spec in enumerate(data["rules"]):
            if i in skip:
                continue
            line = self.line_of(["rules", i])
            rule_id = spec["id"]
            if rule_id in seen_ids:
                self.problem(f"duplicate rule id (first defined on line {seen_ids[rule_id]})", line, rule_id)
            else:
                seen_ids[rule_id] = line or 0
            if spec["criterion"] not in seen_criteria:
                self.problem(f"unknown criterion '{spec['criterion']}' (criteria: {', '.join(sorted(seen_criteria))})",
                             self.line_of(["rules", i, "criterion"]), rule_id)
            source_ids = (spec["source"],) if isinstance(spec["source"], str) else tuple(spec["source"])
            for s in source_ids:
                if s not in sources:
                    self.problem(f"unknown source '{s}' (add it under sources:)",
                                 self.line_of(["rules", i, "source"]), rule_id)
            if "where" in spec and "each" not in spec:
                self.problem("'where' needs 'each'", self.line_of(["rules", i, "where"]), rule_id)
            for pointer in spec["fields"]:
                if not pointer_exists(pointer, allow_index="each" in spec):
                    self.problem(f"field pointer {pointer} is not a field of the business-case document",
                                 self.line_of(["rules", i, "fields"]), rule_id)
            try:
                evaluate = compile_rule(spec, variables)
            except RuleCompileError as exc:
                for key, error in exc.errors:
                    at_line, at_column = self._expression_position(i, key, error)
                    self.problem(f"{key}: {error.message}", at_line, rule_id, at_column)
                continue
            rules.append(Rule(
                id=rule_id, criterion=spec["criterion"], severity=spec["severity"], title=spec["title"],
                guidance=" ".join(spec["guidance"].split()), source=source_ids, fields=tuple(spec["fields"]),
                line=line or 0, spec=spec, evaluate=evaluate))
        if self.problems:
            raise self.fail()
        return Ruleset(
            id=data["ruleset"]["id"], version=data["ruleset"]["version"], title=data["ruleset"]["title"],
            digest=hashlib.sha256(self.text.encode("utf-8")).hexdigest(), text=self.text,
            criteria=criteria, rules=tuple(rules), parameters=params, sources=sources,
            severity_weights={k: Decimal(v) for k, v in data["severity_weights"].items()},
            thresholds=thresholds)

    def _expression_position(self, index: int, key: str, error: cel.CelError) -> tuple[int | None, int | None]:
        """The file line and column of a CEL error in rule `index`'s `key`.

        Multi-line expressions are compiled with their whitespace collapsed, so the error's
        position is found again by counting non-blank characters through the YAML text.
        """
        line = self.line_of(["rules", index, key])
        value = self.raw["rules"][index].get(key)
        if line is None or not isinstance(value, str):
            return line, None
        if key != "message" and error.column:
            source = " ".join(value.split()) if "\n" in value else value
            lines = source.split("\n")
            offset = sum(len(text) + 1 for text in lines[:(error.line or 1) - 1]) + error.column - 1
            found = self._nth_nonblank(line, key, sum(not c.isspace() for c in source[:offset]))
            if found:
                return found
        # Message placeholders, or a position not found: the expression's first line.
        if error.line:
            is_block = self.text.splitlines()[line - 1].rstrip().endswith((">", "|", ">-", "|-"))
            return line + (error.line if is_block else error.line - 1), None
        return line, None

    def _nth_nonblank(self, line: int, key: str, count: int) -> tuple[int, int] | None:
        """(line, column), 1-based, of the non-blank character after `count` others in the value
        of `key:` on `line`, skipping a block-scalar indicator or an opening quote."""
        lines = self.text.splitlines()
        head = lines[line - 1]
        start = head.find(":", head.find(key)) + 1
        if re.fullmatch(r"\s*[|>][-+0-9]*\s*(#.*)?", head[start:]):
            row, column = line, len(head)  # the value starts on the next line
        else:
            row, column = line, start
            stripped = head[start:].lstrip()
            if stripped[:1] in ("'", '"'):
                column = len(head) - len(stripped) + 1
        while row <= len(lines):
            text = lines[row - 1]
            for position in range(column, len(text)):
                if not text[position].isspace():
                    if count == 0:
                        return row, position + 1
                    count -= 1
            row, column = row + 1, 0
        return None


def _duplicate_keys(root: Any) -> list[tuple[int, int, str, str | None]]:
    """(line, first line, key, rule id) of every key given twice in one mapping of the YAML."""
    found: list[tuple[int, int, str, str | None]] = []

    def walk(node: Any, rule_id: str | None, in_rules: bool) -> None:
        if isinstance(node, SequenceNode):
            for item in node.value:
                walk(item, _id_of(item) if in_rules else rule_id, False)
        elif isinstance(node, MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, ScalarNode) else None
                if name in first:
                    found.append((key.start_mark.line + 1, first[name], name, rule_id))
                elif name is not None:
                    first[name] = key.start_mark.line + 1
                walk(value, rule_id, node is root and name == "rules")

    def _id_of(node: Any) -> str | None:
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.value == "id" and isinstance(value, ScalarNode):
                    return value.value
        return None

    walk(root, None, False)
    return found
