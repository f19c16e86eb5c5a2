"""Compile one rule's expressions once, and evaluate the rule against a document.

A rule's evaluator never raises: a run-time failure of its CEL becomes an `error` outcome,
which scores as a failure (never a silent pass, never a 500).
"""
from __future__ import annotations

from typing import Any, Callable

from . import cel
from .model import RuleOutcome
from .template import Placeholder, TemplateError, render, split_template

MAX_ITEMS_IN_MESSAGE = 5


class RuleCompileError(Exception):
    """One or more of a rule's expressions do not compile; `errors` pairs each key with its error."""

    def __init__(self, errors: list[tuple[str, cel.CelError]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {e.message}" for k, e in errors))


def _items_type(compiled: cel.Compiled) -> dict | None:
    """The static type of an `each` list's items, so that `item.field` is checked too."""
    result = getattr(compiled, "result_type", None)
    if isinstance(result, dict) and result.get("type") == "array":
        return result.get("items")
    return None


def compile_rule(spec: dict[str, Any], variables: dict[str, Any]) -> Callable[[dict, dict], RuleOutcome]:
    errors: list[tuple[str, cel.CelError]] = []

    def compiled(key: str, env: dict[str, Any]) -> cel.Compiled | None:
        if key not in spec:
            return None
        try:
            return cel.compile_expression(" ".join(spec[key].split()) if "\n" in spec[key] else spec[key], env)
        except cel.CelError as exc:
            errors.append((key, exc))
            return None

    when = compiled("when", variables)
    each = compiled("each", variables)
    item_env = variables
    if "each" in spec:
        item_env = {**variables, "item": _items_type(each) if each else None, "index": {"type": "integer"}}
    where = compiled("where", item_env)
    check = compiled("check", item_env)
    message_parts: list[str | Callable] = []
    try:
        for part in split_template(spec["message"]):
            if isinstance(part, Placeholder):
                try:
                    message_parts.append(cel.compile_expression(part.source, item_env))
                except cel.CelError as exc:
                    errors.append(("message", exc))
            else:
                message_parts.append(part)
    except TemplateError as exc:
        errors.append(("message", cel.CelSyntaxError(str(exc), column=exc.column)))
    if errors:
        raise RuleCompileError(errors)

    pointers: tuple[str, ...] = tuple(spec["fields"])
    reads = tuple(dict.fromkeys(p for c in (when, each, where, check) if c for p in c.paths))

    def message_for(activation: dict) -> str:
        try:
            return render(message_parts, activation)
        except cel.CelError as exc:
            return f"{spec['title']} (the message could not be filled in: {exc.message})"

    def as_bool(compiled_expr: cel.Compiled, activation: dict, key: str) -> bool:
        value = compiled_expr(activation)
        if value is True or value is False:
            return value
        raise cel.CelEvalError(f"'{key}' gave {type(value).__name__}, not true or false")

    def evaluate(document: dict, params: dict) -> RuleOutcome:
        activation = {"doc": document, "params": params}
        try:
            if when is not None and not as_bool(when, activation, "when"):
                return RuleOutcome("not_applicable")
            if each is None:
                if as_bool(check, activation, "check"):
                    return RuleOutcome("pass")
                return RuleOutcome("fail", message_for(activation), pointers)
            items = each(activation)
            if not isinstance(items, list):
                raise cel.CelEvalError(f"'each' gave {type(items).__name__}, not a list")
            considered, failed_messages, failed_pointers = 0, [], []
            for index, item in enumerate(items):
                scope = {**activation, "item": item, "index": index}
                if where is not None and not as_bool(where, scope, "where"):
                    continue
                considered += 1
                if not as_bool(check, scope, "check"):
                    failed_messages.append(message_for(scope))
                    failed_pointers.extend(p.replace("{index}", str(index)) for p in pointers)
            if considered == 0:
                return RuleOutcome("not_applicable")
            if not failed_messages:
                return RuleOutcome("pass")
            shown = failed_messages[:MAX_ITEMS_IN_MESSAGE]
            more = len(failed_messages) - len(shown)
            text = " ".join(shown) + (f" (and {more} more)" if more else "")
            return RuleOutcome("fail", text, tuple(dict.fromkeys(failed_pointers)))
        except cel.CelError as exc:
            return RuleOutcome("error", f"The rule could not be evaluated: {exc.message}",
                               tuple(p for p in pointers if "{index}" not in p))

    evaluate.reads = reads  # type: ignore[attr-defined]
    return evaluate
