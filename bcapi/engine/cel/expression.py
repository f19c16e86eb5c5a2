"""`compile_expression`: one rule expression to a `Compiled` Python function."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .functions import RUNTIME, compile_generated
from .generator import Generator
from .parser import parse
from .runtime import CelSyntaxError
from .schema_types import schema_of


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
    ast = parse(source)
    fast = Generator(source, variables, checked=False)
    result = fast.generate(ast)
    checked = Generator(source, variables, checked=True)
    checked.generate(ast)
    python_source = "\n".join([checked.function_source("_checked"), fast.function_source("_fast")])
    namespace: dict[str, Any] = dict(RUNTIME)
    namespace.update(checked.constants)
    namespace.update(fast.constants)
    exec(compile_generated(python_source, f"<rule expression {source[:60]!r}>"), namespace)  # noqa: S102
    return Compiled.create(source, tuple(fast.paths), schema_of(result.ty), python_source, namespace["_fast"])
