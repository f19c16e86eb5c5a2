"""Run-time support for compiled rule expressions (see the `bcapi.engine.cel` package).

The Python code that `cel.compile_expression` generates calls these helpers for every
operation that needs a check the plain Python operator would not make: `True + 1`, `"a" * 3`,
`[1] < [2]`, `-7 % 3` and the like. Each helper either returns the dialect's result or raises
`CelEvalError` with a message a rule author can act on.

Values are plain JSON-ish Python values: dict, list, str, int, Decimal, bool, None and
`datetime.date`. Types are tested with `type(x) is ...`, so subclasses other than those listed
are not recognised, and `bool` is never a number.
"""
from __future__ import annotations

import datetime
import re
import unicodedata
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NoReturn

from .keys import FALSE_KEY, KEY_TYPES, MISSING, TRUE_KEY, BoolKey, list_position, stored_key


class CelError(Exception):
    """A problem with a rule expression: `message`, and where known the 1-based `line` and
    `column` within the expression."""

    def __init__(self, message: str, column: int | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.column = column
        self.line = line

    def __str__(self) -> str:
        return self.message


class CelSyntaxError(CelError):
    """The expression does not parse."""


class CelTypeError(CelError):
    """The expression parses but names something that does not exist, or calls it wrongly."""


class CelEvalError(CelError):
    """The expression failed while running (missing key, wrong operand types, division by zero ...)."""


NUM = frozenset({int, Decimal})
SIZED = frozenset({str, list, dict})
DATE = datetime.date
# Division, rounding and conversions use this context, never the thread's, so results do not
# depend on anything the caller may have set. (+, - and * run in the default context: exact for
# any figure with fewer than 28 significant digits.)
CONTEXT = Context(prec=28, rounding=ROUND_HALF_UP)
DIVIDE = CONTEXT.divide
_PENNY = Decimal("0.01")
_WHOLE_POUNDS = 10 ** 26  # below it, a whole number of pounds quantizes to pence within CONTEXT
_WHOLE_DIGITS = 10 ** 28  # below it, an int normalizes within CONTEXT without rounding
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def type_name(value: Any) -> str:
    """The dialect's name for a value's type, as used in error messages."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "bool"
    if kind is int:
        return "int"
    if kind is Decimal:
        return "decimal"
    if kind is str:
        return "str"
    if kind is list:
        return "list"
    if kind is dict:
        return "map"
    if kind is DATE:
        return "date"
    return kind.__name__


def a_type(value: Any) -> str:
    """'an int', 'a list' ..."""
    name = type_name(value)
    return ("an " if name[0] in "aeiou" else "a ") + name


def fail(message: str) -> NoReturn:
    raise CelEvalError(message)


def _bool_note(*values: Any) -> str:
    return " (true and false are not numbers)" if any(type(v) is bool for v in values) else ""


# --- variables, member access -------------------------------------------------------------

def var(activation: dict, name: str) -> Any:
    try:
        return activation[name]
    except KeyError:
        fail(f"no value was given for the variable '{name}'")
    except TypeError:
        fail("the activation must be a map of variable names to values")


def select(container: Any, key: str, described: str) -> Any:
    """`container.key` (or `container["key"]`) on a map; `described` names the container."""
    if type(container) is dict:
        try:
            return container[key]
        except KeyError:
            fail(f"no such key '{key}' in {described}")
    if container is None:
        fail(f"{described} is null, so it has no field '{key}'")
    fail(f"{described} is {a_type(container)}, not a map, so it has no field '{key}'")


def index(container: Any, key: Any, described: str) -> Any:
    """`container[key]`: a list by whole-number position, or a map by key."""
    kind = type(container)
    if kind is list:
        position = key if type(key) is int else list_position(key)
        if position is None:
            fail(f"a list index must be an int or a whole-number decimal, not {_value_text(key)} (indexing {described})")
        if not 0 <= position < len(container):
            fail(f"index {position} is out of range for {described}, which has {len(container)} items")
        return container[position]
    if kind is dict:
        if type(key) not in KEY_TYPES:
            fail(f"a map key must be a string, number or bool, not {type_name(key)} (indexing {described})")
        stored = stored_key(container, key)
        if stored is MISSING:
            fail(f"no such key {_value_text(key)} in {described}")
        return container[stored]
    fail(f"cannot index {described}, {a_type(container)}; only lists and maps can be indexed")


def safe_index(container: Any, key: Any) -> Any:
    """`container[key]`, or None when absent: used inside has(), filled() and get()."""
    kind = type(container)
    if kind is list:
        position = key if type(key) is int else list_position(key)
        if position is not None and 0 <= position < len(container):
            return container[position]
        return None
    if kind is dict and type(key) in KEY_TYPES:
        stored = stored_key(container, key)
        return None if stored is MISSING else container[stored]
    return None


def _value_text(value: Any) -> str:
    if type(value) is Decimal:
        return f"{decimal_text(value)} (a decimal)"
    if type(value) in (str, int, bool):
        return repr(value).lower() if type(value) is bool else repr(value)
    return type_name(value)


def _check_key(key: Any) -> None:
    if type(key) not in (str, int, bool):
        fail(f"a map key must be a string, int or bool, not {type_name(key)}")


def make_map(*pairs: Any) -> dict:
    """A map literal from key, value, key, value ...; duplicate keys are an error."""
    result: dict = {}
    for i in range(0, len(pairs), 2):
        key = pairs[i]
        _check_key(key)
        if type(key) is bool:
            key = TRUE_KEY if key else FALSE_KEY
        if key in result:
            fail(f"duplicate key {key!r} in a map literal")
        result[key] = pairs[i + 1]
    return result


def iterable(value: Any, described: str) -> list:
    """What a macro iterates: a list's items or a map's keys."""
    if type(value) is list:
        return value
    if type(value) is dict:
        return [k.value if type(k) is BoolKey else k for k in value]
    fail(f"{described} is {a_type(value)}; macros such as all() and map() need a list or a map")


# --- logic --------------------------------------------------------------------------------

def not_bool(value: Any, operator: str) -> NoReturn:
    fail(f"'{operator}' needs true or false, got {type_name(value)}")


def logical_not(value: Any) -> bool:
    if value is True:
        return False
    if value is False:
        return True
    not_bool(value, "!")


def filled(value: Any) -> bool:
    """Not null, and not blank text, an empty list or an empty map."""
    if value is None:
        return False
    kind = type(value)
    if kind is str:
        return value.strip() != ""
    if kind is list or kind is dict:
        return len(value) > 0
    return True


# --- arithmetic ---------------------------------------------------------------------------

def add(a: Any, b: Any) -> Any:
    ta, tb = type(a), type(b)
    if ta in NUM and tb in NUM:
        return _arith(lambda: a + b)
    if ta is tb and (ta is str or ta is list):
        return a + b
    fail(f"cannot add {type_name(a)} and {type_name(b)}{_bool_note(a, b)}")


def sub(a: Any, b: Any) -> Any:
    if type(a) in NUM and type(b) in NUM:
        return _arith(lambda: a - b)
    fail(f"cannot subtract {type_name(b)} from {type_name(a)}{_bool_note(a, b)}")


def mul(a: Any, b: Any) -> Any:
    if type(a) in NUM and type(b) in NUM:
        return _arith(lambda: a * b)
    fail(f"cannot multiply {type_name(a)} by {type_name(b)}{_bool_note(a, b)}")


def div(a: Any, b: Any) -> Decimal:
    """Exact decimal division (to 28 significant digits): the result is always a Decimal."""
    if type(a) not in NUM or type(b) not in NUM:
        fail(f"cannot divide {type_name(a)} by {type_name(b)}{_bool_note(a, b)}")
    if b == 0:
        fail("division by zero")
    try:
        return DIVIDE(Decimal(a), Decimal(b))
    except ArithmeticError as exc:
        fail(f"arithmetic error: {type(exc).__name__}")


def mod(a: Any, b: Any) -> Any:
    """Remainder with the sign of `a` (truncating, as CEL and Decimal do)."""
    if type(a) not in NUM or type(b) not in NUM:
        fail(f"cannot take {type_name(a)} modulo {type_name(b)}{_bool_note(a, b)}")
    if b == 0:
        fail("modulo by zero")
    if type(a) is int and type(b) is int:
        remainder = abs(a) % abs(b)
        return -remainder if a < 0 else remainder
    return _arith(lambda: CONTEXT.remainder(Decimal(a), Decimal(b)))


def neg(a: Any) -> Any:
    if type(a) in NUM:
        return -a
    fail(f"cannot negate {type_name(a)}{_bool_note(a)}")


def _arith(operation: Any) -> Any:
    try:
        return operation()
    except ArithmeticError as exc:
        fail(f"arithmetic error: {type(exc).__name__}")


# --- comparison ---------------------------------------------------------------------------

def eq(a: Any, b: Any) -> bool:
    """Equality: bool never equals a number; values of different types are unequal."""
    ta, tb = type(a), type(b)
    if ta is tb:
        if ta is list:
            return len(a) == len(b) and all(eq(x, y) for x, y in zip(a, b))
        if ta is dict:
            return len(a) == len(b) and all(k in b and eq(v, b[k]) for k, v in a.items())
        return a == b
    if ta in NUM and tb in NUM:
        return a == b
    return False


def ne(a: Any, b: Any) -> bool:
    return not eq(a, b)


def _ordered(a: Any, b: Any, operator: str) -> None:
    ta, tb = type(a), type(b)
    if ta in NUM and tb in NUM:
        return
    if ta is tb and (ta is str or ta is DATE or ta is bool):
        return
    fail(f"cannot compare {type_name(a)} with {type_name(b)} using '{operator}'")


def lt(a: Any, b: Any) -> bool:
    _ordered(a, b, "<")
    return a < b


def le(a: Any, b: Any) -> bool:
    _ordered(a, b, "<=")
    return a <= b


def gt(a: Any, b: Any) -> bool:
    _ordered(a, b, ">")
    return a > b


def ge(a: Any, b: Any) -> bool:
    _ordered(a, b, ">=")
    return a >= b


def contained_in(item: Any, container: Any) -> bool:
    """`item in container`: list membership by `eq`, or map key membership."""
    if type(container) is list:
        if type(item) is str or item is None:
            return item in container
        return any(eq(item, element) for element in container)
    if type(container) is dict:
        if type(item) is str:
            return item in container
        if type(item) not in KEY_TYPES:
            fail(f"'in' on a map needs a key to look for (a string, number or bool), not {type_name(item)}")
        return stored_key(container, item) is not MISSING
    fail(f"'in' needs a list or a map on its right, not {type_name(container)}")


# --- functions ----------------------------------------------------------------------------

def size(value: Any) -> int:
    if type(value) in SIZED:
        return len(value)
    fail(f"size() needs a string, list or map, not {type_name(value)}")


def _numbers(values: Any, function: str) -> list:
    if type(values) is not list:
        fail(f"{function}() needs a list of numbers, not {type_name(values)}")
    for value in values:
        if type(value) not in NUM:
            fail(f"{function}() needs a list of numbers, but the list holds {a_type(value)}")
    return values


def sum_(values: Any) -> Any:
    if type(values) is list and set(map(type, values)) <= NUM:
        return _arith(lambda: sum(values))
    return _arith(lambda: sum(_numbers(values, "sum")))


def _extreme(values: Any, function: str, pick: Any) -> Any:
    if type(values) is not list:
        fail(f"{function}() needs a list, not {type_name(values)}")
    if not values:
        fail(f"{function}() of an empty list")
    first = values[0]
    for value in values:
        _ordered(first, value, function + "()")
    return pick(values)


def min_(values: Any) -> Any:
    return _extreme(values, "min", min)


def max_(values: Any) -> Any:
    return _extreme(values, "max", max)


def abs_(value: Any) -> Any:
    if type(value) in NUM:
        return abs(value)
    fail(f"abs() needs a number, not {type_name(value)}{_bool_note(value)}")


def round_(value: Any, places: Any) -> Decimal:
    """Round half away from zero to `places` decimal places (negative: tens, hundreds ...)."""
    if type(value) not in NUM:
        fail(f"round() needs a number, not {type_name(value)}{_bool_note(value)}")
    if type(places) is not int or not -20 <= places <= 20:
        fail(f"round() needs a whole number of places between -20 and 20, not {places!r}")
    try:
        result = Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, CONTEXT)
        return result.quantize(Decimal(1), context=CONTEXT) if places < 0 else result
    except InvalidOperation:
        fail(f"round(): {value} is too large to round to {places} places")


def to_int(value: Any) -> int:
    """int(x): a number truncated toward zero, or a string of digits."""
    kind = type(value)
    if kind is int:
        return value
    if kind is Decimal:
        return int(value)
    if kind is str and _INT_TEXT.fullmatch(value.strip()):
        return int(value.strip())
    if kind is str:
        fail(f"int() cannot read {value!r} as a whole number")
    fail(f"int() needs a number or a string, not {type_name(value)}")


def to_decimal(value: Any) -> Decimal:
    """double(x): a Decimal, from a number or a string such as '12.5'."""
    kind = type(value)
    if kind is Decimal:
        return value
    if kind is int:
        return Decimal(value)
    if kind is str and _DECIMAL_TEXT.fullmatch(value.strip()):
        return Decimal(value.strip())
    if kind is str:
        fail(f"double() cannot read {value!r} as a number")
    fail(f"double() needs a number or a string, not {type_name(value)}")


def decimal_text(value: Decimal) -> str:
    """A Decimal in plain notation without trailing zeros: 1.50 -> '1.5', 1E+3 -> '1000'."""
    text = format(value.normalize(CONTEXT), "f")
    return "0" if text in ("-0", "0") else text


def to_string(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is Decimal:
        return decimal_text(value)
    if kind is DATE:
        return value.isoformat()
    fail(f"string() cannot convert {type_name(value)}")


def to_date(value: Any) -> datetime.date:
    """date(s): a strict YYYY-MM-DD string as a date (a date is returned as it is)."""
    if type(value) is str:
        return _parse_date(value)
    if type(value) is DATE:
        return value
    fail(f"date() needs a 'YYYY-MM-DD' string, not {type_name(value)}")


@lru_cache(maxsize=1024)
def _parse_date(value: str) -> datetime.date:
    if not _DATE_TEXT.fullmatch(value):
        fail(f"date() needs a 'YYYY-MM-DD' string, not {value!r}")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        fail(f"date(): {value!r} is not a real date")


def days_between(a: Any, b: Any) -> int:
    if type(a) is not DATE or type(b) is not DATE:
        fail(f"days_between() needs two dates (use date('YYYY-MM-DD')), not {type_name(a)} and {type_name(b)}")
    return (b - a).days


def _whole(value: Any, function: str, what: str) -> int:
    if type(value) is int:
        return value
    if type(value) is Decimal and value == value.to_integral_value():
        return int(value)
    fail(f"{function}() needs a whole number of {what}, not {value!r}" if type(value) in NUM
         else f"{function}() needs a whole number of {what}, not {type_name(value)}")


def _date_arg(value: Any, function: str) -> datetime.date:
    if type(value) is not DATE:
        fail(f"{function}() needs a date (use date('YYYY-MM-DD')), not {type_name(value)}")
    return value


def add_years(day: Any, years: Any) -> datetime.date:
    """The same date `years` later (earlier if negative); 29 February becomes 28 February in a
    year that has none. So a period of N years from D ends the day before add_years(D, N)."""
    start, count = _date_arg(day, "add_years"), _whole(years, "add_years", "years")
    year = start.year + count
    if not datetime.MINYEAR <= year <= datetime.MAXYEAR:
        fail(f"add_years(): year {year} is out of range")
    try:
        return start.replace(year=year)
    except ValueError:  # 29 February in a year that has none
        return start.replace(year=year, day=28)


def add_days(day: Any, days: Any) -> datetime.date:
    start, count = _date_arg(day, "add_days"), _whole(days, "add_days", "days")
    try:
        return start + datetime.timedelta(days=count)
    except OverflowError:
        fail(f"add_days(): {count} days from {start.isoformat()} is out of range")


def period_end(start: Any, years: Any) -> datetime.date:
    """The last day of a period of `years` years from `start`: the day before the same date
    `years` later (1 October 2008 + 3 years ends on 30 September 2011, leap days included)."""
    return add_days(add_years(start, years), -1)


def share_from(start: Any, year: Any, day: Any) -> Decimal:
    """The share (0 to 1, by days) of year `year` (1 = the first) of a period starting on
    `start` that falls on or after `day`: 1 for a year that starts on or after it, 0 for a
    year that ends before it, the share of its days in between."""
    begin = _date_arg(start, "share_from")
    number = _whole(year, "share_from", "years")
    cut = _date_arg(day, "share_from")
    year_start, year_end = add_years(begin, number - 1), add_years(begin, number)
    if cut <= year_start:
        return Decimal(1)
    if cut >= year_end:
        return Decimal(0)
    return DIVIDE(Decimal((year_end - cut).days), Decimal((year_end - year_start).days))


# --- what the rules ask of a document's text -------------------------------------------------

# Text that stands where a person, a body or an action should be, without naming one.
PLACEHOLDERS = frozenset({
    "", "tbc", "tba", "tbd", "tbc tba", "n/a", "n.a", "na", "n/k", "none", "nil", "nobody", "no one",
    "unknown", "not known", "not yet known", "unclear", "?", "x", "xx", "xxx", "pending",
    "to be confirmed", "to be agreed", "to be advised", "to be arranged", "to be decided",
    "to be determined", "to be appointed", "to be named", "to be identified", "to follow",
    "not applicable", "not stated", "not decided", "not yet decided", "not yet agreed",
    "not yet appointed", "none identified", "none yet", "none stated", "not yet", "later",
})
_EDGE_PUNCTUATION = " \t\r\n.,;:!?()[]{}'\"*-–—_/\\"


def _visible(text: str) -> str:
    """`text` as a reader sees it: compatibility forms folded (full-width "ＴＢＣ" is "TBC") and
    invisible format characters (zero-width spaces, byte-order marks) dropped."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf")


