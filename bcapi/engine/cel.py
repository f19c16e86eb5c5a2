"""Compile rule expressions (a CEL dialect, see docs/rules.md) into Python functions.

    compiled = compile_expression("doc.finance.total <= params.limit", variables)
    compiled({"doc": document, "params": parameters})   # -> True / False / a value

Compilation parses with cel-python's grammar, converts the parse tree to a small AST, checks
names, arities and field paths against the variables' JSON Schemas, and generates the source of
two Python functions which `compile()` turns into code once:

* the *fast* function does member access with plain subscripts (`doc["finance"]["total"]`) and
  arithmetic and comparison with plain operators behind cheap type guards;
* the *checked* function does every step through a helper in `cel_runtime` that explains what
  went wrong. The fast function falls back to it when anything raises, so a missing key is
  reported as "no such key 'total' in doc.finance", never as a bare KeyError. Evaluation has no
  side effects, so running the expression again is safe.

Because evaluation is pure, the fast code may also skip work whose answer it already has:

* a sub-expression that costs a loop or a run-time call and would be computed again for the
  same values (it occurs twice up to the names of its macro variables, or sits in a macro's
  body without reading its variable) is memoized for the evaluation (`_memo_plan`): the
  payback rule's cumulative sums, written for every year `k` and again inside `exists(j, j <
  k && ...)`, are each computed once per year;
* `sum(xs.map(...))` and `sum(xs.filter(...).map(...))` add up in one loop with no list between;
* an absent-tolerant path (`has`, `filled`, `get`) reuses the steps an earlier one walked in
  the same block (`doc.conflicts_of_interest` is looked up once, not once per `get`);
* literal lists a macro runs over are tuples made once; `x in ["a", "b"]`, `contains`,
  `lowerAscii`, `trim`, `/` and number comparisons run inline behind type guards.

`compile_rule_function` writes a whole rule (`when`, `each` with `where` and `check`, and on
failure its message's placeholders, memoized together with the check) as one fast function of
the document and the parameters; anything out of the ordinary hands the rule over to the
careful per-expression evaluator (bcapi.engine.evaluate), so the outcome is always that one's.

Only literals (through `repr`), names generated here and helper names are ever written into the
generated source: no text from the expression is executed as code.

Choices made where docs/rules.md leaves room (all tested in tests/engine/test_cel.py):

* `has(a.b.c)`, `filled(...)` and `get(..., fallback)` walk their path without failing: a link
  that is absent, null, or not a map (or a list index out of range) makes `has` false, `filled`
  false and `get` give its fallback. Errors inside the path's own sub-expressions still count.
* `&&`, `||`, `?:` and the macros evaluate left to right and stop early; the first error wins
  (CEL would absorb an error that a later `true`/`false` makes irrelevant).
* Integers are Python ints (no 64-bit overflow); there is no uint, bytes, double, type(),
  timestamp or message type. Map keys may be strings, ints or bools.
* `matches` uses Python's `re.search`, not RE2.
"""
from __future__ import annotations

import difflib
import re
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Iterator, Mapping, NamedTuple

import lark
from celpy.celparser import CELParseError, CELParser

from . import cel_runtime as rt
from .cel_runtime import CelError, CelEvalError, CelSyntaxError, CelTypeError

__all__ = ["CelError", "CelEvalError", "CelSyntaxError", "CelTypeError", "Compiled", "compile_expression"]


# --- the compiled expression --------------------------------------------------------------

class Compiled:
    """One compiled expression: call it with an activation (variable name -> value).

    `paths` are the field paths it reads (`doc.finance.total_investment`, items of a list as
    `doc.risks[].mitigation`); `result_type` is the JSON Schema of its value where known
    (`$ref`s made resolvable), else None; `python_source` is the generated code.

    `Compiled.create` makes each instance of its own small subclass whose `__call__` *is* the
    generated function, so that calling an expression costs no extra Python frame.
    """

    __slots__ = ("source", "paths", "result_type", "python_source")

    def __init__(self, source: str, paths: tuple[str, ...], result_type: dict | None, python_source: str):
        self.source = source
        self.paths = paths
        self.result_type = result_type
        self.python_source = python_source

    def __call__(self, activation: dict) -> Any:  # replaced in each instance's class
        raise NotImplementedError

    @classmethod
    def create(cls, source: str, paths: tuple[str, ...], result_type: dict | None, python_source: str,
               function: Callable[[dict], Any]) -> "Compiled":
        subclass = type("Compiled", (cls,), {"__slots__": (), "__call__": staticmethod(function),
                                             "__module__": cls.__module__, "__qualname__": "Compiled"})
        return subclass(source, paths, result_type, python_source)

    def __repr__(self) -> str:
        return f"Compiled({self.source!r})"


def compile_expression(source: str, variables: Mapping[str, dict | None]) -> Compiled:
    """Parse, check and compile `source`; `variables` maps each variable to its JSON Schema
    (None: any value). Raises CelSyntaxError or CelTypeError."""
    if not isinstance(source, str):
        raise CelSyntaxError(f"an expression must be text, not {type(source).__name__}")
    ast = _parse(source)
    fast = _Generator(source, variables, checked=False)
    result = fast.generate(ast)
    checked = _Generator(source, variables, checked=True)
    checked.generate(ast)
    python_source = "\n".join([checked.function_source("_checked"), fast.function_source("_fast")])
    namespace: dict[str, Any] = dict(_RUNTIME)
    namespace.update(checked.constants)
    namespace.update(fast.constants)
    exec(compile(python_source, f"<rule expression {source[:60]!r}>", "exec"), namespace)  # noqa: S102
    return Compiled.create(source, tuple(fast.paths), _schema_of(result.ty), python_source, namespace["_fast"])


def compile_rule_function(when: str | None, each: str | None, where: str | None, check: str,
                          message: list[str], variables: Mapping[str, dict | None],
                          item_variables: Mapping[str, dict | None], *, passed: Any, not_applicable: Any,
                          failed: Callable[[tuple], Any], failed_items: Callable[[list], Any],
                          careful: Callable[[dict, dict], Any], max_messages: int) -> Callable[[dict, dict], Any]:
    """One Python function `(document, params) -> outcome` that runs a whole rule the fast way:
    `when`, `each` with its `where` and `check` per item, and on failure the values of the
    message's placeholders (`message`, in order); `doc` and `params` are its arguments and
    `item` and `index` loop variables, so a rule costs one call, not one per expression and
    item. Sub-expressions are memoized across the check and its message (see `_memo_plan`), so
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
    """Writes one function for a rule (see compile_rule_function) with one fast `_Generator`."""

    def __init__(self, variables: Mapping[str, dict | None]):
        self.gen = _Generator("", variables, checked=False)
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
        trees = [_parse(source) for source in sources]
        gen.memo = _memo_plan(ListLit(Pos(None, None, 0, 0), list(trees)))
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
        namespace: dict[str, Any] = dict(_RUNTIME)
        namespace.update(gen.constants)
        namespace.update(extra)
        exec(compile(python_source, f"<rule {check[:60]!r}>", "exec"), namespace)  # noqa: S102
        function = namespace["_rule"]
        function.python_source = python_source
        return function


# The names generated code may use, besides its own temporaries and constants.
_RUNTIME: dict[str, Any] = {
    "_NUM": rt.NUM, "_SIZED": rt.SIZED, "CelEvalError": CelEvalError, "_internal": rt.internal,
    "_var": rt.var, "_select": rt.select, "_index": rt.index, "_safe_index": rt.safe_index,
    "_make_map": rt.make_map, "_iterable": rt.iterable, "_not_bool": rt.not_bool,
    "_logical_not": rt.logical_not, "_filled": rt.filled,
    "_add": rt.add, "_sub": rt.sub, "_mul": rt.mul, "_div": rt.div, "_mod": rt.mod, "_neg": rt.neg,
    "_eq": rt.eq, "_ne": rt.ne, "_lt": rt.lt, "_le": rt.le, "_gt": rt.gt, "_ge": rt.ge,
    "_in": rt.contained_in, "_fail": rt.fail,
}


# --- parsing: lark tree -> AST ------------------------------------------------------------

@dataclass(frozen=True)
class Pos:
    line: int | None
    column: int | None
    start: int
    end: int


@dataclass
class Node:
    pos: Pos


@dataclass
class Lit(Node):
    value: Any


@dataclass
class Ident(Node):
    name: str
    rooted: bool = False  # written `.name`: a variable, never a macro's


@dataclass
class Select(Node):
    operand: Node
    name: str
    name_pos: Pos


@dataclass
class Index(Node):
    operand: Node
    key: Node


@dataclass
class Call(Node):
    name: str
    args: list[Node]
    target: Node | None  # the receiver of a method call
    name_pos: Pos


@dataclass
class Unary(Node):
    op: str
    operand: Node


@dataclass
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass
class Logic(Node):
    op: str  # "&&" or "||"
    left: Node
    right: Node


@dataclass
class Cond(Node):
    test: Node
    then: Node
    orelse: Node


@dataclass
class ListLit(Node):
    items: list[Node]


@dataclass
class MapLit(Node):
    entries: list[tuple[Node, Node]]


_BINARY = {"relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
           "relation_eq": "==", "relation_ne": "!=", "relation_in": "in",
           "addition_add": "+", "addition_sub": "-",
           "multiplication_mul": "*", "multiplication_div": "/", "multiplication_mod": "%"}


@lru_cache(maxsize=4096)
def _parse(source: str) -> Node:
    """The AST of `source` (shared: nothing changes an AST once made)."""
    parser = CELParser()
    try:
        tree = parser.parse(source)
    except CELParseError as exc:
        raise _syntax_error(exc, source) from None
    try:
        _restore_positions(tree, source)
        return _Converter(source).convert(tree)
    except RecursionError:
        raise CelSyntaxError("the expression is nested too deeply") from None


def _syntax_error(exc: CELParseError, source: str) -> CelSyntaxError:
    cause = exc.__context__
    if isinstance(cause, lark.exceptions.UnexpectedToken):
        token = cause.token
        if token.type == "$END":
            what = "the expression ends too early"
        else:
            what = f"unexpected '{token.value}'"
    elif isinstance(cause, lark.exceptions.UnexpectedCharacters):
        char = source[cause.pos_in_stream] if 0 <= cause.pos_in_stream < len(source) else "?"
        what = "unclosed string" if char in "'\"" else f"unexpected character '{char}'"
    else:
        what = str(exc.args[0]).splitlines()[0] if exc.args else "does not parse"
    return CelSyntaxError(f"syntax error: {what}", column=exc.column, line=exc.line)


def _tokens(tree: lark.Tree) -> Iterator[lark.Token]:
    """The tree's named tokens, in source order."""
    for child in tree.children:
        if isinstance(child, lark.Token):
            yield child
        elif isinstance(child, lark.Tree):
            yield from _tokens(child)


