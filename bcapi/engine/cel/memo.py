"""The memo planner: which sub-expressions the fast code computes once per evaluation."""
from __future__ import annotations

from typing import Any, Iterator

from .functions import COSTLY_FUNCTIONS, MACROS
from .nodes import Binary, Call, Cond, Ident, Index, ListLit, Lit, Logic, MapLit, Node, Select, Unary

_MEMO_NODES = (Call, Unary, Binary, Logic, Cond)
_MEMO_MAX_NODES = 5000  # beyond this, no plan: it costs time at load for little gain


def memo_plan(root: Node) -> dict[int, tuple[Any, tuple[str, ...]]]:
    """The sub-expressions worth computing once per evaluation, as id(node) -> (canonical form,
    names of the macro variables it reads). A candidate contains a macro, so costs a loop, or a
    call of one of `COSTLY_FUNCTIONS`; its
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
        costly = isinstance(node, Call) and (node.target is not None and node.name in MACROS
                                             or node.target is None and node.name in COSTLY_FUNCTIONS)
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
    if (isinstance(node, Call) and node.target is not None and node.name in MACROS and node.args
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


def reads_item(canonical: Any) -> bool:
    """Whether a canonical form reads the variable `item` or `index`."""
    if type(canonical) is not tuple:
        return False
    if len(canonical) == 3 and canonical[0] == "var" and canonical[1] in ("item", "index"):
        return True
    return any(reads_item(part) for part in canonical)


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