_NOT_LETTERS = re.compile(r"[^a-z0-9?]+")
# The placeholders with their spaces and punctuation taken out ("T.B.C." is "tbc").
_COMPACT_PLACEHOLDERS = frozenset(_NOT_LETTERS.sub("", p) for p in PLACEHOLDERS)


def placeholder(text: str) -> bool:
    """Whether `text` is only a placeholder ("TBC", "T.B.C.", "n/a", "-", "To be confirmed." ...),
    however it is spaced, punctuated, cased or encoded (full-width letters, zero-width spaces)."""
    words = " ".join(_visible(text).split()).lower()
    if words in PLACEHOLDERS:
        return True
    stripped = words.strip(_EDGE_PUNCTUATION)
    return (stripped in PLACEHOLDERS or " ".join(stripped.replace(".", " ").split()) in PLACEHOLDERS
            or _NOT_LETTERS.sub("", words) in _COMPACT_PLACEHOLDERS)


def word_count(text: Any) -> int:
    """How many words `text` has (runs of letters or digits), as a reader sees it; 0 for null."""
    if text is None:
        return 0
    _strings("word_count", text)
    return len(re.findall(r"[^\W_]+", _visible(text)))


def named(value: Any) -> bool:
    """Filled with a real answer: text that is not blank and not a placeholder ("TBC", "TBA",
    "n/a", "none", "unknown", "-", "to be confirmed" ..., in any case, trimmed); a list with at
    least one such text; any other filled value (a number, a map) counts as named."""
    if value is None:
        return False
    kind = type(value)
    if kind is str:
        return not placeholder(value)
    if kind is list:
        return any(named(item) for item in value)
    if kind is dict:
        return len(value) > 0
    return True