def _restore_positions(tree: lark.Tree, source: str) -> None:
    """Give `true` and `false` tokens their positions: cel-python's lexer callback re-creates
    them without. Each is the first word after the previous token (skipping the `in` operator)."""
    cursor = 0
    for token in _tokens(tree):
        if token.start_pos is None:
            for word in re.finditer(r"[A-Za-z_][A-Za-z_0-9]*", source[cursor:]):
                if word.group() == token.value:
                    start = cursor + word.start()
                    token.start_pos, token.end_pos = start, start + len(token.value)
                    token.line = source.count("\n", 0, start) + 1
                    token.column = start - (source.rfind("\n", 0, start) + 1) + 1
                    break
        if token.end_pos is not None:
            cursor = token.end_pos


def _pos(item: lark.Tree | lark.Token) -> Pos:
    if isinstance(item, lark.Token):
        return Pos(item.line, item.column, item.start_pos or 0, item.end_pos or 0)
    meta = item.meta
    if not getattr(meta, "empty", True) and meta.start_pos is not None and meta.end_pos is not None:
        return Pos(meta.line, meta.column, meta.start_pos, meta.end_pos)
    tokens = [t for t in _tokens(item) if t.start_pos is not None]
    if not tokens:
        return Pos(None, None, 0, 0)
    first, last = tokens[0], tokens[-1]
    return Pos(first.line, first.column, first.start_pos, last.end_pos or first.start_pos)


class _Converter:
    """cel-python's parse tree (one level per precedence rule) to the AST above."""

    def __init__(self, source: str):
        self.source = source

    def convert(self, tree: lark.Tree) -> Node:
        method = getattr(self, "_" + tree.data)
        return method(tree, _pos(tree))

    def _expr(self, tree: lark.Tree, pos: Pos) -> Node:
        if len(tree.children) == 1:
            return self.convert(tree.children[0])
        test, then, orelse = (self.convert(c) for c in tree.children)
        return Cond(pos, test, then, orelse)

    def _logic(self, tree: lark.Tree, pos: Pos, op: str) -> Node:
        if len(tree.children) == 1:
            return self.convert(tree.children[0])
        left, right = tree.children
        return Logic(pos, op, self.convert(left), self.convert(right))

    def _conditionalor(self, tree: lark.Tree, pos: Pos) -> Node:
        return self._logic(tree, pos, "||")

    def _conditionaland(self, tree: lark.Tree, pos: Pos) -> Node:
        return self._logic(tree, pos, "&&")

    def _binary(self, tree: lark.Tree, pos: Pos) -> Node:
        if len(tree.children) == 1:
            return self.convert(tree.children[0])
        operator, right = tree.children
        return Binary(pos, _BINARY[operator.data], self.convert(operator.children[0]), self.convert(right))

    _relation = _addition = _multiplication = _binary

    def _unary(self, tree: lark.Tree, pos: Pos) -> Node:
        if len(tree.children) == 1:
            return self.convert(tree.children[0])
        operator, operand = tree.children
        value = self.convert(operand)
        if operator.data == "unary_neg":
            if isinstance(value, Lit) and type(value.value) in rt.NUM:
                return Lit(pos, -value.value)
            return Unary(pos, "-", value)
        return Unary(pos, "!", value)

    def _single(self, tree: lark.Tree, pos: Pos) -> Node:
        return self.convert(tree.children[0])

    _member = _primary = _paren_expr = _single

    def _member_dot(self, tree: lark.Tree, pos: Pos) -> Node:
        operand, name = tree.children
        return Select(pos, self.convert(operand), str(name), _pos(name))

    def _member_dot_arg(self, tree: lark.Tree, pos: Pos) -> Node:
        operand, name, *rest = tree.children
        return Call(pos, str(name), self._args(rest), self.convert(operand), _pos(name))

    def _member_index(self, tree: lark.Tree, pos: Pos) -> Node:
        operand, key = tree.children
        return Index(pos, self.convert(operand), self.convert(key))

    def _member_object(self, tree: lark.Tree, pos: Pos) -> Node:
        raise CelTypeError("message construction (Type{field: value}) is not supported",
                           column=pos.column, line=pos.line)

    def _ident_arg(self, tree: lark.Tree, pos: Pos) -> Node:
        name, *rest = tree.children
        return Call(pos, str(name), self._args(rest), None, _pos(name))

    _dot_ident_arg = _ident_arg

    def _ident(self, tree: lark.Tree, pos: Pos) -> Node:
        return Ident(pos, str(tree.children[0]))

    def _dot_ident(self, tree: lark.Tree, pos: Pos) -> Node:
        return Ident(pos, str(tree.children[0]), rooted=True)

    def _list_lit(self, tree: lark.Tree, pos: Pos) -> Node:
        return ListLit(pos, self._args(tree.children))

    def _map_lit(self, tree: lark.Tree, pos: Pos) -> Node:
        values = self._args(tree.children, "mapinits")
        return MapLit(pos, list(zip(values[0::2], values[1::2])))

    def _args(self, children: list, wrapper: str = "exprlist") -> list[Node]:
        if not children:
            return []
        (inits,) = children
        assert inits.data == wrapper
        return [self.convert(c) for c in inits.children]

    def _literal(self, tree: lark.Tree, pos: Pos) -> Node:
        token = tree.children[0]
        pos = _pos(token)
        return Lit(pos, _literal_value(token, pos))


def _literal_value(token: lark.Token, pos: Pos) -> Any:
    text, kind = str(token), token.type
    if kind == "INT_LIT":
        negative = text.startswith("-")
        digits = text.lstrip("-")
        value = int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits)
        return -value if negative else value
    if kind == "FLOAT_LIT":
        return Decimal(text)
    if kind == "BOOL_LIT":
        return text == "true"
    if kind == "NULL_LIT":
        return None
    if kind in ("STRING_LIT", "MLSTRING_LIT"):
        return _string_value(text, pos)
    if kind == "UINT_LIT":
        raise CelTypeError(f"unsigned integers ({text}) are not supported: write {text[:-1]}",
                           column=pos.column, line=pos.line)
    raise CelTypeError(f"{kind.replace('_LIT', '').lower()} literals ({text}) are not supported",
                       column=pos.column, line=pos.line)


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "\\": "\\", "'": "'", '"': '"', "`": "`", "?": "?"}


