"""Compile one rule's expressions once, and evaluate the rule against a document.

A rule's evaluator never raises: a run-time failure of its CEL becomes an `error` outcome,
which scores as a failure (never a silent pass, never a 500).

Each rule gets two evaluators. The *careful* one runs each compiled expression on its own
(`when`, `each`, `where`, `check`, the message's placeholders), checks every value and turns
errors into outcomes. The *fast* one, which is what `Rule.evaluate` calls, is the whole rule as
one generated function (`cel.compile_rule_function`); whenever anything is out of the ordinary it
hands the document to the careful one, so the outcome is always the careful one's, only sooner.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NoReturn

from . import cel
from .model import RuleOutcome
from .template import Placeholder, TemplateError, display, render, split_template

MAX_ITEMS_IN_MESSAGE = 5
# The outcomes that carry no message, shared by every evaluation (they are immutable).
PASS = RuleOutcome("pass")
NOT_APPLICABLE = RuleOutcome("not_applicable")


def quick_constructor(cls: type) -> Callable[[dict[str, Any]], Any]:
    """`make(values)`, equal in every respect to `cls(**values)` for a frozen dataclass given
    every field: the generated `__init__` of a frozen dataclass sets each field through
    `object.__setattr__`, which costs several times more than filling the instance's `__dict__`
    at once. Falls back to the constructor for any class this does not hold for."""
    def plain(values: dict[str, Any]) -> Any:
        return cls(**values)

    fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
    if (not fields or "__slots__" in cls.__dict__ or hasattr(cls, "__post_init__")
            or not all(f.init for f in fields) or cls.__init__ is object.__init__):
        return plain
    new = object.__new__

    def make(values: dict[str, Any]) -> Any:
        instance = new(cls)
        instance.__dict__.update(values)
        return instance

    sample = {f.name: f"{f.name}-sample" for f in fields}
    made, constructed = make(sample), cls(**sample)
    if made != constructed or made.__dict__ != constructed.__dict__ or list(made.__dict__) != list(constructed.__dict__):
        return plain
    return make


_outcome = quick_constructor(RuleOutcome)


class RuleCompileError(Exception):
    """One or more of a rule's expressions do not compile; `errors` pairs each key with its error."""

    def __init__(self, errors: list[tuple[str, cel.CelError]]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {e.message}" for k, e in errors))


def _not_bool(value: Any, key: str) -> NoReturn:
    raise cel.CelEvalError(f"'{key}' gave {type(value).__name__}, not true or false")


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

    error_pointers = tuple(p for p in pointers if "{index}" not in p)

    def error(exc: cel.CelError) -> RuleOutcome:
        return RuleOutcome("error", f"The rule could not be evaluated: {exc.message}", error_pointers)

    # The careful evaluator: each expression on its own, every value checked, errors explained.
    # One per shape of rule, so that the common ones (a check, or a `when` and a check) run no
    # test they do not need. Outcomes without a message are shared constants.
    if each is None and when is None:
        def careful(document: dict, params: dict) -> RuleOutcome:
            activation = {"doc": document, "params": params}
            try:
                value = check(activation)
                if value is True:
                    return PASS
                if value is not False:
                    _not_bool(value, "check")
                return RuleOutcome("fail", message_for(activation), pointers)
            except cel.CelError as exc:
                return error(exc)

    elif each is None:
        def careful(document: dict, params: dict) -> RuleOutcome:
            activation = {"doc": document, "params": params}
            try:
                value = when(activation)
                if value is not True:
                    if value is False:
                        return NOT_APPLICABLE
                    _not_bool(value, "when")
                value = check(activation)
                if value is True:
                    return PASS
                if value is not False:
                    _not_bool(value, "check")
                return RuleOutcome("fail", message_for(activation), pointers)
            except cel.CelError as exc:
                return error(exc)

    else:
        def careful(document: dict, params: dict) -> RuleOutcome:
            scope = {"doc": document, "params": params}
            try:
                if when is not None:
                    value = when(scope)
                    if value is not True:
                        if value is False:
                            return NOT_APPLICABLE
                        _not_bool(value, "when")
                items = each(scope)
                if not isinstance(items, list):
                    raise cel.CelEvalError(f"'each' gave {type(items).__name__}, not a list")
                considered, failed_messages, failed_pointers = 0, [], []
                for index, item in enumerate(items):
                    # One scope for every item: the compiled expressions keep no reference to it.
                    scope["item"] = item
                    scope["index"] = index
                    if where is not None:
                        value = where(scope)
                        if value is not True:
                            if value is False:
                                continue
                            _not_bool(value, "where")
                    considered += 1
                    value = check(scope)
                    if value is True:
                        continue
                    if value is not False:
                        _not_bool(value, "check")
                    failed_messages.append(message_for(scope))
                    failed_pointers.extend(p.replace("{index}", str(index)) for p in pointers)
                if considered == 0:
                    return NOT_APPLICABLE
                if not failed_messages:
                    return PASS
                shown = failed_messages[:MAX_ITEMS_IN_MESSAGE]
                more = len(failed_messages) - len(shown)
                text = " ".join(shown) + (f" (and {more} more)" if more else "")
                return RuleOutcome("fail", text, tuple(dict.fromkeys(failed_pointers)))
            except cel.CelError as exc:
                return error(exc)

    # The fast evaluator: the whole rule as one function (cel.compile_rule_function), which
    # hands over to the careful one whenever anything is out of the ordinary, so the outcome is
    # always the careful one's.
    sources = {key: (" ".join(spec[key].split()) if "\n" in spec[key] else spec[key]) if key in spec else None
               for key in ("when", "each", "where", "check")}
    literals = [part if isinstance(part, str) else None for part in message_parts]
    static = " ".join("".join(literals).split()) if None not in literals else None
    # The message as a format string: the literal text with each run of white space made one
    # space (render's normalizing of the whole message then gives the same), `{}` for each
    # placeholder.
    template = "".join("{}" if part is None else ((" " if part[:1].isspace() else "") + " ".join(part.split())
                                                  + (" " if part[-1:].isspace() and part.strip() else ""))
                       .replace("{", "{{").replace("}", "}}") for part in literals)

    def text(values: tuple) -> str:
        """The message with the placeholders' values, as `render` writes it: the white space of
        the whole made single spaces, none at the ends."""
        if static is not None:
            return static
        joined = template.format(*map(display, values))
        # Printable, white space is only single spaces: only the ends are left to trim.
        if "  " not in joined and joined.isprintable():
            return joined.strip()
        return " ".join(joined.split())

    def failed(values: tuple) -> RuleOutcome:
        return _outcome({"status": "fail", "message": text(values), "fields": pointers, "observed": ()})

    def failed_items(failing: list[tuple[int, tuple | None]]) -> RuleOutcome:
        shown = [text(values) for _, values in failing[:MAX_ITEMS_IN_MESSAGE]]
        more = len(failing) - len(shown)
        message = " ".join(shown) + (f" (and {more} more)" if more else "")
        fields = tuple(dict.fromkeys(p.replace("{index}", str(index)) for index, _ in failing for p in pointers))
        return _outcome({"status": "fail", "message": message, "fields": fields, "observed": ()})

    try:
        evaluate = cel.compile_rule_function(
            sources["when"], sources["each"], sources["where"], sources["check"],
            [part.source for part in message_parts if not isinstance(part, str)], variables, item_env,
            passed=PASS, not_applicable=NOT_APPLICABLE, failed=failed, failed_items=failed_items,
            careful=careful, max_messages=MAX_ITEMS_IN_MESSAGE)
    except Exception:  # noqa: BLE001 - what it cannot write is left to the careful evaluator
        evaluate = careful
    evaluate.reads = reads  # type: ignore[attr-defined]
    return evaluate
