"""The CEL conformance suite (cel-spec's `tests/simple/testdata`, vendored in `celspec/`) run
against the rule-expression dialect.

Every case is one of:

* **unsupported**: it uses what docs/rules.md lists as not in the dialect (uint, bytes,
  messages, `dyn()`, an extension function ...), found by `unsupported` below from the case's
  expression, bindings and expected value;
* a **documented difference**: listed in DIFFERENCES with the bold item of docs/rules.md that
  explains it; it must still differ (a case that starts passing must leave the list), and the
  table in docs/rules.md must be exactly what this run gives;
* **supported**: everything else, which must pass: the same value (numbers compared by value,
  as the dialect has one number type; bool is never a number) or, where CEL expects an error,
  an error (at load or at run time).

    python tests/engine/test_celspec.py --write-docs   # rewrites the table in docs/rules.md
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from bcapi.engine.cel import CelError, CelEvalError, compile_expression
from bcapi.engine.cel.functions import FUNCTIONS, MACROS, METHODS

HERE = Path(__file__).resolve().parent
DATA = HERE / "celspec"
DOCS = HERE.parents[1] / "docs" / "rules.md"
START, END = "<!-- celspec-differences:start -->", "<!-- celspec-differences:end -->"

# Each documented difference: the words in docs/rules.md that explain it.
WHY = {
    "numbers": "**Numbers are exact decimals.**",
    "limits": "**Numbers have no machine limits.**",
    "left-to-right": "**Left to right, the first error wins.**",
    "load": "**Names are checked at load.**",
}
DIFFERENCES = {
    "basic/variables/unbound_is_runtime_error": "load",
    "comparisons/eq_literal/not_eq_double_nan": "limits",
    "comparisons/ne_literal/not_ne_double_nan": "limits",
    "comparisons/ne_literal/ne_double_nan": "limits",
    "conversions/int/double_big_precision": "numbers",
    "conversions/int/double_int_max_range": "limits",
    "conversions/int/double_int_min_range": "limits",
    "conversions/int/double_range": "limits",
    "conversions/uint/double_uint_max_range": "limits",
    "fp_math/fp_math/mod_not_support": "limits",
    "fp_math/fp_math/fp_underflow": "limits",
    "integer_math/int64_math/int64_overflow_positive": "limits",
    "integer_math/int64_math/int64_overflow_negative": "limits",
    "integer_math/int64_math/int64_overflow_add_negative": "limits",
    "integer_math/int64_math/int64_overflow_sub_positive": "limits",
    "integer_math/int64_math/int64_min_negate": "limits",
    "integer_math/int64_math/int64_min_negate_mul": "limits",
    "integer_math/int64_math/int64_min_negate_div": "limits",
    "integer_math/int64_math/int64_overflow_mul_positive": "limits",
    "integer_math/int64_math/int64_overflow_mul_negative": "limits",
    "logic/AND/short_circuit_type_right": "left-to-right",
    "logic/AND/short_circuit_error_right": "left-to-right",
    "logic/OR/short_circuit_type_right": "left-to-right",
    "logic/OR/short_circuit_error_right": "left-to-right",
    "macros/all/list_elem_error_shortcircuit": "left-to-right",
    "basic/functions/unbound_is_runtime_error": "load",
}
# `a.if() || true`: CEL lets `true` absorb the call of a function that does not exist.
_RESERVED = ("as", "break", "const", "continue", "else", "for", "function", "if", "import", "let", "loop",
             "package", "namespace", "return", "var", "void", "while")
DIFFERENCES.update({f"parse/receiver_function_names/{word}": "load" for word in _RESERVED})
# Names no CEL library has: calling one is the error the case is about, not a missing feature.
_NO_FUNCTION = frozenset({"f_unknown", *_RESERVED})


# --- the protocol-buffer text format, the subset the test files use ---------------------------

_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<bracketed>\[[A-Za-z0-9_./]+\])
  | (?P<punct>[{}:\[\],;<>])
  | (?P<word>[A-Za-z0-9_.+-]+)
""", re.X)
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)
_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b", b"f": b"\f", b"v": b"\v",
           b"\\": b"\\", b"'": b"'", b'"': b'"', b"?": b"?"}


