"""Parsing: cel-python's grammar and lark parse tree to the AST of `nodes`, with positions, literal
values and syntax errors worded for a rule author."""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from typing import Any, Iterator

import lark
from celpy.celparser import CELParseError, CELParser

from . import runtime as rt
from .nodes import (Binary, Call, Cond, Ident, Index, ListLit, Lit, Logic, MapLit, Node, Pos, Select,
                    Unary)
from .runtime import CelSyntaxError, CelTypeError


_BINARY = {"relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
           "relation_eq": "==", "relation_ne": "!=", "relation_in": "in",
           "addition_add": "+", "addition_sub": "-",
           "multiplication_mul": "*", "multiplication_div": "/", "multiplication_mod": "%"}


@lru_cache(maxsize=4096)
def parse(source: str) -> Node:
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
        if not _FLOAT_TEXT.fullmatch(text):  # cel-python's lexer also takes `1.` and `1.e5`
            raise CelSyntaxError(f"syntax error: a number needs a digit after its '.' ({text})",
                                 column=pos.column, line=pos.line)
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


# CEL's FLOAT_LIT: digits after the point, or an exponent.
_FLOAT_TEXT = re.compile(r"-?(?:[0-9]*\.[0-9]+(?:[eE][+-]?[0-9]+)?|[0-9]+[eE][+-]?[0-9]+)")
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
