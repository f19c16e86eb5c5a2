"""Strict marshmallow fields for JSON documents parsed with exact decimals.

Bodies are parsed with `simplejson` (`use_decimal=True`), so a JSON number arrives as `int`
or `Decimal`, never `float`. These fields accept exactly that, reject `bool` where a number is
due (JSON `true` is not 1), and keep the value unchanged so that what is validated is what is
stored and assessed.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError, fields, validate

MONEY_MAX = Decimal("999999999999.99")  # fits Numeric(14, 2)
PENNY = Decimal("0.01")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Number(fields.Field):
    """A JSON number (int or Decimal), optionally ranged and limited in decimal places."""

    default_error_messages = {
        "invalid": "Not a valid number.",
        "places": "At most {places} decimal places.",
        "range": "Must be between {min} and {max}.",
        "min": "Must be greater than or equal to {min}.",
        "max": "Must be less than or equal to {max}.",
    }

    def __init__(self, *, min=None, max=None, places: int | None = None, **kwargs):  # noqa: A002
        self.min = min
        self.max = max
        self.places = places
        self._quantum = None if places is None else Decimal(1).scaleb(-places)
        super().__init__(**kwargs)

    def _check_number(self, value: Any) -> int | Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise self.make_error("invalid")
        if isinstance(value, Decimal) and not value.is_finite():
            raise self.make_error("invalid")
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        number = self._check_number(value)
        too_low = self.min is not None and number < self.min
        too_high = self.max is not None and number > self.max
        if too_low or too_high:
            if self.min is not None and self.max is not None:
                raise self.make_error("range", min=self.min, max=self.max)
            raise self.make_error("min" if too_low else "max", min=self.min, max=self.max)
        if self.places is not None and isinstance(number, Decimal):
            try:
                exact = number == number.quantize(self._quantum, rounding="ROUND_DOWN")
            except InvalidOperation:  # more digits than decimal arithmetic carries (28)
                exact = False
            if not exact:
                raise self.make_error("places", places=self.places)
        return number

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class Integer(Number):
    """A JSON integer; `3.0` counts as 3, `true` does not."""

    default_error_messages = {"invalid": "Not a valid integer."}

    def _check_number(self, value: Any) -> int:
        number = super()._check_number(value)
        if isinstance(number, Decimal):
            if number != number.to_integral_value():
                raise self.make_error("invalid")
        return number


def Money(*, negative: bool = False, **kwargs) -> Number:
    """Pounds sterling: at most 2 decimal places, not negative unless allowed."""
    return Number(min=-MONEY_MAX if negative else 0, max=MONEY_MAX, places=2,
                  metadata={"description": "GBP, at most 2 decimal places"}, **kwargs)


class UnstatedTotalsFit(validate.Validator):
    """A case that states no total is stored with its lines' sum as that total (Numeric(14, 2),
    and summed again by the dashboard), so those lines may add up to at most MONEY_MAX; the
    error names the list. `totals` maps each total's key to its lines' key and the line fields
    that add up to it."""

    def __init__(self, **totals: tuple[str, tuple[str, ...]]):
        self.totals = totals

    def __call__(self, section: dict[str, Any]) -> dict[str, Any]:
        errors = {}
        for total_key, (lines_key, parts) in self.totals.items():
            lines = section.get(lines_key)
            if section.get(total_key) is not None or not lines:
                continue
            total = sum((Decimal(line.get(part) or 0) for line in lines for part in parts), Decimal(0))
            if total > MONEY_MAX:
                errors[lines_key] = [f"With no {total_key} stated, these lines are the case's {total_key}: "
                                     f"they add up to {total:,} ({' + '.join(parts)}), over the most a case "
                                     f"may put in play, {MONEY_MAX:,}."]
        if errors:
            raise ValidationError(errors)
        return section


class IsoDate(fields.String):
    """A calendar date as `YYYY-MM-DD`, kept as the string received."""

    default_error_messages = {"invalid_date": "Not a valid date (YYYY-MM-DD)."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if not _DATE.fullmatch(text):
            raise self.make_error("invalid_date")
        try:
            dt.date.fromisoformat(text)
        except ValueError as exc:
            raise self.make_error("invalid_date") from exc
        return text


class Pattern(validate.Regexp):
    """A regular expression the whole value must match: unlike `re.match` with `$`, a trailing
    newline does not slip through ("EAS\\n" is not a consortium code)."""

    def __call__(self, value: str) -> str:
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def no_nul(text: str) -> None:
    """Refuse U+0000: it means nothing in a business case and PostgreSQL cannot store it."""
    if "\x00" in text:
        raise ValidationError("Text may not contain the NUL character (\\u0000).")


def Text(max_length: int = 2000, min_length: int = 0, **kwargs) -> fields.String:
    """Free text with a length limit (characters)."""
    return fields.String(validate=[validate.Length(min=min_length, max=max_length), no_nul], **kwargs)


def Choice(*choices: str, **kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def TextList(max_items: int = 200, **kwargs) -> fields.List:
    return fields.List(Text(), validate=validate.Length(max=max_items), **kwargs)


class Boolean(fields.Boolean):
    """JSON `true` or `false` only: not 1, not "yes"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value
