"""The code generator's operators: arithmetic, comparison, equality, `in`, `!`, `&&`, `||`,
`?:` and list and map literals (a part of `generator.Generator`)."""
from __future__ import annotations

from .gen_values import Val, is_name
from .nodes import Binary, Cond, ListLit, Lit, Logic, MapLit, Unary
from .schema_types import ArrayOf

_ARITH = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div", "%": "_mod"}
_COMPARE = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}


class OperatorsMixin:
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
            if this.kind in ("str", "null", "bool") and this.atom and is_name(other.code):
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
        return Val(code, False, "list", elem, (ArrayOf(None),))

    def _gen_MapLit(self, node: MapLit) -> Val:
        values = self.gen_all([part for entry in node.entries for part in entry])
        literal_keys = [k.value for k, _ in node.entries if isinstance(k, Lit) and type(k.value) is str]
        if not self.checked and len(literal_keys) == len(node.entries) == len(set(literal_keys)):
            pairs = ", ".join(f"{values[i].code}: {values[i + 1].code}" for i in range(0, len(values), 2))
            return Val("{" + pairs + "}", False, "map")
        return Val(f"_make_map({', '.join(v.code for v in values)})", False, "map")
