"""The AST the parser makes and the code generator reads: one dataclass per construct."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
