"""What the parts of the code generator share: generated values (`Val`), macro variable
bindings, and small helpers for generated code and messages."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import NamedTuple

from .nodes import Call, Node
from .schema_types import Type


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
class Binding:
    name: str       # the Python local holding the value
    ty: Type
    path: str | None
    kind: str | None
    exact: bool = False  # always an int or a string (it ranges over a literal list of them)


def is_macro(node: Node, name: str, arity: int) -> bool:
    return isinstance(node, Call) and node.target is not None and node.name == name and len(node.args) == arity


ATOM = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|-?[0-9]+|'[^'\\]*'|None|True|False")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def is_name(code: str) -> bool:
    """Whether generated `code` is a variable (not a literal such as 1, 'a' or True)."""
    return bool(_IDENT.fullmatch(code)) and code not in ("True", "False", "None")


def suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, [c for c in candidates if isinstance(c, str)], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