_PARENTHESES = re.compile(r"\([^()]*\)")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_COMPANY_SUFFIXES = ("ltd", "limited", "llp", "plc", "cic")


def _phrase(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", _PARENTHESES.sub(" ", text.lower())).split())


def mentions(text: Any, name: Any) -> bool:
    """Whether `text` names `name`: the name's words, in order, ignoring case, punctuation, a
    remark in brackets and a company suffix ("Heart of Birmingham GP Services Ltd (owned by
    ...)" is mentioned by "medical director of Heart of Birmingham GP Services")."""
    if text is None or name is None:
        return False
    _strings("mentions", text, name)
    words = _phrase(name).split()
    while words and words[-1] in _COMPANY_SUFFIXES:
        words.pop()
    if not words:
        return False
    return f" {' '.join(words)} " in f" {' '.join(_NON_WORD.sub(' ', text.lower()).split())} "


# Words that say what kind of activity a line is, not which: they cannot tell two lines apart.
_GENERIC_WORDS = frozenset({
    "the", "and", "for", "with", "from", "into", "per", "year", "years", "annual", "activity",
    "admission", "admissions", "admitted", "emergency", "elective", "non", "nonelective", "unplanned",
    "avoided", "avoid", "avoidable", "moved", "move", "shifted", "shift", "reduced", "reduction",
    "fewer", "saved", "patients", "patient", "episodes", "episode", "spells", "spell", "attendances",
    "attendance", "first", "follow", "ups", "up", "outpatient", "outpatients", "hospital", "acute",
    "community", "primary", "care", "setting", "baseline", "tariff", "hrg", "pbr", "total", "all",
})
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: Any) -> frozenset:
    if type(text) is not str:
        return frozenset()
    found = set()
    previous = ""
    for word in _WORD.findall(text.lower()):
        negated, previous = previous == "non", word
        if negated or len(word) < 3 or word in _GENERIC_WORDS:  # "non-fracture" is not about fractures
            continue
        found.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return frozenset(found)


