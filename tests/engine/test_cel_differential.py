"""Differential testing: random expressions over the functions the dialect shares with CEL,
evaluated by bcapi and by Google's C++ CEL (`cel-expr-python`, an optional test dependency),
which must agree modulo the differences docs/rules.md documents.

The expressions are typed as CEL's checker wants them (ints and doubles are not mixed, `/` is
only used on doubles, by 0.5, 2 or 4, so that binary floating point and exact decimals give the
same figures), with macros over lists and maps, string methods, comparisons, conversions,
indexing that may be out of range and keys that may be missing. Outcomes agree when both give
the same value (numbers by value) or both fail. Differences allowed, as documented:

* "Left to right, the first error wins": where the expression has `&&`, `||` or a quantifier
  macro, CEL may give a value where bcapi fails;
* "Numbers have no machine limits": where CEL overflows 64 bits, bcapi gives the figure;
* "Operands meet when the expression runs": where CEL's checker finds no overload of `==`,
  `!=`, `in` or `[]` for the operands' types, bcapi gives a value.

`BCAPI_CEL_FUZZ_EXAMPLES=20000` runs more examples than CI's.
"""
from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bcapi.engine.cel import CelError, compile_expression

try:
    from cel_expr_python import cel as google_cel
except ImportError as exc:  # pragma: no cover - depends on the platform
    google_cel = None
    UNAVAILABLE = f"cel-expr-python does not load here ({exc}): the differential test against Google's CEL DID NOT RUN"

EXAMPLES = int(os.environ.get("BCAPI_CEL_FUZZ_EXAMPLES", "300"))

INT, DOUBLE, STRING, BOOL = "int", "double", "string", "bool"
LIST_INT, LIST_STRING, MAP = "list<int>", "list<string>", "map<string,int>"
ELEMENT = {LIST_INT: INT, LIST_STRING: STRING, MAP: STRING}  # what a macro's variable ranges over

ints = st.integers(-6, 12).map(str)
doubles = st.sampled_from(["0.0", "0.5", "1.25", "2.0", "-3.75", "10.5", ".25"])
texts = st.text(alphabet="aAbB é\t", max_size=4).map(lambda s: "'" + s.replace("\t", "\\t") + "'")
keys = st.sampled_from(["'a'", "'b'", "'c'"])
patterns = st.sampled_from(["'a'", "'^a'", "'b$'", "'[ab]+'", "'.*'", "'^$'", "'A|é'"])


def variables_of(kind: str, env: dict[str, str]) -> list[str]:
    return [name for name, t in env.items() if t == kind]


def expression(kind: str, depth: int, env: dict[str, str] | None = None) -> st.SearchStrategy[str]:
    """Source text of an expression of CEL type `kind`, at most `depth` levels deep, that may
    read the macro variables in `env` (name -> type)."""
    return _expression(kind, depth, tuple(sorted((env or {}).items())))