def _unescape(body: str) -> bytes:
    def one(match: re.Match) -> bytes:
        code = match.group(1)
        if code in _SIMPLE:
            return _SIMPLE[code]
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1] in (b"u", b"U"):
            return chr(int(code[1:], 16)).encode("utf-8")
        if code[:1].isdigit():
            return bytes([int(code, 8)])
        raise ValueError(f"unknown escape \\{code.decode()}")
    return _ESCAPE.sub(one, body.encode("utf-8"))


def parse_textproto(text: str) -> dict:
    """A message as a dict: field name -> list of values, each a dict (a message), bytes (a
    quoted string) or str (a number, an enum, true or false)."""
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise ValueError(f"unreadable text at {text[at:at + 30]!r}")
        if match.lastgroup != "space":
            tokens.append((match.lastgroup, match.group()))
        at = match.end()
    message, _ = _message(tokens, 0, None)
    return message


def _message(tokens: list, i: int, close: str | None) -> tuple[dict, int]:
    fields: dict[str, list] = {}
    while i < len(tokens):
        kind, text = tokens[i]
        if close is not None and text == close:
            return fields, i + 1
        if kind not in ("word", "bracketed"):
            raise ValueError(f"expected a field name, found {text!r}")
        name, i = text, i + 1
        if tokens[i][1] == ":":
            i += 1
        if tokens[i][1] == "[":  # a list of values
            i += 1
            while tokens[i][1] != "]":
                value, i = _value(tokens, i)
                fields.setdefault(name, []).append(value)
                i += tokens[i][1] == ","
            i += 1
        else:
            value, i = _value(tokens, i)
            fields.setdefault(name, []).append(value)
        if i < len(tokens) and tokens[i][1] in (",", ";"):
            i += 1
    if close is not None:
        raise ValueError("a message is not closed")
    return fields, i


def _value(tokens: list, i: int) -> tuple[Any, int]:
    kind, text = tokens[i]
    if text in ("{", "<"):
        return _message(tokens, i + 1, "}" if text == "{" else ">")
    if kind == "string":  # adjacent strings are one
        parts = []
        while i < len(tokens) and tokens[i][0] == "string":
            parts.append(_unescape(tokens[i][1][1:-1]))
            i += 1
        return b"".join(parts), i
    if kind == "word":
        return text, i + 1
    raise ValueError(f"unexpected {text!r}")


# --- the cases ----------------------------------------------------------------------------------

class Unsupported(Exception):
    """The case uses something the dialect does not have (the message says what)."""


_ERROR = object()  # an expected or actual error


@dataclass
class Case:
    name: str  # file/section/test, as cel-spec names it
    expr: str
    test: dict

    @property
    def bindings(self) -> dict:
        return {b["key"][0].decode(): _python(b["value"][0]["value"][0]) for b in self.test.get("bindings", [])}

    @property
    def expected(self) -> Any:
        if "eval_error" in self.test:
            return _ERROR
        if "value" in self.test:
            return _python(self.test["value"][0])
        if set(self.test) - {"name", "description", "expr", "disable_check", "bindings"}:
            raise Unsupported("an expectation other than a value or an error")
        return True  # SimpleTest: no expectation means `true`


def _python(value: dict) -> Any:
    """A cel.expr.Value as the dialect's value."""
    (kind, (x,)), = value.items()
    if kind == "int64_value":
        return int(x)
    if kind == "double_value":
        if x.lower().lstrip("-") in ("inf", "infinity", "nan"):
            raise Unsupported("infinity and NaN")
        return Decimal(x)
    if kind == "string_value":
        return x.decode("utf-8")
    if kind == "bool_value":
        return x == "true"
    if kind == "null_value":
        return None
    if kind == "list_value":
        return [_python(v) for v in x.get("values", [])]
    if kind == "map_value":
        entries = [(_python(e["key"][0]), _python(e["value"][0])) for e in x.get("entries", [])]
        if any(type(k) is bool for k, _ in entries):
            raise Unsupported("a map with bool keys as a value")  # Python's dict would merge true and 1
        return dict(entries)
    raise Unsupported({"uint64_value": "unsigned integers", "bytes_value": "bytes", "type_value": "type values",
                       "object_value": "protocol-buffer messages", "enum_value": "enums"}.get(kind, kind))