def baseline_line(shift: Any, baseline: Any) -> dict | None:
    """The baseline activity line that an activity-shift line moves or avoids, or null when that
    cannot be told. Candidates are the baseline lines of the shift's point of delivery (or, when
    none has it, those that give none); one candidate is the answer; among several, the one
    whose description shares the most distinguishing words with the shift's `activity` (not
    generic ones such as "admissions" or "avoided"), else the only one with the same unit cost."""
    if shift is None or baseline is None:
        return None
    if type(shift) is not dict:
        fail(f"baseline_line() needs an activity-shift line (a map), not {type_name(shift)}")
    if type(baseline) is not list:
        fail(f"baseline_line() needs the list of baseline activity lines, not {type_name(baseline)}")
    lines = [line for line in baseline if type(line) is dict]
    point = shift.get("point_of_delivery")
    if point is not None:
        same = [line for line in lines if line.get("point_of_delivery") == point]
        lines = same or [line for line in lines if line.get("point_of_delivery") is None]
    if len(lines) <= 1:
        return lines[0] if lines else None
    wanted = _words(shift.get("activity"))
    if wanted:
        scores = [len(wanted & _words(line.get("description"))) for line in lines]
        best = max(scores)
        if best > 0 and scores.count(best) == 1:
            return lines[scores.index(best)]
    cost = shift.get("unit_cost")
    if type(cost) in NUM:
        priced = [line for line in lines if type(line.get("unit_cost")) in NUM and line["unit_cost"] == cost]
        if len(priced) == 1:
            return priced[0]
    return None


