"""The code generator's macros (`all`, `exists`, `exists_one`, `map`, `filter`) as loops, and
`sum()` of a `map()` fused into one loop (a part of `generator.Generator`)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from .functions import MACROS
from .gen_values import Binding, Val, is_macro
from .nodes import Call, Ident, ListLit, Lit, Node
from .schema_types import ArrayOf, items_type


class MacrosMixin:
    def _macro(self, node: Call) -> Val:
        arities = MACROS[node.name]
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

    def _fused_sum(self, mapped: Call) -> Val:
        """`sum(xs.map(x, e))`, and `sum(xs.filter(x, p).map(y, e))`, as one loop adding up as
        it goes, with no list in between: the same additions in the same order as `sum`. An item
        that is not a number leaves the fast function for the checked one, which says so."""
        source_node, selected = mapped.target, None
        if is_macro(source_node, "filter", 2):
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


    def _macro_items(self, target: Node) -> tuple[Val, str, Binding]:
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
        return source, items, Binding(self.temp("_v"), items_type(source.ty), path, source.elem, exact)

    @contextmanager
    def _bound(self, name: str, binding: Binding) -> Iterator[None]:
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
                return Val(result, True, "list", body.kind, (ArrayOf(body.ty),))
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
        return Val(result, True, "list", body.kind, (ArrayOf(body.ty),))

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