_STRINGS = re.compile(r"""[rR]?(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.S)
_FEATURES = [
    (r"\b\d+[uU]\b", "unsigned integers"),
    (r"\b[bB](?=')", "bytes"),
    (r"`", "backtick-quoted names"),
    (r"\?\.|\[\?|\boptional\b", "optionals"),
    (r"\b[A-Z]\w*\s*\{|\bgoogle\.protobuf\b|\bTestAllTypes\b", "protocol-buffer messages"),
    (r"\b(int|uint|double|bool|string|bytes|list|map|null_type|type|dyn)\b(?!\s*\()", "type names as values"),
    (r"\.(all|exists|exists_one|existsOne)\(\s*\w+\s*,\s*\w+\s*,", "two-variable macros"),
]


def unsupported(case: Case) -> str | None:
    """Why the dialect cannot run `case`, or None."""
    if "container" in case.test:
        return "containers"
    if case.test.get("check_only", ["false"])[0] == "true":
        return "type checking only"
    try:
        bindings = case.bindings
        case.expected  # noqa: B018 - raises Unsupported for a value of a kind the dialect lacks
    except Unsupported as exc:
        return str(exc)
    if any("." in name for name in bindings):
        return "qualified names"
    code = _STRINGS.sub("''", case.expr)  # a bytes literal b'..' is left as b''
    for pattern, reason in _FEATURES:
        if re.search(pattern, code):
            return reason
    for match in re.finditer(r"(\.)?\s*([A-Za-z_]\w*)\s*\(", code):
        dot, name = match.groups()
        if name not in (METHODS if dot else FUNCTIONS) and name not in MACROS and name not in _NO_FUNCTION:
            return f"{name}()"
    return None


@lru_cache(maxsize=1)
def cases() -> list[Case]:
    found = []
    for path in sorted(DATA.glob("*.textproto")):
        spec = parse_textproto(path.read_text(encoding="utf-8"))
        for section in spec.get("section", []):
            for test in section.get("test", []):
                name = f"{path.stem}/{section['name'][0].decode()}/{test['name'][0].decode()}"
                found.append(Case(name, test["expr"][0].decode("utf-8"), test))
    return found


def run(case: Case) -> Any:
    """The dialect's result for the case, or _ERROR and the message."""
    bindings = case.bindings
    try:
        return compile_expression(case.expr, {name: None for name in bindings})(bindings), None
    except (CelError, CelEvalError) as exc:
        return _ERROR, exc.message


def same(actual: Any, expected: Any) -> bool:
    """Equal as the dialect's values: numbers by value across int and Decimal, bool never a number."""
    if expected is _ERROR or actual is _ERROR:
        return actual is expected
    if type(expected) is bool or expected is None:
        return actual is expected
    if type(expected) in (int, Decimal):
        return type(actual) in (int, Decimal) and actual == expected
    if type(expected) is list:
        return type(actual) is list and len(actual) == len(expected) and all(map(same, actual, expected))
    if type(expected) is dict:
        return (type(actual) is dict and len(actual) == len(expected)
                and all(k in actual and same(actual[k], v) for k, v in expected.items()))
    return type(actual) is type(expected) and actual == expected


def shown(value: Any, message: str | None = None) -> str:
    """A value as CEL writes it, for the table."""
    if value is _ERROR:
        return f"error: {message}" if message else "an error"
    if value is None:
        return "null"
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is Decimal:
        return str(value) if abs(value) < 10 ** 30 else f"{value:.6E}"
    if type(value) is str:
        return repr(value)
    return str(value)


# --- the run --------------------------------------------------------------------------------------

def outcomes() -> dict[str, list]:
    """Every case by kind: 'pass', 'fail', 'difference' (with what the dialect gives) and
    'unsupported' (with why)."""
    result: dict[str, list] = {"pass": [], "fail": [], "difference": [], "unsupported": []}
    for case in cases():
        reason = unsupported(case)
        if reason is not None:
            result["unsupported"].append((case, reason))
            continue
        actual, message = run(case)
        ok = same(actual, case.expected)
        if case.name in DIFFERENCES:
            result["difference"].append((case, actual, message, ok))
        else:
            result["pass" if ok else "fail"].append((case, actual, message))
    return result


def docs_line(key: str) -> int:
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if WHY[key] in line)