@lru_cache(maxsize=None)
def _expression(kind: str, depth: int, bound: tuple[tuple[str, str], ...]) -> st.SearchStrategy[str]:
    # Made once per (kind, depth, variables): building strategies is what costs in this test.
    env = dict(bound)
    leaves = {INT: ints, DOUBLE: doubles, STRING: texts, BOOL: st.sampled_from(["true", "false"]),
              LIST_INT: st.lists(ints, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
              LIST_STRING: st.lists(texts, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
              MAP: st.dictionaries(keys, ints, max_size=3).map(
                  lambda m: "{" + ", ".join(f"{k}: {v}" for k, v in m.items()) + "}")}[kind]
    names = variables_of(kind, env)
    if names:
        leaves = st.one_of(leaves, st.sampled_from(names))
    if depth <= 0:
        return leaves
    sub = lambda k, e=env: expression(k, depth - 1, e)  # noqa: E731
    binder = st.sampled_from(["x", "y"])
    choices = [leaves, st.tuples(sub(BOOL), sub(kind), sub(kind)).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})")]
    if kind == INT:
        choices += [
            st.tuples(sub(INT), st.sampled_from(["+", "-", "*"]), sub(INT)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub(INT), st.sampled_from(["3", "-4", "7"])).map(lambda t: f"({t[0]} % {t[1]})"),
            sub(INT).map(lambda e: f"-({e})"),
            st.one_of(sub(STRING), sub(LIST_INT), sub(MAP)).map(lambda e: f"size({e})"),
            sub(DOUBLE).map(lambda e: f"int({e})"),
            st.tuples(sub(LIST_INT), sub(INT)).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(sub(MAP), keys).map(lambda t: f"{t[0]}[{t[1]}]"),
        ]
    elif kind == DOUBLE:
        choices += [
            st.tuples(sub(DOUBLE), st.sampled_from(["+", "-", "*"]), sub(DOUBLE)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub(DOUBLE), st.sampled_from(["2.0", "0.5", "4.0"])).map(lambda t: f"({t[0]} / {t[1]})"),
            sub(INT).map(lambda e: f"double({e})"),
            st.sampled_from(["'2.5'", "'-0.75'", "'1e2'"]).map(lambda e: f"double({e})"),
        ]
    elif kind == STRING:
        choices += [
            st.tuples(sub(STRING), sub(STRING)).map(lambda t: f"({t[0]} + {t[1]})"),
            sub(STRING).map(lambda e: f"{e}.lowerAscii()"), sub(STRING).map(lambda e: f"{e}.trim()"),
            st.one_of(sub(INT), sub(DOUBLE), sub(BOOL)).map(lambda e: f"string({e})"),
            st.tuples(sub(LIST_STRING), sub(INT)).map(lambda t: f"{t[0]}[{t[1]}]"),
        ]
    elif kind == BOOL:
        comparable = st.sampled_from([INT, DOUBLE, STRING])
        choices += [
            st.tuples(sub(BOOL), st.sampled_from(["&&", "||"]), sub(BOOL)).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            sub(BOOL).map(lambda e: f"!({e})"),
            comparable.flatmap(lambda k: st.tuples(sub(k), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
                                                   sub(k))).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.sampled_from([LIST_INT, LIST_STRING, MAP]).flatmap(lambda k: st.tuples(sub(k), sub(k))).map(
                lambda t: f"({t[0]} == {t[1]})"),
            st.tuples(sub(STRING), st.sampled_from(["contains", "startsWith", "endsWith"]), sub(STRING)).map(
                lambda t: f"{t[0]}.{t[1]}({t[2]})"),
            st.tuples(sub(STRING), patterns).map(lambda t: f"{t[0]}.matches({t[1]})"),
            st.tuples(sub(INT), sub(LIST_INT)).map(lambda t: f"({t[0]} in {t[1]})"),
            st.tuples(sub(STRING), sub(MAP)).map(lambda t: f"({t[0]} in {t[1]})"),
            st.tuples(sub(MAP), keys).map(lambda t: f"has({t[0]}.{t[1][1:-1]})"),
            st.tuples(st.sampled_from([LIST_INT, LIST_STRING, MAP]), binder,
                      st.sampled_from(["all", "exists", "exists_one"])).flatmap(
                lambda t: st.tuples(sub(t[0]), expression(BOOL, depth - 1, {**env, t[1]: ELEMENT[t[0]]})).map(
                    lambda s, t=t: f"{s[0]}.{t[2]}({t[1]}, {s[1]})")),
        ]
    elif kind in (LIST_INT, LIST_STRING):
        element = ELEMENT[kind]
        choices += [
            st.tuples(sub(kind), sub(kind)).map(lambda t: f"({t[0]} + {t[1]})"),
            st.tuples(sub(kind), binder).flatmap(lambda t: expression(BOOL, depth - 1, {**env, t[1]: element}).map(
                lambda p, t=t: f"{t[0]}.filter({t[1]}, {p})")),
            st.tuples(sub(LIST_INT), binder).flatmap(lambda t: expression(element, depth - 1, {**env, t[1]: INT}).map(
                lambda e, t=t: f"{t[0]}.map({t[1]}, {e})")),
        ]
    return st.one_of(choices)


well_typed = st.sampled_from([INT, DOUBLE, STRING, BOOL, LIST_INT]).flatmap(lambda kind: expression(kind, 3))
any_kind = st.sampled_from([INT, DOUBLE, STRING, BOOL, LIST_INT, MAP]).flatmap(lambda kind: expression(kind, 1))
not_text = st.sampled_from([INT, DOUBLE, BOOL, LIST_INT, MAP]).flatmap(lambda kind: expression(kind, 1))
# What CEL's checker refuses: bcapi must fail too (at load or when run), never raise anything
# but its own errors.
ill_typed = st.one_of(
    st.tuples(not_text, st.sampled_from(["contains", "startsWith", "endsWith"]), texts).map(
        lambda t: f"({t[0]}).{t[1]}({t[2]})"),
    st.tuples(texts, st.sampled_from(["contains", "startsWith", "endsWith", "matches"]), not_text).map(
        lambda t: f"{t[0]}.{t[1]}({t[2]})"),
    st.tuples(not_text, st.sampled_from(["lowerAscii", "trim"])).map(lambda t: f"({t[0]}).{t[1]}()"),
    st.one_of(expression(INT, 1), expression(DOUBLE, 1), expression(BOOL, 1)).map(lambda e: f"size({e})"),
    st.tuples(st.one_of(st.just("null"), expression(LIST_INT, 1), expression(MAP, 1)), expression(MAP, 1)).map(
        lambda t: f"({t[0]} in {t[1]})"),
    st.tuples(st.one_of(expression(STRING, 1), expression(INT, 1)), keys).map(lambda t: f"({t[0]})[{t[1]}]"),
    st.sampled_from(["1.", "1.e5", "-2.", "[1.]"]),
)
# Maps whose keys mix bool, int and string, and lookups in them by every kind of key.
mixed_keys = st.sampled_from(["true", "false", "0", "1", "2", "'a'"])
mixed_maps = st.lists(st.tuples(mixed_keys, ints), max_size=4, unique_by=lambda kv: kv[0]).map(
    lambda kvs: "{" + ", ".join(f"{k}: {v}" for k, v in kvs) + "}")
mixed = st.tuples(st.one_of(mixed_keys, st.sampled_from(["1.0", "0.0", "2.5"])), mixed_maps,
                  st.sampled_from(["{0} in {1}", "{1}[{0}]", "size({1})", "size({1}.filter(k, k == {0}))",
                                   "{1}.exists(k, k == {0})"])).map(lambda t: t[2].format(t[0], t[1]))
expressions = st.one_of(well_typed, well_typed, well_typed, ill_typed, mixed)

_ERROR = object()


def bcapi_outcome(source: str) -> Any:
    try:
        return compile_expression(source, {})({})
    except CelError:
        return _ERROR


def google_outcome(environment: Any, source: str) -> tuple[Any, str]:
    try:
        value = environment.compile(source).eval()
    except RuntimeError as exc:  # refused by the parser or the checker
        return _ERROR, str(exc).splitlines()[0]
    if str(value.type()) == "ERROR":
        return _ERROR, str(value.plain_value())
    return value.plain_value(), ""


def agree(ours: Any, theirs: Any) -> bool:
    if ours is _ERROR or theirs is _ERROR:
        return ours is theirs
    if type(theirs) is bool or theirs is None:
        return ours is theirs
    if type(theirs) in (int, float):
        return type(ours) in (int, Decimal) and Decimal(theirs) == ours
    if type(theirs) is list:
        return type(ours) is list and len(ours) == len(theirs) and all(map(agree, ours, theirs))
    if type(theirs) is dict:  # a bool key is a BoolKey in bcapi's maps; none is generated as a result
        return type(ours) is dict and len(ours) == len(theirs)
    return type(ours) is type(theirs) and ours == theirs


def documented_difference(source: str, ours: Any, theirs: Any, message: str) -> bool:
    if ours is _ERROR and theirs is not _ERROR:
        return any(token in source for token in ("&&", "||", ".all(", ".exists(", ".exists_one("))
    if theirs is _ERROR and "found no matching overload for '" in message:
        return any(f"for '{op}'" in message for op in ("@in", "_==_", "_!=_", "_[_]"))
    return theirs is _ERROR and "overflow" in message.lower()


@pytest.fixture(scope="module")
def google() -> Any:
    if google_cel is None:
        pytest.skip(UNAVAILABLE)
    return google_cel.NewEnv(extensions=[google_cel.CelExtensionBase("strings")])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                     HealthCheck.function_scoped_fixture])
@given(source=expressions)
def test_bcapi_and_googles_cel_agree(google, source):
    theirs, message = google_outcome(google, source)
    ours = bcapi_outcome(source)
    if not agree(ours, theirs) and not documented_difference(source, ours, theirs, message):
        shown = "an error" if ours is _ERROR else repr(ours)
        raise AssertionError(f"{source}\n  bcapi: {shown}\n  Google's CEL: {message or repr(theirs)}")
