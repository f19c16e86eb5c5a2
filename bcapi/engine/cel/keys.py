"""Map keys and list positions as CEL reads them, which a Python dict and list do not:
`true` is not the key 1, and a whole-number decimal is the int of its value."""
from __future__ import annotations

from decimal import Decimal
from typing import Any


def list_position(key: Any) -> int | None:
    """A list index as an int: an int, or a whole-number Decimal (`size(xs) / 2` is one)."""
    if type(key) is int:
        return key
    if type(key) is Decimal and key.is_finite() and key == key.to_integral_value():
        return int(key)
    return None


class BoolKey:
    """`true` or `false` as a key of a map literal. A Python dict takes True for 1 and False
    for 0; CEL keeps them apart (`{true: 1, 1: 2}` has two entries, `1 in {true: 1}` is false),
    so a map literal stores its bool keys as these two objects. A macro over the map sees
    plain true and false."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = value

    def __repr__(self) -> str:
        return "true" if self.value else "false"

    def __reduce__(self) -> str:  # copies and pickles are the same two objects
        return "TRUE_KEY" if self.value else "FALSE_KEY"


TRUE_KEY, FALSE_KEY = BoolKey(True), BoolKey(False)
MISSING = object()
KEY_TYPES = (str, int, bool, Decimal)


def stored_key(container: dict, key: Any) -> Any:
    """The key of `container` that CEL takes `key` (a string, int, bool or Decimal) to name,
    or MISSING: a bool never names an int key nor an int a bool key, and a whole-number
    Decimal names the int key of its value (CEL compares numbers across types)."""
    kind = type(key)
    if kind is str:
        return key if key in container else MISSING
    if kind is bool:
        wrapped = TRUE_KEY if key else FALSE_KEY
        if wrapped in container:
            return wrapped
        for stored in container:  # a map from outside the expression may hold a plain bool
            if stored is key:
                return stored
        return MISSING
    if kind is Decimal:
        key = list_position(key)
        if key is None:
            return MISSING
    if key not in container:
        return MISSING
    if key == 0 or key == 1:  # Python finds the key True for 1, and False for 0
        for stored in container:
            if type(stored) is int and stored == key:
                return stored
        return MISSING
    return key