def _string_value(text: str, pos: Pos) -> str:
    raw = text[0] in "rR"
    if raw:
        text = text[1:]
    quote = 3 if text[:3] in ('"""', "'''") else 1
    body = text[quote:-quote]
    return body if raw else _unescape(body, pos)


def _unescape(body: str, pos: Pos) -> str:
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        code = body[i + 1] if i + 1 < n else ""
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
            continue
        width = {"x": 2, "X": 2, "u": 4, "U": 8}.get(code)
        if width:
            digits = body[i + 2:i + 2 + width]
            number = int(digits, 16) if re.fullmatch(f"[0-9a-fA-F]{{{width}}}", digits) else -1
            i += 2 + width
        elif code in "0123":
            digits = body[i + 1:i + 4]
            number = int(digits, 8) if re.fullmatch("[0-7]{3}", digits) else -1
            i += 4
        else:
            number = -1
        if number < 0 or number > 0x10FFFF or 0xD800 <= number <= 0xDFFF:
            raise CelSyntaxError(f"invalid escape sequence in a string: \\{code}", column=pos.column, line=pos.line)
        out.append(chr(number))
    return "".join(out)


# --- static types: JSON Schema alternatives ------------------------------------------------

class _ArrayOf(NamedTuple):
    """A list built by the expression (map(), a list literal) with its items' type."""
    items: Any  # a type, see below


# A type is None (dynamic: anything goes) or a tuple of alternatives, each a (schema node, root
# schema) pair, its `$ref`s resolved against that root, or an _ArrayOf.
Type = Any


def _expand(node: Any, root: Any, depth: int = 0) -> list | None:
    """The alternatives `node` stands for, `$ref`/anyOf/oneOf followed; None if unconstrained."""
    if depth > 64 or node is True or not isinstance(node, dict):
        return [] if node is False else None
    if "$ref" in node:
        target = _deref(node["$ref"], root)
        return None if target is None else _expand(target, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            alternatives: list = []
            for option in node[key]:
                expanded = _expand(option, root, depth + 1)
                if expanded is None:
                    return None
                alternatives.extend(expanded)
            return alternatives
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        return _expand(node["allOf"][0], root, depth + 1)
    if _json_types(node) is None:
        return None
    return [(node, root)]


def _deref(ref: Any, root: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node = root
    for raw in ref[1:].split("/")[1:]:
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


_JSON_TYPE_OF = {bool: "boolean", int: "integer", float: "number", Decimal: "number", str: "string",
                 type(None): "null", list: "array", dict: "object"}


def _json_types(node: dict) -> set[str] | None:
    """The JSON types a schema node allows, or None when it does not say."""
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if "properties" in node:
        return {"object"}
    if "items" in node:
        return {"array"}
    if "enum" in node and isinstance(node["enum"], list):
        return {_JSON_TYPE_OF.get(type(v), "object") for v in node["enum"]}
    if "const" in node:
        return {_JSON_TYPE_OF.get(type(node["const"]), "object")}
    return None


def _alternative_types(alternative: Any) -> set[str] | None:
    if isinstance(alternative, _ArrayOf):
        return {"array"}
    return _json_types(alternative[0])


def _variable_type(schema: Any) -> Type:
    expanded = _expand(schema, schema) if schema is not None else None
    return None if expanded is None else tuple(expanded)


class _NoField(Exception):
    def __init__(self, known: list[str] | None, kinds: set[str] | None = None):
        self.known = known  # property names, when the type is an object
        self.kinds = kinds  # the JSON types, when it is not


def _field_type(ty: Type, name: str) -> Type:
    """The type of field `name` of a value of type `ty`; _NoField if the schema rules it out."""
    if ty is None:
        return None
    found: list = []
    hit, known, kinds = False, [], set()
    for alternative in ty:
        types = _alternative_types(alternative)
        if types is None:
            return None
        kinds |= types
        if "object" not in types:
            continue
        node, root = alternative
        properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        if name in properties:
            expanded = _expand(properties[name], root)
            if expanded is None:
                return None
            found.extend(expanded)
            hit = True
            continue
        known.extend(properties)
        if any(re.search(p, name) for p in node.get("patternProperties") or {}):
            return None
        extra = node.get("additionalProperties", node.get("unevaluatedProperties", True))
        if extra is False:
            continue
        expanded = _expand(extra, root)
        if expanded is None:
            return None
        found.extend(expanded)
        hit = True
    if hit:
        return tuple(found)
    raise _NoField(known if "object" in kinds else None, kinds - {"null"})


def _items_type(ty: Type) -> Type:
    """The type of the items a macro iterates over (a list's items, a map's keys)."""
    if ty is None:
        return None
    items: list = []
    for alternative in ty:
        if isinstance(alternative, _ArrayOf):
            if alternative.items is None:
                return None
            items.extend(alternative.items)
            continue
        types = _alternative_types(alternative)
        if types is None:
            return None
        node, root = alternative
        if "array" in types:
            expanded = _expand(node.get("items", True), root)
            if expanded is None:
                return None
            items.extend(expanded)
        if "object" in types:
            items.append(({"type": "string"}, {}))
    return tuple(items) if items else None


def _index_type(ty: Type, key: Any) -> Type:
    """The type of `x[key]`: a list's items, or for a string key the map's field."""
    if ty is None:
        return None
    kinds: set[str] = set()
    for alternative in ty:
        types = _alternative_types(alternative)
        if types is None:
            return None
        kinds |= types - {"null"}
    if kinds == {"array"}:
        return _items_type(ty)
    if kinds == {"object"} and type(key) is str:
        return _field_type(ty, key)
    return None


def _without_null(ty: Type) -> Type:
    """`ty` less its null alternatives (the type of get(x, fallback)'s x when it is there)."""
    if ty is None:
        return None
    kept: list = []
    for alternative in ty:
        if isinstance(alternative, _ArrayOf):
            kept.append(alternative)
            continue
        node, root = alternative
        types = _json_types(node)
        if types == {"null"}:
            continue
        if isinstance(node.get("type"), list) and "null" in node["type"]:
            rest = [t for t in node["type"] if t != "null"]
            node = {**node, "type": rest[0] if len(rest) == 1 else rest}
        kept.append((node, root))
    return tuple(kept) if kept else None


def _schema_of(ty: Type) -> dict | None:
    """A self-contained JSON Schema for a type: `$defs` carried along, items resolved."""
    if ty is None:
        return None
    alternatives = [_standalone(a) for a in ty]
    if not alternatives:
        return None
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def _standalone(alternative: Any) -> dict:
    if isinstance(alternative, _ArrayOf):
        return {"type": "array", "items": _schema_of(alternative.items) or {}}
    node, root = alternative
    node = dict(node)
    if isinstance(node.get("items"), dict):
        expanded = _expand(node["items"], root)
        node["items"] = (_schema_of(tuple(expanded)) if expanded else None) or {}
    if isinstance(root, dict) and node is not root and _has_ref(node):
        for key in ("$defs", "definitions"):
            if key in root and key not in node:
                node[key] = root[key]
    return node


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def _describe_kinds(kinds: set[str] | None) -> str:
    names = {"string": "a string", "integer": "a number", "number": "a number", "boolean": "true or false",
             "array": "a list", "object": "a map", "null": "null"}
    described = sorted({names.get(k, k) for k in kinds or ()})
    return " or ".join(described) or "nothing"


# --- code generation ----------------------------------------------------------------------

class Val(NamedTuple):
    """A generated value: its Python expression `code`, whether that is a plain name or literal
    (`atom`), its statically known `kind` ('num', 'str', 'bool', 'list', 'map', 'date', 'null'
    or None), the kind of its items when it is a list, its schema type and its field path."""
    code: str
    atom: bool
    kind: str | None = None
    elem: str | None = None
    ty: Type = None
    path: str | None = None


@dataclass
class _Binding:
    name: str       # the Python local holding the value
    ty: Type
    path: str | None
    kind: str | None
    exact: bool = False  # always an int or a string (it ranges over a literal list of them)


_MACROS = {"all": (2,), "exists": (2,), "exists_one": (2,), "map": (2, 3), "filter": (2,)}
# name: (arities, kind of the result)
_FUNCTIONS = {"size": ((1,), "num"), "int": ((1,), "num"), "double": ((1,), "num"), "string": ((1,), "str"),
              "abs": ((1,), "num"), "round": ((2,), "num"), "sum": ((1,), "num"), "min": ((1,), None),
              "max": ((1,), None), "date": ((1,), "date"), "days_between": ((2,), "num"),
              "money": ((1,), "str"), "pct": ((1,), "str"), "num": ((1,), "str"),
              "has": ((1,), "bool"), "filled": ((1,), "bool"), "get": ((2,), None),
              "add_years": ((2,), "date"), "add_days": ((2,), "date"), "period_end": ((2,), "date"),
              "share_from": ((3,), "num"), "named": ((1,), "bool"), "baseline_line": ((2,), None),
              "mentions": ((2,), "bool"), "own_tariff": ((2,), "num"),
              "marginal_overstatement": ((6,), "num")}
_METHODS = {"size": ((0,), "num"), "contains": ((1,), "bool"), "startsWith": ((1,), "bool"),
            "endsWith": ((1,), "bool"), "matches": ((1,), "bool"), "lowerAscii": ((0,), "str"),
            "trim": ((0,), "str")}
_HELPERS = {"size": rt.size, "int": rt.to_int, "double": rt.to_decimal, "string": rt.to_string,
            "abs": rt.abs_, "round": rt.round_, "sum": rt.sum_, "min": rt.min_, "max": rt.max_,
            "date": rt.to_date, "days_between": rt.days_between, "money": rt.money, "pct": rt.pct,
            "num": rt.num, "contains": rt.contains, "startsWith": rt.starts_with, "endsWith": rt.ends_with,
            "matches": rt.matches_dynamic, "lowerAscii": rt.lower_ascii, "trim": rt.trim,
            "add_years": rt.add_years, "add_days": rt.add_days, "period_end": rt.period_end,
            "share_from": rt.share_from, "named": rt.named, "baseline_line": rt.baseline_line,
            "mentions": rt.mentions, "own_tariff": rt.own_tariff,
            "marginal_overstatement": rt.marginal_overstatement}
_RUNTIME.update({"_f_" + name: helper for name, helper in _HELPERS.items()})
_RUNTIME["_matches"] = rt.matches
_RUNTIME["_DIVIDE"] = rt.DIVIDE
_RUNTIME["_Decimal"] = Decimal
_RUNTIME["_UNSET"] = _UNSET = object()  # an empty memo slot (see _memo_plan)


class _Fallback(Exception):
    """Raised by fast code to hand over to the checked function (which explains the problem)."""


_RUNTIME["_Fallback"] = _Fallback


def _is_macro(node: Node, name: str, arity: int) -> bool:
    return isinstance(node, Call) and node.target is not None and node.name == name and len(node.args) == arity
_ATOM = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|-?[0-9]+|'[^'\\]*'|None|True|False")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")
_ARITH = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod"}
_COMPARE = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}