def own_tariff(shift: Any, baseline: Any) -> Any:
    """The unit cost of the baseline line an activity-shift line comes from (`baseline_line`),
    or, where that cannot be told or gives no unit cost, the lowest unit cost in `baseline`:
    the tariff a saving is held against, never a dearer line's. Null when no line has one."""
    line = baseline_line(shift, baseline)
    if line is not None and type(line.get("unit_cost")) in NUM:
        return line["unit_cost"]
    costs = [item["unit_cost"] for item in baseline or () if type(item) is dict and type(item.get("unit_cost")) in NUM]
    return min(costs) if costs else None


_EMERGENCY_WORDS = re.compile(r"emergency|non.?elective|unplanned")


def _emergency(shift: dict) -> bool:
    point = shift.get("point_of_delivery")
    if point is not None:
        return point == "emergency_admission"
    activity = shift.get("activity")
    return type(activity) is str and _EMERGENCY_WORDS.search(activity.lower()) is not None


def marginal_overstatement(savings: Any, shifts: Any, baseline: Any, start: Any, cut: Any, rate_pct: Any) -> Decimal:
    """How much of a period's savings rests on valuing avoided emergency admissions above the
    marginal rate (`rate_pct`% of their own tariff) from `cut` on: each year's savings times the
    share of the year from `cut` (`share_from`) times the overstatement's share of the moved
    activity's value (per avoided admission, its volume × (unit cost − rate × own tariff), the
    tariff from `own_tariff` among the baseline's emergency lines). An avoided emergency
    admission is an activity-shift line of point of delivery "emergency_admission", or one with
    none whose activity says emergency, non-elective or unplanned. 0 when nothing is overstated."""
    for value, what in ((savings, "the savings lines"), (shifts, "the activity-shift lines"),
                        (baseline, "the baseline activity lines")):
        if type(value) is not list:
            fail(f"marginal_overstatement() needs {what} as a list, not {type_name(value)}")
    if type(rate_pct) not in NUM:
        fail(f"marginal_overstatement() needs the marginal rate as a number, not {type_name(rate_pct)}")
    _date_arg(start, "marginal_overstatement")
    _date_arg(cut, "marginal_overstatement")
    emergency = [line for line in baseline
                 if type(line) is dict and line.get("point_of_delivery") == "emergency_admission"]
    if not any(type(line.get("unit_cost")) in NUM for line in emergency):
        return Decimal(0)
    lines = [line for line in shifts if type(line) is dict]
    value = sum((line["annual_volume"] * line["unit_cost"] for line in lines
                 if type(line.get("annual_volume")) in NUM and type(line.get("unit_cost")) in NUM), Decimal(0))
    over = Decimal(0)
    for line in lines:
        if not emergency or not _emergency(line) or type(line.get("unit_cost")) not in NUM:
            continue
        tariff = own_tariff(line, emergency)
        volume = line.get("annual_volume")
        volume = volume if type(volume) in NUM else 0
        over += volume * max(Decimal(0), line["unit_cost"] - DIVIDE(Decimal(rate_pct) * tariff, Decimal(100)))
    if over <= 0 or value <= 0:
        return Decimal(0)
    share_of_value = DIVIDE(over, Decimal(value))
    total = Decimal(0)
    for saving in savings:
        if type(saving) is not dict or type(saving.get("amount")) not in NUM:
            continue
        year = saving.get("year")
        year = year if type(year) is int and year >= 1 else 1
        total += saving["amount"] * share_from(start, year, cut) * share_of_value
    return CONTEXT.plus(total)