def table(run_outcomes: dict[str, list]) -> str:
    counts = {kind: len(found) for kind, found in run_outcomes.items()}
    total = sum(counts.values())
    supported = counts["pass"] + counts["fail"]
    rows = [f"{total} cases in {len(list(DATA.glob('*.textproto')))} files: {supported} supported, of which "
            f"{counts['pass']} pass; {counts['difference']} documented differences; {counts['unsupported']} "
            "unsupported.", "", "| case | expression | CEL | this dialect | why |", "|---|---|---|---|---|"]
    for case, actual, message, _ in run_outcomes["difference"]:
        expr = case.expr.replace("|", "\\|")
        rows.append(f"| `{case.name}` | `{expr}` | {shown(case.expected)} | {shown(actual, message)} | "
                    f"{WHY[DIFFERENCES[case.name]].strip('*').rstrip('.')} |")
    return "\n".join(rows)


def documented_table() -> str:
    text = DOCS.read_text(encoding="utf-8")
    return text[text.index(START) + len(START):text.index(END)].strip("\n")


@pytest.fixture(scope="module")
def the_run() -> dict[str, list]:
    return outcomes()


def test_every_supported_case_passes(the_run):
    failures = [f"{case.name}: {case.expr} gave {shown(actual, message)}, CEL expects {shown(case.expected)}"
                for case, actual, message in the_run["fail"]]
    assert not failures, "\n".join(failures)
    assert len(the_run["pass"]) > 500  # the files were read


def test_every_documented_difference_still_differs_and_says_where_it_is_documented(the_run):
    still_passing = [case.name for case, _, _, ok in the_run["difference"] if ok]
    assert not still_passing, f"these pass now: take them out of DIFFERENCES: {still_passing}"
    assert {case.name for case, _, _, _ in the_run["difference"]} == set(DIFFERENCES), "a listed case is gone"
    for key in set(DIFFERENCES.values()):
        assert docs_line(key) > 0


def test_the_table_in_docs_is_the_run(the_run):
    assert documented_table() == table(the_run), "run `python tests/engine/test_celspec.py --write-docs`"


def test_the_reader_reads_escapes_adjacent_strings_and_lists():
    spec = parse_textproto('a: "x\\n\\303\\277" \'y\'  # a comment\nb { c: [1, 2] d: true }\nb <c: -3>')
    assert spec == {"a": ["x\n\u00ff".encode("utf-8") + b"y"], "b": [{"c": ["1", "2"], "d": ["true"]}, {"c": ["-3"]}]}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-docs"]:
        sys.exit(__doc__)
    text = DOCS.read_text(encoding="utf-8")
    new = text[:text.index(START) + len(START)] + "\n" + table(outcomes()) + "\n" + text[text.index(END):]
    DOCS.write_text(new, encoding="utf-8")
    run_outcomes = outcomes()
    print(table(run_outcomes).splitlines()[0])
    for key in WHY:
        count = sum(DIFFERENCES[case.name] == key for case, _, _, _ in run_outcomes["difference"])
        print(f"  {count:4} differ as docs/rules.md line {docs_line(key)} says: {WHY[key]}")
    reasons: dict[str, int] = {}
    for _, reason in run_outcomes["unsupported"]:
        reasons[reason] = reasons.get(reason, 0) + 1
    print("  unsupported: " + ", ".join(f"{reason} {count}" for reason, count in
                                        sorted(reasons.items(), key=lambda item: -item[1])))
