"""`compile_rule_function`: a whole rule (`when`, `each`, `where`, `check` and its message's
placeholders) fused into one fast Python function of the document and the parameters."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .functions import RUNTIME, compile_generated
from .generator import Generator
from .memo import memo_plan
from .nodes import ListLit, Node, Pos
from .parser import parse


def compile_rule_function(when: str | None, each: str | None, where: str | None, check: str,
                          message: list[str], variables: Mapping[str, dict | None],
                          item_variables: Mapping[str, dict | None], *, passed: Any, not_applicable: Any,
                          failed: Callable[[tuple], Any], failed_items: Callable[[list], Any],
                          careful: Callable[[dict, dict], Any], max_messages: int) -> Callable[[dict, dict], Any]:
    """One Python function `(document, params) -> outcome` that runs a whole rule the fast way:
    `when`, `each` with its `where` and `check` per item, and on failure the values of the
    message's placeholders (`message`, in order); `doc` and `params` are its arguments and
    `item` and `index` loop variables, so a rule costs one call, not one per expression and
    item. Sub-expressions are memoized across the check and its message (see `memo_plan`), so
    a message that repeats the check's computation does not pay for it twice, and in an `each`
    rule those that do not read `item` or `index` are computed once for all the items.

    It returns `passed` or `not_applicable`; for a failed rule without `each`,
    `failed(values)` with the placeholders' values; for a failed `each` rule,
    `failed_items([(index, values), ...])` for the failing items, values None after the first
    `max_messages`. Whenever anything is out of the ordinary (an error, a value of the wrong
    type anywhere: `when`, `where` or `check` not true or false, `each` not a list) it returns
    `careful(document, params)` instead, which decides. Every expression must already have
    compiled with `compile_expression`: this reports no problems of its own."""
    writer = _RuleWriter(item_variables if each is not None else variables)
    w = writer.emit
    if when is not None:
        (value,) = writer.group([when])
        w(f"if {value} is not True:")
        w(f"    if {value} is False:")
        w("        return _NOT_APPLICABLE")
        w("    raise _Fallback")
    if each is None:
        (value,) = writer.group([check, *message], conditional=1)
        w(f"if {value} is not True:")
        w(f"    if {value} is not False:")
        w("        raise _Fallback")
        writer.values(lambda values: f"return _failed(({values}))")
        w("return _PASSED")
    else:
        (items,) = writer.group([each])
        w(f"if type({items}) is not list:")
        w("    raise _Fallback")
        w("_considered = 0")
        w("_failing = None")
        writer.hoist_here()
        w(f"for v_index, v_item in enumerate({items}):")
        writer.gen.depth += 1
        if where is not None:
            (value,) = writer.group([where])
            w(f"if {value} is not True:")
            w(f"    if {value} is False:")
            w("        continue")
            w("    raise _Fallback")
        w("_considered += 1")
        (value,) = writer.group([check, *message], conditional=1)
        w(f"if {value} is not True:")
        w(f"    if {value} is not False:")
        w("        raise _Fallback")
        w("    if _failing is None:")
        w("        _failing = []")
        w(f"    if len(_failing) >= {max_messages}:")
        w("        _failing.append((v_index, None))")
        w("        continue")
        writer.values(lambda values: f"_failing.append((v_index, ({values})))")
        writer.gen.depth -= 1
        w("if _considered == 0:")
        w("    return _NOT_APPLICABLE")
        w("if _failing is None:")
        w("    return _PASSED")
        w("return _failed_items(_failing)")
    return writer.function({"_PASSED": passed, "_NOT_APPLICABLE": not_applicable, "_failed": failed,
                            "_failed_items": failed_items, "_careful": careful}, check)


class _RuleWriter:
    """Writes one function for a rule (see compile_rule_function) with one fast `Generator`."""

    def __init__(self, variables: Mapping[str, dict | None]):
        self.gen = Generator("", variables, checked=False)
        self.gen.roots = {"doc": "v_doc", "params": "v_params", "item": "v_item", "index": "v_index"}
        self.gen.depth = 2  # in a try block
        self.pending: list[tuple[str, Node]] = []
        self._mark = (0, 2)
        self._hoist: tuple[int, int] | None = None

    def emit(self, line: str) -> None:
        self.gen.emit(line)

    def hoist_here(self) -> None:
        """From now on, memos of forms that read neither `item` nor `index` are made empty here."""
        self._hoist = (len(self.gen.lines), self.gen.depth)
        self.gen.outer_tables = {}
        self.gen.outer_inits = []

    def group(self, sources: list[str], conditional: int | None = None) -> list[str]:
        """Generate the first `conditional` expressions (all, if None) here and return their
        values' names; the others are generated later by `values`. All of them share memos."""
        gen = self.gen
        trees = [parse(source) for source in sources]
        gen.memo = memo_plan(ListLit(Pos(None, None, 0, 0), list(trees)))
        gen.tables = {}
        gen.table_inits = []
        mark, depth = len(gen.lines), gen.depth
        count = len(sources) if conditional is None else conditional
        names = [self._value(source, tree) for source, tree in zip(sources[:count], trees[:count])]
        self.pending = list(zip(sources[count:], trees[count:]))
        self._mark = (mark, depth)
        gen.lines[mark:mark] = [(depth, init) for init in gen.table_inits]
        return names

    def values(self, statement: Callable[[str], str]) -> None:
        """Generate the pending expressions of the last group one level in, then `statement`
        of their values (as the items of a tuple)."""
        gen = self.gen
        gen.depth += 1
        before = len(gen.table_inits)
        names = [self._value(source, tree) for source, tree in self.pending]
        gen.emit(statement("".join(f"{n}, " for n in names)))
        gen.depth -= 1
        if len(gen.table_inits) > before:  # memos first met here: made empty before the group
            mark, depth = self._mark
            gen.lines[mark:mark] = [(depth, init) for init in gen.table_inits[before:]]

    def _value(self, source: str, tree: Node) -> str:
        self.gen.source = source
        return self.gen.name_of(self.gen.gen(tree)).code

    def function(self, extra: dict[str, Any], check: str) -> Callable[[dict, dict], Any]:
        gen = self.gen
        if self._hoist is not None and gen.outer_inits:
            mark, depth = self._hoist
            gen.lines[mark:mark] = [(depth, init) for init in gen.outer_inits]
        body = [("    " * depth) + line for depth, line in gen.lines]
        python_source = "\n".join(["def _rule(v_doc, v_params):", "    try:", *body,
                                    "    except Exception:", "        return _careful(v_doc, v_params)", ""])
        namespace: dict[str, Any] = dict(RUNTIME)
        namespace.update(gen.constants)
        namespace.update(extra)
        exec(compile_generated(python_source, f"<rule {check[:60]!r}>"), namespace)  # noqa: S102
        function = namespace["_rule"]
        function.python_source = python_source
        return function