def _format_number(value: Any, function: str) -> Decimal:
    if type(value) not in NUM:
        fail(f"{function}() needs a number, not {type_name(value)}{_bool_note(value)}")
    return Decimal(value)


def num(value: Any) -> str:
    """1234.50 -> '1,234.5'."""
    if type(value) is int and -_WHOLE_DIGITS < value < _WHOLE_DIGITS:
        return f"{value:,}"
    number = _format_number(value, "num").normalize(CONTEXT)
    text = format(number, ",f")
    return "0" if text in ("-0", "0") else text


def pct(value: Any) -> str:
    """70 -> '70%', 12.50 -> '12.5%'."""
    if type(value) is int and -_WHOLE_DIGITS < value < _WHOLE_DIGITS:
        return f"{value:,}%"
    number = _format_number(value, "pct").normalize(CONTEXT)
    text = format(number, ",f")
    return ("0" if text in ("-0", "0") else text) + "%"


def money(value: Any) -> str:
    """Pounds to the penny: 1234 -> '£1,234', 1234.5 -> '£1,234.50', -1234 -> '-£1,234'."""
    if type(value) is int and -_WHOLE_POUNDS < value < _WHOLE_POUNDS:
        return f"-£{-value:,}" if value < 0 else f"£{value:,}"
    pence = _format_number(value, "money").quantize(_PENNY, ROUND_HALF_UP, CONTEXT)
    sign = "-" if pence < 0 else ""
    pence = abs(pence)
    if pence == pence.to_integral_value():
        return f"{sign}£{int(pence):,}"
    return f"{sign}£{pence:,.2f}"


