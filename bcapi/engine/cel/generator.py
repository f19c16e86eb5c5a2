"""The code generator: checks an AST (names, arities, field paths) and writes the body of one
Python function for it, the *fast* or the *checked* kind (see the package docstring). Its
methods for operators, calls and macros are in `gen_operators`, `gen_calls` and `gen_macros`."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping

from .gen_calls import CallsMixin
from .gen_macros import MacrosMixin
from .gen_operators import OperatorsMixin
from .gen_values import ATOM, Binding, Val, is_name, suggest
from .memo import memo_plan, reads_item
from .nodes import Ident, Index, Lit, Node, Pos, Select
from .runtime import CelTypeError
from .schema_types import NoField, Type, describe_kinds, field_type, index_type, variable_type


class Generator(OperatorsMixin, CallsMixin, MacrosMixin):
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
        self.scope: dict[str, Binding] = {}
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
        return val if is_name(val.code) else self.fresh(val)

    def fresh(self, val: Val) -> Val:
        """`val` in a new temporary that the caller may assign to."""
        name = self.temp()
        self.emit(f"{name} = {val.code}")
        return val._replace(code=name, atom=True)

    def generate(self, node: Node) -> Val:
        if not self.checked:
            self.memo = memo_plan(node)
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
        if self.outer_tables is not None and not reads_item(canonical):
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
        return Val(code, bool(ATOM.fullmatch(code)), kind)

    def _gen_Ident(self, node: Ident, prefix: bool) -> Val:
        if not node.rooted and node.name in self.scope:
            binding = self.scope[node.name]
            return Val(binding.name, True, binding.kind, None, binding.ty, binding.path)
        if node.name not in self.variables:
            hint = suggest(node.name, list(self.variables) + list(self.scope))
            raise self.type_error(f"unknown variable '{node.name}'{hint}", node.pos)
        if node.name not in self.roots:
            self.roots[node.name] = f"v{len(self.roots)}_{node.name}"
        return Val(self.roots[node.name], True, None, None, variable_type(self.variables[node.name]), node.name)

    # --- member access ---

    def _field(self, base: Val, node: Select) -> Type:
        try:
            return field_type(base.ty, node.name)
        except NoField as missing:
            where = self.text(node.operand)
            if isinstance(node.operand, Ident) and node.operand.name in self.scope and base.path:
                where += f" ({base.path})"  # a macro variable: say what it ranges over
            if missing.known is None:
                message = f"no field '{node.name}' in {where}, which is {describe_kinds(missing.kinds)}"
            else:
                message = f"no field '{node.name}' in {where}{suggest(node.name, missing.known)}"
            raise self.type_error(message, node.name_pos) from None

    def _gen_Select(self, node: Select, prefix: bool) -> Val:
        base = self.gen(node.operand, prefix=True)
        ty = self._field(base, node)
        path = f"{base.path}.{node.name}" if base.path else None
        if not prefix:
            self.record(path)
        # The helper for a literal or a value known not to be a map (it fails, and says why);
        # Python would warn at compile time about `'ab'['k']` or `(1 + 2)['k']`.
        if self.checked or (base.atom and not is_name(base.code)) or base.kind not in (None, "map"):
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
        ty = index_type(base.ty, key_literal)
        return Val(f"_index({base.code}, {key.code}, {self.text(node.operand)!r})", False, None, None, ty, path)
