"""The function table: the macros, functions and methods a rule may call (name, arities, kind of
the result), the run-time helper behind each, and the names the generated code may use.

To add a function: its entry in FUNCTIONS (or METHODS), its helper in `runtime` and in HELPERS
(generated code calls it as `_f_NAME`), and in COSTLY_FUNCTIONS if a call is worth memoizing.
"""
from __future__ import annotations

import warnings
from decimal import Decimal
from types import CodeType
from typing import Any

from . import runtime as rt
from .runtime import CelEvalError, CelTypeError

MACROS = {"all": (2,), "exists": (2,), "exists_one": (2,), "map": (2, 3), "filter": (2,)}
# name: (arities, kind of the result)
FUNCTIONS = {"size": ((1,), "num"), "int": ((1,), "num"), "double": ((1,), "num"), "string": ((1,), "str"),
             "abs": ((1,), "num"), "round": ((2,), "num"), "sum": ((1,), "num"), "min": ((1,), None),
             "max": ((1,), None), "date": ((1,), "date"), "days_between": ((2,), "num"),
             "money": ((1,), "str"), "pct": ((1,), "str"), "num": ((1,), "str"),
             "has": ((1,), "bool"), "filled": ((1,), "bool"), "get": ((2,), None),
             "add_years": ((2,), "date"), "add_days": ((2,), "date"), "period_end": ((2,), "date"),
             "share_from": ((3,), "num"), "named": ((1,), "bool"), "baseline_line": ((2,), None),
             "mentions": ((2,), "bool"), "own_tariff": ((2,), "num"),
             "marginal_overstatement": ((6,), "num"), "word_count": ((1,), "num")}
METHODS = {"size": ((0,), "num"), "contains": ((1,), "bool"), "startsWith": ((1,), "bool"),
           "endsWith": ((1,), "bool"), "matches": ((1,), "bool"), "lowerAscii": ((0,), "str"),
           "trim": ((0,), "str")}
HELPERS = {"size": rt.size, "int": rt.to_int, "double": rt.to_decimal, "string": rt.to_string,
           "abs": rt.abs_, "round": rt.round_, "sum": rt.sum_, "min": rt.min_, "max": rt.max_,
           "date": rt.to_date, "days_between": rt.days_between, "money": rt.money, "pct": rt.pct,
           "num": rt.num, "contains": rt.contains, "startsWith": rt.starts_with, "endsWith": rt.ends_with,
           "matches": rt.matches_dynamic, "lowerAscii": rt.lower_ascii, "trim": rt.trim,
           "add_years": rt.add_years, "add_days": rt.add_days, "period_end": rt.period_end,
           "share_from": rt.share_from, "named": rt.named, "baseline_line": rt.baseline_line,
           "mentions": rt.mentions, "own_tariff": rt.own_tariff,
           "marginal_overstatement": rt.marginal_overstatement, "word_count": rt.word_count}

# The kinds of value each operand of a string method may be (the receiver first), as far as
# the code generator knows them at load ('num', 'str', 'bool', 'list', 'map', 'date', 'null'): a
# call that can never work, such as `(1).endsWith("x")`, is an error then, as in CEL's type
# checker. Other functions check their operands when they run only, so that a ruleset that
# loaded before still loads (a mistake in a message's rarely taken branch is not fatal).
_TEXT = frozenset({"str"})
OPERAND_KINDS = {
    "contains": (_TEXT, _TEXT), "startsWith": (_TEXT, _TEXT), "endsWith": (_TEXT, _TEXT),
    "matches": (_TEXT, _TEXT), "lowerAscii": (_TEXT,), "trim": (_TEXT,),
}
KIND_NAMES = {"num": "a number", "str": "a string", "bool": "a bool", "date": "a date", "list": "a list",
              "map": "a map", "null": "null"}  # in this order in messages

# The names generated code may use, besides its own temporaries and constants.
RUNTIME: dict[str, Any] = {
    "_NUM": rt.NUM, "_SIZED": rt.SIZED, "CelEvalError": CelEvalError, "_internal": rt.internal,
    "_var": rt.var, "_select": rt.select, "_index": rt.index, "_safe_index": rt.safe_index,
    "_make_map": rt.make_map, "_iterable": rt.iterable, "_not_bool": rt.not_bool,
    "_logical_not": rt.logical_not, "_filled": rt.filled,
    "_add": rt.add, "_sub": rt.sub, "_mul": rt.mul, "_div": rt.div, "_mod": rt.mod, "_neg": rt.neg,
    "_eq": rt.eq, "_ne": rt.ne, "_lt": rt.lt, "_le": rt.le, "_gt": rt.gt, "_ge": rt.ge,
    "_in": rt.contained_in, "_fail": rt.fail,
}
RUNTIME.update({"_f_" + name: helper for name, helper in HELPERS.items()})
RUNTIME["_matches"] = rt.matches
RUNTIME["_DIVIDE"] = rt.DIVIDE
RUNTIME["_Decimal"] = Decimal
RUNTIME["_UNSET"] = _UNSET = object()  # an empty memo slot (see memo_plan)


class _Fallback(Exception):
    """Raised by fast code to hand over to the checked function (which explains the problem)."""


RUNTIME["_Fallback"] = _Fallback

# Functions that cost a call into the run-time helpers: worth computing once when repeated.
COSTLY_FUNCTIONS = frozenset({"date", "days_between", "round", "money", "pct", "num", "string", "int", "double",
                              "min", "max", "sum", "add_years", "add_days", "period_end", "share_from",
                              "named", "baseline_line", "mentions", "own_tariff",
                              "marginal_overstatement", "word_count"})


def compile_generated(python_source: str, filename: str) -> CodeType:
    """Compile generated source. The generator must never write code Python refuses or warns
    about (a SyntaxWarning such as `'ab'['k']` is an error here too); if it ever does, that is
    reported as a problem with the expression, not as a Python traceback."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", SyntaxWarning)
            return compile(python_source, filename, "exec")
    except SyntaxError as exc:
        raise CelTypeError(f"the expression could not be compiled (an internal error, please report it: "
                           f"{exc.msg})") from None