# --- strings ------------------------------------------------------------------------------

def _strings(function: str, *values: Any) -> None:
    for value in values:
        if type(value) is not str:
            fail(f"{function}() works on strings, not {type_name(value)}")


def contains(text: Any, part: Any) -> bool:
    if type(text) is not str or type(part) is not str:
        _strings("contains", text, part)
    return part in text


def starts_with(text: Any, prefix: Any) -> bool:
    if type(text) is not str or type(prefix) is not str:
        _strings("startsWith", text, prefix)
    return text.startswith(prefix)


def ends_with(text: Any, suffix: Any) -> bool:
    if type(text) is not str or type(suffix) is not str:
        _strings("endsWith", text, suffix)
    return text.endswith(suffix)


def matches(text: Any, pattern: re.Pattern) -> bool:
    if type(text) is not str:
        _strings("matches", text)
    return pattern.search(text) is not None


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def matches_dynamic(text: Any, pattern: Any) -> bool:
    _strings("matches", text, pattern)
    try:
        compiled = _pattern(pattern)
    except re.error as exc:
        fail(f"matches(): invalid regular expression {pattern!r}: {exc}")
    return compiled.search(text) is not None


def lower_ascii(text: Any) -> str:
    """A-Z to a-z, nothing else (for ASCII text that is what str.lower does)."""
    if type(text) is not str:
        _strings("lowerAscii", text)
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def trim(text: Any) -> str:
    if type(text) is not str:
        _strings("trim", text)
    return text.strip()


def internal(exc: BaseException) -> CelEvalError:
    """A Python error that escaped the checks: still reported as an evaluation error."""
    if isinstance(exc, RecursionError):
        return CelEvalError("the expression is nested too deeply to evaluate")
    return CelEvalError(f"could not evaluate: {type(exc).__name__}: {exc}")
