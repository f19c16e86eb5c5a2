"""The code generator's function and method calls, inline where the operands suit, and the
absent-tolerant paths of `has()`, `filled()` and `get()` (a part of `generator.Generator`)."""
from __future__ import annotations

import re

from .functions import FUNCTIONS, KIND_NAMES, MACROS, METHODS, OPERAND_KINDS
from .gen_values import Val, is_macro, is_name, suggest
from .nodes import Call, Index, Lit, Node, Select
from .schema_types import Type, index_type, without_null


class CallsMixin:
    def _gen_Call(self, node: Call) -> Val:
        if node.target is not None and node.name in MACROS:
            return self._macro(node)
        table, kind_of = (METHODS, "method") if node.target is not None else (FUNCTIONS, "function")
        if node.name not in table:
            other = FUNCTIONS if node.target is not None else METHODS
            hint = ""
            if node.name in other or node.name in MACROS:
                hint = f" (write {node.name}(x))" if node.target is not None else f" (write x.{node.name}(...))"
            else:
                hint = suggest(node.name, list(table) + (list(MACROS) if node.target is not None else []))
            raise self.type_error(f"unknown {kind_of} '{node.name}'{hint}", node.name_pos)
        arities, kind = table[node.name]
        if len(node.args) not in arities:
            raise self.type_error(f"{node.name}() takes {_count(arities[0])}, got {len(node.args)}", node.name_pos)
        if node.name in ("has", "filled", "get"):
            return getattr(self, "_" + node.name)(node)
        operands = [node.target] if node.target is not None else []
        if node.name == "matches" and isinstance(node.args[0], Lit) and type(node.args[0].value) is str:
            return self._matches_literal(node)
        if not self.checked and node.name == "sum" and node.target is None and is_macro(node.args[0], "map", 2):
            return self._fused_sum(node.args[0])
        vals = self.gen_all(operands + node.args)
        self._check_kinds(node, vals)
        fast = None if self.checked else self._fast_call(node.name, vals)
        if fast is not None:
            return fast
        elem_kind = vals[0].elem if node.name in ("min", "max") and vals[0].kind == "list" else None
        return Val(f"_f_{node.name}({', '.join(v.code for v in vals)})", False, kind or elem_kind)

    def _check_kinds(self, node: Call, vals: list[Val]) -> None:
        """A type error for an operand whose kind is known and rules the call out."""
        operands = [node.target, *node.args] if node.target is not None else node.args
        for operand, val, allowed in zip(operands, vals, OPERAND_KINDS.get(node.name, ())):
            if val.kind is not None and val.kind not in allowed:
                names = [name for kind, name in KIND_NAMES.items() if kind in allowed]
                wanted = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
                raise self.type_error(f"{node.name}() needs {wanted}, not {KIND_NAMES[val.kind]}: "
                                      f"{self.text(operand)}", operand.pos)

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
            text, part = self._receiver(vals[0]), self.atom(vals[1])
            test = {"contains": f"{part.code} in {text.code}", "startsWith": f"{text.code}.startswith({part.code})",
                    "endsWith": f"{text.code}.endswith({part.code})"}[name]
            guards = [f"type({v.code}) is str" for v in (text, part) if v.kind != "str"]
            if not guards:
                return Val(f"({test})", False, "bool")
            return Val(f"({test} if {' and '.join(guards)} else _f_{name}({text.code}, {part.code}))", False, "bool")
        if name == "lowerAscii":
            text = self._receiver(vals[0])
            return Val(f"({text.code}.lower() if type({text.code}) is str and {text.code}.isascii() "
                       f"else _f_lowerAscii({text.code}))", False, "str")
        if name == "trim":
            text = self._receiver(vals[0])
            return Val(f"({text.code}.strip() if type({text.code}) is str else _f_trim({text.code}))", False, "str")
        if name in ("min", "max") and vals[0].kind == "list" and vals[0].elem == "num":
            value = self.atom(vals[0])
            return Val(f"({name}({value.code}) if {value.code} else _f_{name}({value.code}))", False, "num")
        return None


    def _receiver(self, val: Val) -> Val:
        """`val` as the receiver of a Python method call in generated code: a name or a string
        literal, never a number literal (`1.endswith(...)` does not even parse)."""
        val = self.atom(val)
        return val if val.kind == "str" or is_name(val.code) else self.fresh(val)

    def _matches_literal(self, node: Call) -> Val:
        pattern = node.args[0].value
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise self.type_error(f"invalid regular expression {pattern!r}: {exc}", node.args[0].pos) from None
        (target,) = self.gen_all([node.target])
        self._check_kinds(node, [target])
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
        ty = index_type(current.ty, key_value)
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
        return Val(value.code, True, None, None, without_null(ty), path)


def _count(n: int) -> str:
    return f"{n} argument" + ("" if n == 1 else "s")