def _is_name(code: str) -> bool:
    """Whether generated `code` is a variable (not a literal such as 1, 'a' or True)."""
    return bool(_IDENT.fullmatch(code)) and code not in ("True", "False", "None")


class _Generator:
    """Checks an AST and writes the body of one Python function for it."""

    def __init__(self, source: str, variables: Mapping[str, dict | None], checked: bool):
        self.source = source
        self.variables = variables
        self.checked = checked
        self.lines: list[tuple[int, str]] = []
        self.depth = 2
        self.counter = 0
        self.constants: dict[str, Any] = {}
        self._constant_names: dict[tuple, str] = {}
        self.paths: dict[str, None] = {}
        self.roots: dict[str, str] = {}  # variable -> Python local
        self.scope: dict[str, _Binding] = {}
        self.memo: dict[int, tuple[Any, tuple[str, ...]]] = {}  # id(node) -> (its canonical form, free names)
        self.tables: dict[Any, str] = {}  # canonical form -> the local holding its memo
        self.table_inits: list[str] = []
        # Where set (in a rule's loop over items), memos of forms that read neither `item` nor
        # `index`, made empty once before the loop.
        self.outer_tables: dict[Any, str] | None = None
        self.outer_inits: list[str] = []
        # Steps of absent-tolerant paths already walked, (holder, field, is has()) -> (temporary,
        # depth): reused while the code stays in the block that computed them (fast code only).
        self.avail: dict[tuple[str, str, bool], tuple[str, int]] = {}
        self.avail_depth = 0

    # --- output ---

    def emit(self, line: str) -> None:
        if self.depth < self.avail_depth:
            # Leaving a block: what was computed inside it is not there on every path any more.
            self.avail = {key: entry for key, entry in self.avail.items() if entry[1] <= self.depth}
            self.avail_depth = max((entry[1] for entry in self.avail.values()), default=0)
        self.lines.append((self.depth, line))

    def temp(self, prefix: str = "_t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def constant(self, value: Any) -> str:
        # repr, not the value: 1.5 and 1.50 are equal but must stay distinct.
        key = (type(value), value.pattern if isinstance(value, re.Pattern) else repr(value))
        if key not in self._constant_names:
            name = f"_k{'c' if self.checked else 'f'}{len(self._constant_names)}"
            self._constant_names[key] = name
            self.constants[name] = value
        return self._constant_names[key]

    def atom(self, val: Val) -> Val:
        """`val` as a plain name, assigning it to a temporary if need be."""
        if val.atom:
            return val
        name = self.temp()
        self.emit(f"{name} = {val.code}")
        return val._replace(code=name, atom=True)

    def name_of(self, val: Val) -> Val:
        """`val` as an identifier: never a literal, which Python warns about in `x is True` or
        `'abc'['key']`."""
        return val if _is_name(val.code) else self.fresh(val)

    def fresh(self, val: Val) -> Val:
        """`val` in a new temporary that the caller may assign to."""
        name = self.temp()
        self.emit(f"{name} = {val.code}")
        return val._replace(code=name, atom=True)

    def generate(self, node: Node) -> Val:
        if not self.checked:
            self.memo = _memo_plan(node)
        result = self.gen(node)
        self.emit(f"return {result.code}")
        self.result = result
        return result

    def function_source(self, name: str) -> str:
        loads = [f"        {local} = {self._load(variable)}" for variable, local in self.roots.items()]
        loads += [f"        {init}" for init in self.table_inits]
        body = [("    " * depth) + line for depth, line in self.lines]
        if self.checked:
            handler = ["    except CelEvalError:", "        raise",
                       "    except Exception as exc:", "        raise _internal(exc) from None"]
        else:
            handler = ["    except CelEvalError:", "        raise",
                       "    except Exception:", "        return _checked(activation)"]
        return "\n".join([f"def {name}(activation):", "    try:", *loads, *body, *handler, ""])

    def _load(self, variable: str) -> str:
        if self.checked:
            return f"_var(activation, {variable!r})"
        return f"activation[{variable!r}]"

    # --- errors, paths ---

    def type_error(self, message: str, pos: Pos) -> CelTypeError:
        return CelTypeError(message, column=pos.column, line=pos.line)

    def text(self, node: Node) -> str:
        """The expression text of `node`, for messages."""
        text = " ".join(self.source[node.pos.start:node.pos.end].split())
        return text if len(text) <= 60 else text[:57] + "..."

    def record(self, path: str | None) -> None:
        if path and not self.checked and ("." in path or "[" in path):
            self.paths.setdefault(path, None)

    # --- dispatch ---

    def gen(self, node: Node, prefix: bool = False) -> Val:
        """Generate `node`; `prefix` when it is the operand of a select or index."""
        planned = self.memo.get(id(node))
        if planned is not None:
            return self._memoized(node, *planned)
        method = getattr(self, "_gen_" + type(node).__name__)
        return method(node, prefix) if isinstance(node, (Ident, Select, Index)) else method(node)

    def _memoized(self, node: Node, canonical: Any, free: tuple[str, ...]) -> Val:
        """Generate `node` behind a memo shared by every sub-expression of the same canonical
        form: a dict keyed by the values of the macro variables it reads (when they are all ints
        or strings, whose equality is exact; otherwise it is simply computed), or a single slot
        when it reads none. Evaluation is pure, so a value computed once is the value everywhere;
        if computing it fails, the whole function falls back to the checked one anyway."""
        tables, inits = self.tables, self.table_inits
        if self.outer_tables is not None and not _reads_item(canonical):
            tables, inits = self.outer_tables, self.outer_inits
        table = tables.get(canonical)
        if table is None:
            table = tables[canonical] = self.temp("_m")
            inits.append(f"{table} = {{}}" if free else f"{table} = _UNSET")
        result = self.temp()
        plan = self.memo.pop(id(node))  # generate the node itself below, not its memo again
        try:
            if not free:
                self.emit(f"{result} = {table}")
                self.emit(f"if {result} is _UNSET:")
                self.depth += 1
                val = self.gen(node)
                self.emit(f"{table} = {result} = {val.code}")
                self.depth -= 1
            else:
                bindings = [self.scope[name] for name in free]
                names = [b.name for b in bindings]
                key = names[0] if len(names) == 1 else "(" + ", ".join(names) + ",)"
                exact = " and ".join(f"(type({b.name}) is int or type({b.name}) is str)"
                                     for b in bindings if not b.exact)
                if exact:
                    self.emit(f"{result} = {table}.get({key}, _UNSET) if {exact} else _UNSET")
                else:
                    self.emit(f"{result} = {table}.get({key}, _UNSET)")
                self.emit(f"if {result} is _UNSET:")
                self.depth += 1
                val = self.gen(node)
                self.emit(f"{result} = {val.code}")
                if exact:
                    self.emit(f"if {exact}:")
                    self.emit(f"    {table}[{key}] = {result}")
                else:
                    self.emit(f"{table}[{key}] = {result}")
                self.depth -= 1
        finally:
            self.memo[id(node)] = plan
        return val._replace(code=result, atom=True)

    def gen_all(self, nodes: list[Node], prefix_first: bool = False) -> list[Val]:
        """Generate several operands, keeping their evaluation left to right (`prefix_first`:
        the first is the operand of an index)."""
        vals: list[Val] = []
        for position, node in enumerate(nodes):
            mark = len(self.lines)
            val = self.gen(node, prefix=True) if prefix_first and position == 0 else self.gen(node)
            if len(self.lines) > mark and any(not v.atom for v in vals):
                early: list[tuple[int, str]] = []
                for i, pending in enumerate(vals):
                    if not pending.atom:
                        name = self.temp()
                        early.append((self.lines[mark][0], f"{name} = {pending.code}"))
                        vals[i] = pending._replace(code=name, atom=True)
                self.lines[mark:mark] = early
            vals.append(val)
        return vals

    # --- leaves ---

    def _gen_Lit(self, node: Lit) -> Val:
        value = node.value
        kind = {int: "num", Decimal: "num", str: "str", bool: "bool", type(None): "null"}[type(value)]
        if type(value) is Decimal:
            return Val(self.constant(value), True, kind)
        code = repr(value)
        return Val(code, bool(_ATOM.fullmatch(code)), kind)

    def _gen_Ident(self, node: Ident, prefix: bool) -> Val:
        if not node.rooted and node.name in self.scope:
            binding = self.scope[node.name]
            return Val(binding.name, True, binding.kind, None, binding.ty, binding.path)
        if node.name not in self.variables:
            hint = _suggest(node.name, list(self.variables) + list(self.scope))
            raise self.type_error(f"unknown variable '{node.name}'{hint}", node.pos)
        if node.name not in self.roots:
            self.roots[node.name] = f"v{len(self.roots)}_{node.name}"
        return Val(self.roots[node.name], True, None, None, _variable_type(self.variables[node.name]), node.name)

    # --- member access ---

    def _field(self, base: Val, node: Select) -> Type:
        try:
            return _field_type(base.ty, node.name)
        except _NoField as missing:
            where = self.text(node.operand)
            if isinstance(node.operand, Ident) and node.operand.name in self.scope and base.path:
                where += f" ({base.path})"  # a macro variable: say what it ranges over
            if missing.known is None:
                message = f"no field '{node.name}' in {where}, which is {_describe_kinds(missing.kinds)}"
            else:
                message = f"no field '{node.name}' in {where}{_suggest(node.name, missing.known)}"
            raise self.type_error(message, node.name_pos) from None

    def _gen_Select(self, node: Select, prefix: bool) -> Val:
        base = self.gen(node.operand, prefix=True)
        ty = self._field(base, node)
        path = f"{base.path}.{node.name}" if base.path else None
        if not prefix:
            self.record(path)
        if self.checked or (base.atom and not _is_name(base.code)):
            code = f"_select({base.code}, {node.name!r}, {self.text(node.operand)!r})"
        else:
            code = f"{base.code}[{node.name!r}]"
        return Val(code, False, None, None, ty, path)

    def _gen_Index(self, node: Index, prefix: bool) -> Val:
        key_literal = node.key.value if isinstance(node.key, Lit) else None
        if type(key_literal) is str:
            return self._gen_Select(Select(node.pos, node.operand, key_literal, node.key.pos), prefix)
        base, key = self.gen_all([node.operand, node.key], prefix_first=True)
        path = f"{base.path}[]" if base.path else None
        if not prefix:
            self.record(path)
        ty = _index_type(base.ty, key_literal)
        return Val(f"_index({base.code}, {key.code}, {self.text(node.operand)!r})", False, None, None, ty, path)

    # --- operators ---

    def _gen_Unary(self, node: Unary) -> Val:
        operand = self.gen(node.operand)
        if node.op == "-":
            if self.checked or operand.kind != "num":
                if self.checked:
                    return Val(f"_neg({operand.code})", False, "num")
                operand = self.atom(operand)
                return Val(f"(-{operand.code} if type({operand.code}) in _NUM else _neg({operand.code}))", False, "num")
            return Val(f"(-{operand.code})", False, "num")
        if operand.kind == "bool" and not self.checked:
            return Val(f"(not {operand.code})", False, "bool")
        return Val(f"_logical_not({operand.code})", False, "bool")

    def _gen_Binary(self, node: Binary) -> Val:
        left, right = self.gen_all([node.left, node.right])
        if node.op in _ARITH:
            return self._arith(node.op, left, right)
        if node.op in _COMPARE:
            return self._compare(node.op, left, right)
        if node.op in ("==", "!="):
            return self._equality(node.op, left, right)
        if (not self.checked and isinstance(node.right, ListLit) and node.right.items
                and all(isinstance(i, Lit) and type(i.value) is str for i in node.right.items)):
            # Only a string equals a string, and Python's `in` on a tuple of them says just that.
            choices = self.constant(tuple(i.value for i in node.right.items))
            return Val(f"({left.code} in {choices})", False, "bool")
        return Val(f"_in({left.code}, {right.code})", False, "bool")

    def _guarded(self, vals: list[Val], fast: str, slow: str) -> str:
        """`fast` when every operand not known to be a number is one, else the checking
        helper call `slow`."""
        checks = [f"type({v.code}) in _NUM" for v in vals if v.kind != "num"]
        if not checks:
            return f"({fast})"
        return f"({fast} if {' and '.join(checks)} else {slow})"

    def _arith(self, op: str, left: Val, right: Val) -> Val:
        helper = f"{_ARITH[op]}({left.code}, {right.code})"
        if not self.checked and op == "/":
            # Decimal raises on a zero divisor (the checked helper explains it)
            left, right = self.atom(left), self.atom(right)
            helper = f"_div({left.code}, {right.code})"
            fast = f"_DIVIDE(_Decimal({left.code}), _Decimal({right.code}))"
            return Val(self._guarded([left, right], fast, helper), False, "num")
        if self.checked or op in "/%":
            return Val(helper, False, "num" if op != "+" else None)
        if op == "+" and left.kind == right.kind and left.kind in ("str", "list"):
            return Val(f"({left.code} + {right.code})", False, left.kind)
        if op == "+" and (left.kind not in (None, "num") or right.kind not in (None, "num")):
            return Val(helper, False, None)
        left, right = self.atom(left), self.atom(right)
        helper = f"{_ARITH[op]}({left.code}, {right.code})"
        code = self._guarded([left, right], f"{left.code} {op} {right.code}", helper)
        both_num = left.kind == right.kind == "num"
        return Val(code, False, "num" if op != "+" or both_num else None)

    def _compare(self, op: str, left: Val, right: Val) -> Val:
        helper = f"{_COMPARE[op]}({left.code}, {right.code})"
        if self.checked:
            return Val(helper, False, "bool")
        kinds = {left.kind, right.kind}
        if len(kinds) == 1 and left.kind in ("num", "str", "date"):
            return Val(f"({left.code} {op} {right.code})", False, "bool")
        if not kinds & {"num", None}:
            return Val(helper, False, "bool")
        left, right = self.atom(left), self.atom(right)
        helper = f"{_COMPARE[op]}({left.code}, {right.code})"
        code = self._guarded([left, right], f"{left.code} {op} {right.code}", helper)
        return Val(code, False, "bool")

    def _equality(self, op: str, left: Val, right: Val) -> Val:
        negate = op == "!="
        helper = f"{'_ne' if negate else '_eq'}({left.code}, {right.code})"
        if self.checked:
            return Val(helper, False, "bool")
        for this, other in ((left, right), (right, left)):
            if this.kind in ("str", "null", "bool") and this.atom and _is_name(other.code):
                # str equals only str, null only null, a bool only itself: Python agrees.
                python = "is" if this.kind != "str" else "=="
                python = ("is not" if python == "is" else "!=") if negate else python
                return Val(f"({other.code} {python} {this.code})", False, "bool")
        if left.kind == right.kind == "num":
            return Val(f"({left.code} {op} {right.code})", False, "bool")
        if "num" in (left.kind, right.kind) and None in (left.kind, right.kind):
            # numbers are equal as Python compares them (a bool is no number: the helper says so)
            left, right = self.atom(left), self.atom(right)
            helper = f"{'_ne' if negate else '_eq'}({left.code}, {right.code})"
            return Val(self._guarded([left, right], f"{left.code} {op} {right.code}", helper), False, "bool")
        return Val(helper, False, "bool")

    def _gen_Logic(self, node: Logic) -> Val:
        left = self.fresh(self.gen(node.left))
        result = left.code
        stop, go = ("False", "True") if node.op == "&&" else ("True", "False")
        self.emit(f"if {result} is {go}:")
        self.depth += 1
        right = self.gen(node.right)
        self.emit(f"{result} = {right.code}")
        if right.kind != "bool" or self.checked:
            self.emit(f"if {result} is not True and {result} is not False:")
            self.emit(f"    _not_bool({result}, {node.op!r})")
        self.depth -= 1
        if left.kind != "bool" or self.checked:
            self.emit(f"elif {result} is not {stop}:")
            self.emit(f"    _not_bool({result}, {node.op!r})")
        return Val(result, True, "bool")

    def _gen_Cond(self, node: Cond) -> Val:
        test = self.name_of(self.gen(node.test))
        result = self.temp()
        branches = []
        self.emit(f"if {test.code} is True:")
        for keyword, branch in (("", node.then), ("elif", node.orelse)):
            if keyword:
                self.emit(f"elif {test.code} is False:")
            self.depth += 1
            val = self.gen(branch)
            self.emit(f"{result} = {val.code}")
            self.depth -= 1
            branches.append(val)
        self.emit("else:")
        self.emit(f"    _not_bool({test.code}, '?:')")
        then, orelse = branches
        kind = then.kind if then.kind == orelse.kind else None
        elem = then.elem if then.elem == orelse.elem else None
        ty = then.ty if then.ty == orelse.ty else None
        return Val(result, True, kind, elem, ty, None)

    def _gen_ListLit(self, node: ListLit) -> Val:
        items = self.gen_all(node.items)
        kinds = {v.kind for v in items}
        elem = kinds.pop() if len(kinds) == 1 else None
        code = "[" + ", ".join(v.code for v in items) + "]"
        return Val(code, False, "list", elem, (_ArrayOf(None),))

    def _gen_MapLit(self, node: MapLit) -> Val:
        values = self.gen_all([part for entry in node.entries for part in entry])
        literal_keys = [k.value for k, _ in node.entries if isinstance(k, Lit) and type(k.value) is str]
        if not self.checked and len(literal_keys) == len(node.entries) == len(set(literal_keys)):
            pairs = ", ".join(f"{values[i].code}: {values[i + 1].code}" for i in range(0, len(values), 2))
            return Val("{" + pairs + "}", False, "map")
        return Val(f"_make_map({', '.join(v.code for v in values)})", False, "map")

    # --- calls ---

    def _gen_Call(self, node: Call) -> Val:
        if node.target is not None and node.name in _MACROS:
            return self._macro(node)
        table, kind_of = (_METHODS, "method") if node.target is not None else (_FUNCTIONS, "function")
        if node.name not in table:
            other = _FUNCTIONS if node.target is not None else _METHODS
            hint = ""
            if node.name in other or node.name in _MACROS:
                hint = f" (write {node.name}(x))" if node.target is not None else f" (write x.{node.name}(...))"
            else:
                hint = _suggest(node.name, list(table) + (list(_MACROS) if node.target is not None else []))
            raise self.type_error(f"unknown {kind_of} '{node.name}'{hint}", node.name_pos)
        arities, kind = table[node.name]
        if len(node.args) not in arities:
            raise self.type_error(f"{node.name}() takes {_count(arities[0])}, got {len(node.args)}", node.name_pos)
        if node.name in ("has", "filled", "get"):
            return getattr(self, "_" + node.name)(node)
        operands = [node.target] if node.target is not None else []
        if node.name == "matches" and isinstance(node.args[0], Lit) and type(node.args[0].value) is str:
            return self._matches_literal(node)
        if not self.checked and node.name == "sum" and node.target is None and _is_macro(node.args[0], "map", 2):
            return self._fused_sum(node.args[0])
        vals = self.gen_all(operands + node.args)
        fast = None if self.checked else self._fast_call(node.name, vals)
        if fast is not None:
            return fast
        elem_kind = vals[0].elem if node.name in ("min", "max") and vals[0].kind == "list" else None
        return Val(f"_f_{node.name}({', '.join(v.code for v in vals)})", False, kind or elem_kind)

    def _fast_call(self, name: str, vals: list[Val]) -> Val | None:
        """Inline code for the hot functions, when the operands are known to suit them."""
        if name == "size":
            value = self.atom(vals[0])
            return Val(f"(len({value.code}) if type({value.code}) in _SIZED else _f_size({value.code}))", False, "num")
        if name == "abs":
            value = self.atom(vals[0])
            return Val(self._guarded([value], f"abs({value.code})", f"_f_abs({value.code})"), False, "num")
        if name == "sum" and vals[0].kind == "list" and vals[0].elem == "num":
            return Val(f"sum({vals[0].code})", False, "num")
        if name == "sum" and vals[0].kind == "list":
            value = self.atom(vals[0])
            return Val(f"(sum({value.code}) if _NUM.issuperset(map(type, {value.code})) else _f_sum({value.code}))",
                       False, "num")
        if name in ("contains", "startsWith", "endsWith"):
            text, part = self.atom(vals[0]), self.atom(vals[1])
            test = {"contains": f"{part.code} in {text.code}", "startsWith": f"{text.code}.startswith({part.code})",
                    "endsWith": f"{text.code}.endswith({part.code})"}[name]
            guards = [f"type({v.code}) is str" for v in (text, part) if v.kind != "str"]
            if not guards:
                return Val(f"({test})", False, "bool")
            return Val(f"({test} if {' and '.join(guards)} else _f_{name}({text.code}, {part.code}))", False, "bool")
        if name == "lowerAscii":
            text = self.atom(vals[0])
            return Val(f"({text.code}.lower() if type({text.code}) is str and {text.code}.isascii() "
                       f"else _f_lowerAscii({text.code}))", False, "str")
        if name == "trim":
            text = self.atom(vals[0])
            return Val(f"({text.code}.strip() if type({text.code}) is str else _f_trim({text.code}))", False, "str")
        if name in ("min", "max") and vals[0].kind == "list" and vals[0].elem == "num":
            value = self.atom(vals[0])
            return Val(f"({name}({value.code}) if {value.code} else _f_{name}({value.code}))", False, "num")
        return None

    def _fused_sum(self, mapped: Call) -> Val:
        """`sum(xs.map(x, e))`, and `sum(xs.filter(x, p).map(y, e))`, as one loop adding up as
        it goes, with no list in between: the same additions in the same order as `sum`. An item
        that is not a number leaves the fast function for the checked one, which says so."""
        source_node, selected = mapped.target, None
        if _is_macro(source_node, "filter", 2):
            selected, source_node = source_node, source_node.target
        for macro in (mapped, selected):
            if macro is not None and (not isinstance(macro.args[0], Ident) or macro.args[0].rooted):
                return self._macro(mapped)  # reports the error
        source, items, binding = self._macro_items(source_node)
        total = self.temp()
        self.emit(f"{total} = 0")
        self.emit(f"for {binding.name} in {items}:")
        self.depth += 1
        depth = self.depth
        if selected is not None:
            with self._bound(selected.args[0].name, binding):
                test = self._loop_test(selected.args[1], "filter")
            self.emit(f"if {test.code} is not True:")
            self.emit("    continue")
        with self._bound(mapped.args[0].name, binding):
            value = self.atom(self.gen(mapped.args[1]))
        if value.kind != "num":
            self.emit(f"if type({value.code}) not in _NUM:")
            self.emit("    raise _Fallback")
        self.emit(f"{total} = {total} + {value.code}")
        self.depth = depth - 1
        return Val(total, True, "num")

    def _matches_literal(self, node: Call) -> Val:
        pattern = node.args[0].value
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise self.type_error(f"invalid regular expression {pattern!r}: {exc}", node.args[0].pos) from None
        (target,) = self.gen_all([node.target])
        return Val(f"_matches({target.code}, {self.constant(compiled)})", False, "bool")

    # --- has(), filled(), get(): absent-tolerant paths ---

    def _chain(self, node: Node, record: bool = True, share: bool = True) -> tuple[Val, str | None, Type]:
        """Walk a select/index chain without failing: the result is a temporary holding the
        value, or None where any link is absent or null (`share`: one that other walks of the
        same path may reuse, so never to be assigned to). Returns it, its path and type."""
        steps: list[Node] = []
        base = node
        while isinstance(base, (Select, Index)):
            steps.append(base)
            base = base.operand
        steps.reverse()
        current = self.name_of(self.gen(base, prefix=bool(steps)))
        if not steps:
            return self.fresh(current), current.path, current.ty
        for position, step in enumerate(steps):
            current = self._chain_step(current, step, share=share or position < len(steps) - 1)
        if record:
            self.record(current.path)
        return current, current.path, current.ty

    @staticmethod
    def _is_str_key(node: Index) -> bool:
        return isinstance(node.key, Lit) and type(node.key.value) is str

    def _chain_step(self, current: Val, step: Node, last_has: bool = False, share: bool = True) -> Val:
        if isinstance(step, Index) and self._is_str_key(step):
            step = Select(step.pos, step.operand, step.key.value, step.key.pos)
        if isinstance(step, Select):
            ty = self._field(current, step)
            path = f"{current.path}.{step.name}" if current.path else None
            key = (current.code, step.name, last_has)
            if share and not self.checked:
                known = self.avail.get(key)
                if known is not None:
                    return Val(known[0], True, "bool" if last_has else None, None, ty, path)
            name = self.temp()
            if share and not self.checked:
                self.avail[key] = (name, self.depth)
                self.avail_depth = max(self.avail_depth, self.depth)
            if last_has:
                self.emit(f"{name} = ({step.name!r} in {current.code}) if type({current.code}) is dict else False")
            else:
                self.emit(f"{name} = {current.code}.get({step.name!r}) if type({current.code}) is dict else None")
            return Val(name, True, "bool" if last_has else None, None, ty, path)
        name = self.temp()
        path = f"{current.path}[]" if current.path else None
        key_value = step.key.value if isinstance(step.key, Lit) else None
        ty = _index_type(current.ty, key_value)
        if isinstance(step.key, Lit):
            self.emit(f"{name} = _safe_index({current.code}, {self.gen(step.key).code})")
        else:
            self.emit(f"if {current.code} is None:")
            self.emit(f"    {name} = None")
            self.emit("else:")
            self.depth += 1
            key = self.gen(step.key)
            self.emit(f"{name} = _safe_index({current.code}, {key.code})")
            self.depth -= 1
        return Val(name, True, None, None, ty, path)

    def _has(self, node: Call) -> Val:
        (arg,) = node.args
        if isinstance(arg, Index) and self._is_str_key(arg):
            arg = Select(arg.pos, arg.operand, arg.key.value, arg.key.pos)
        if not isinstance(arg, Select):
            raise self.type_error("has() needs a field, as in has(doc.finance.total_investment)", arg.pos)
        if isinstance(arg.operand, (Select, Index)):
            holder, _, _ = self._chain(arg.operand, record=False)
        else:
            holder = self.name_of(self.gen(arg.operand, prefix=True))
        result = self._chain_step(holder, arg, last_has=True)
        self.record(result.path)
        return result._replace(kind="bool", ty=None)

    def _filled(self, node: Call) -> Val:
        value, _, _ = self._chain(node.args[0])
        v = value.code
        if self.checked:
            return Val(f"_filled({v})", False, "bool")
        code = (f"({v} is not None and ({v}.strip() != '' if type({v}) is str else "
                f"(len({v}) > 0 if type({v}) is list or type({v}) is dict else True)))")
        return Val(code, False, "bool")

    def _get(self, node: Call) -> Val:
        value, path, ty = self._chain(node.args[0], share=False)  # the fallback is assigned to it
        self.emit(f"if {value.code} is None:")
        self.depth += 1
        fallback = self.gen(node.args[1])
        self.emit(f"{value.code} = {fallback.code}")
        self.depth -= 1
        return Val(value.code, True, None, None, _without_null(ty), path)

    # --- macros ---

    def _macro(self, node: Call) -> Val:
        arities = _MACROS[node.name]
        if len(node.args) not in arities:
            counts = " or ".join(str(a) for a in arities)
            raise self.type_error(f"{node.name}() takes {counts} arguments, got {len(node.args)}", node.name_pos)
        variable = node.args[0]
        if not isinstance(variable, Ident) or variable.rooted:
            raise self.type_error(f"the first argument of {node.name}() must be a name, as in "
                                  f"{node.name}(x, ...)", variable.pos)
        source, items, binding = self._macro_items(node.target)
        with self._bound(variable.name, binding):
            return getattr(self, "_macro_" + node.name)(node, source, items, binding.name)

    def _macro_items(self, target: Node) -> tuple[Val, str, _Binding]:
        """What a macro iterates over: the generated source, the name of the list (or tuple) to
        loop over, and the binding of its variable (its local still to be assigned by a loop)."""
        source = self.gen(target)
        exact = False
        if not self.checked and isinstance(target, ListLit) and all(isinstance(i, Lit) for i in target.items):
            values = tuple(item.value for item in target.items)
            items = self.constant(values)  # a tuple made once, never built at run time
            exact = all(type(v) is int or type(v) is str for v in values)
        elif not self.checked and source.kind == "list":
            source = self.atom(source)
            items = source.code
        else:
            source = self.atom(source)
            items = self.temp()
            described = self.text(target)
            self.emit(f"{items} = {source.code} if type({source.code}) is list else "
                      f"_iterable({source.code}, {described!r})")
        path = f"{source.path}[]" if source.path else None
        return source, items, _Binding(self.temp("_v"), _items_type(source.ty), path, source.elem, exact)

    @contextmanager
    def _bound(self, name: str, binding: _Binding) -> Iterator[None]:
        """Bind a macro variable for the body, shadowing any outer name."""
        saved = self.scope.get(name)
        self.scope[name] = binding
        try:
            yield
        finally:
            if saved is None:
                del self.scope[name]
            else:
                self.scope[name] = saved

    def _loop_test(self, node: Node, macro: str) -> Val:
        """Generate a predicate inside a loop body, as a name known to hold a bool."""
        test = self.name_of(self.gen(node))
        if test.kind != "bool" or self.checked:
            self.emit(f"if {test.code} is not True and {test.code} is not False:")
            self.emit(f"    _not_bool({test.code}, {macro + '()'!r})")
        return test

    def _quantifier(self, node: Call, items: str, local: str, initial: str, stop: str) -> Val:
        result = self.temp()
        self.emit(f"{result} = {initial}")
        self.emit(f"for {local} in {items}:")
        self.depth += 1
        test = self._loop_test(node.args[1], node.name)
        self.emit(f"if {test.code} is {stop}:")
        self.emit(f"    {result} = {stop}")
        self.emit("    break")
        self.depth -= 1
        return Val(result, True, "bool")

    def _macro_all(self, node: Call, source: Val, items: str, local: str) -> Val:
        return self._quantifier(node, items, local, "True", "False")

    def _macro_exists(self, node: Call, source: Val, items: str, local: str) -> Val:
        return self._quantifier(node, items, local, "False", "True")

    def _macro_exists_one(self, node: Call, source: Val, items: str, local: str) -> Val:
        count = self.temp()
        self.emit(f"{count} = 0")
        self.emit(f"for {local} in {items}:")
        self.depth += 1
        test = self._loop_test(node.args[1], node.name)
        self.emit(f"if {test.code} is True:")
        self.emit(f"    {count} += 1")
        self.depth -= 1
        return Val(f"({count} == 1)", False, "bool")

    def _macro_map(self, node: Call, source: Val, items: str, local: str) -> Val:
        result = self.temp()
        if len(node.args) == 2 and not self.checked:
            mark = len(self.lines)
            self.depth += 1
            body = self.gen(node.args[1])
            self.depth -= 1
            if len(self.lines) == mark:
                self.emit(f"{result} = [{body.code} for {local} in {items}]")
                return Val(result, True, "list", body.kind, (_ArrayOf(body.ty),))
            del self.lines[mark:]
        self.emit(f"{result} = []")
        self.emit(f"for {local} in {items}:")
        self.depth += 1
        if len(node.args) == 3:
            test = self._loop_test(node.args[1], node.name)
            self.emit(f"if {test.code} is False:")
            self.emit("    continue")
        body = self.gen(node.args[-1])
        self.emit(f"{result}.append({body.code})")
        self.depth -= 1
        return Val(result, True, "list", body.kind, (_ArrayOf(body.ty),))

    def _macro_filter(self, node: Call, source: Val, items: str, local: str) -> Val:
        result = self.temp()
        self.emit(f"{result} = []")
        self.emit(f"for {local} in {items}:")
        self.depth += 1
        test = self._loop_test(node.args[1], node.name)
        self.emit(f"if {test.code} is True:")
        self.emit(f"    {result}.append({local})")
        self.depth -= 1
        return Val(result, True, "list", source.elem, source.ty if source.kind != "map" else None, source.path)


# --- memoized sub-expressions --------------------------------------------------------------

_MEMO_NODES = (Call, Unary, Binary, Logic, Cond)
# Functions that cost a call into the run-time helpers: worth computing once when repeated.
_COSTLY_FUNCTIONS = frozenset({"date", "days_between", "round", "money", "pct", "num", "string", "int", "double",
                               "min", "max", "sum", "add_years", "add_days", "period_end", "share_from",
                               "named", "baseline_line", "mentions", "own_tariff",
                               "marginal_overstatement"})
_MEMO_MAX_NODES = 5000  # beyond this, no plan: it costs time at load for little gain


def _memo_plan(root: Node) -> dict[int, tuple[Any, tuple[str, ...]]]:
    """The sub-expressions worth computing once per evaluation, as id(node) -> (canonical form,
    names of the macro variables it reads). A candidate contains a macro, so costs a loop, or a
    call of one of `_COSTLY_FUNCTIONS`; its
    canonical form is its structure up to the names of macro variables (`s.filter(x, x.year <=
    k)` and `s.filter(y, y.year <= j)` are one form, read with k and with j), and one memo
    serves every occurrence of a form. A form is kept when it is computed again for the same
    values: it occurs in two places that no memoized enclosing form already covers, or it sits
    inside a macro's body (within its nearest memoized enclosing form) without reading that
    macro's variable. Forms are dropped outermost first until every one kept is useful."""
    occurrences: list[tuple[Node, Any, tuple[str, ...], tuple[int, ...], tuple[tuple[int, str], ...]]] = []
    visited = 0

    def visit(node: Node, path: tuple[int, ...], enclosing: tuple[str, ...],
              binders: tuple[tuple[int, str], ...]) -> bool:
        nonlocal visited
        visited += 1
        if visited > _MEMO_MAX_NODES:
            raise _TooLarge
        costly = isinstance(node, Call) and (node.target is not None and node.name in _MACROS
                                             or node.target is None and node.name in _COSTLY_FUNCTIONS)
        for position, (child, binder) in enumerate(_children(node)):
            if binder:
                inner, inner_binders = enclosing + (binder,), binders + ((len(path) + 1, binder),)
            else:
                inner, inner_binders = enclosing, binders
            if visit(child, path + (position,), inner, inner_binders):
                costly = True
        if costly and isinstance(node, _MEMO_NODES) and node is not root:
            canonical, free = _canonical(node, frozenset(enclosing))
            occurrences.append((node, canonical, free, path, binders))
        return costly

    try:
        visit(root, (), (), ())
    except (_TooLarge, RecursionError):
        return {}
    kept = {canonical for _, canonical, _, _, _ in occurrences}
    by_path = {path: canonical for _, canonical, _, path, _ in occurrences}
    while True:
        contexts: dict[Any, set] = {c: set() for c in kept}
        useful: set = set()
        nearest: dict[tuple[int, ...], tuple[int, ...] | None] = {}
        for _, canonical, free, path, binders in occurrences:
            if canonical not in kept:
                continue
            above = next((path[:n] for n in range(len(path) - 1, -1, -1) if by_path.get(path[:n]) in kept), None)
            nearest[path] = above
            start = len(above) if above is not None else 0
            contexts[canonical].add((by_path[above], path[start:]) if above is not None else ("root", path))
            if any(depth > start and name not in free for depth, name in binders):
                useful.add(canonical)
        useless = {c for c in kept if c not in useful and len(contexts[c]) < 2}
        if not useless:
            break
        # Drop the outermost useless forms only: dropping them changes what covers the others.
        inner = set()
        for _, canonical, _, path, _ in occurrences:
            if canonical in useless and any(by_path.get(path[:n]) in useless for n in range(len(path))):
                inner.add(canonical)
        kept -= (useless - inner) or useless
    return {id(node): (canonical, free) for node, canonical, free, _, _ in occurrences if canonical in kept}


class _TooLarge(Exception):
    pass


def _binder(node: Node) -> str | None:
    """The variable a macro call binds for its arguments after the first."""
    if (isinstance(node, Call) and node.target is not None and node.name in _MACROS and node.args
            and isinstance(node.args[0], Ident) and not node.args[0].rooted):
        return node.args[0].name
    return None


def _children(node: Node) -> Iterator[tuple[Node, str | None]]:
    """Each child with the macro variable bound for it (None if none)."""
    if isinstance(node, (Select, Unary)):
        yield node.operand, None
    elif isinstance(node, Index):
        yield node.operand, None
        yield node.key, None
    elif isinstance(node, (Binary, Logic)):
        yield node.left, None
        yield node.right, None
    elif isinstance(node, Cond):
        yield node.test, None
        yield node.then, None
        yield node.orelse, None
    elif isinstance(node, ListLit):
        for item in node.items:
            yield item, None
    elif isinstance(node, MapLit):
        for key, value in node.entries:
            yield key, None
            yield value, None
    elif isinstance(node, Call):
        if node.target is not None:
            yield node.target, None
        binder = _binder(node)
        for position, arg in enumerate(node.args):
            yield arg, binder if binder is not None and position > 0 else None


def _reads_item(canonical: Any) -> bool:
    """Whether a canonical form reads the variable `item` or `index`."""
    if type(canonical) is not tuple:
        return False
    if len(canonical) == 3 and canonical[0] == "var" and canonical[1] in ("item", "index"):
        return True
    return any(_reads_item(part) for part in canonical)


def _canonical(node: Node, enclosing: frozenset[str]) -> tuple[Any, tuple[str, ...]]:
    """`node`'s structure as a hashable value, with the macro variables bound inside it numbered
    by depth and those bound outside it (`enclosing`) by order of first use; and the latter's
    names in that order."""
    free: list[str] = []

    def walk(n: Node, inner: tuple[str, ...]) -> Any:
        if isinstance(n, Ident):
            if not n.rooted:
                if n.name in inner:
                    return ("bound", len(inner) - 1 - inner[::-1].index(n.name))
                if n.name in enclosing:
                    if n.name not in free:
                        free.append(n.name)
                    return ("free", free.index(n.name))
            return ("var", n.name, n.rooted)
        if isinstance(n, Lit):
            return ("lit", type(n.value).__name__, repr(n.value))
        parts: list[Any] = [type(n).__name__, getattr(n, "op", None), getattr(n, "name", None)]
        if isinstance(n, Call):
            parts.append(n.target is not None)
        binder = _binder(n)
        for child, bound in _children(n):
            if binder is not None and child is n.args[0]:
                continue  # the variable's name: bound uses are numbered instead
            parts.append(walk(child, inner + (bound,) if bound else inner))
        return tuple(parts)

    return walk(node, ()), tuple(free)


def _count(n: int) -> str:
    return f"{n} argument" + ("" if n == 1 else "s")


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, [c for c in candidates if isinstance(c, str)], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
