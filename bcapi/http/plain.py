"""Plain words for the board's pages: UK dates, the decision clock, outcomes, field names.

One date style on every page, "2 December 2026" (GOV.UK's), so nobody has to guess whether
02/12 is the second of December or the twelfth of February.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
OUTCOMES = {"approved": "approved", "rejected": "rejected", "deferred": "deferred",
            "returned_for_revision": "returned for revision"}
STATUSES = {"submitted": "submitted", "revised": "revised", "decided": "decided"}


def _as_datetime(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value
    text = str(value)
    return dt.datetime.fromisoformat(text) if "T" in text else dt.date.fromisoformat(text[:10])


def uk_date(value: Any) -> str:
    """'2 December 2026' from a date, a datetime (its UTC date) or ISO 8601 text."""
    when = _as_datetime(value)
    if when is None:
        return "not set"
    if isinstance(when, dt.datetime) and when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return f"{when.day} {MONTHS[when.month - 1]} {when.year}"


def uk_datetime(value: Any) -> str:
    """'2 December 2026 at 14:05 UTC'."""
    when = _as_datetime(value)
    if not isinstance(when, dt.datetime):
        return uk_date(when)
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc)
    return f"{uk_date(when)} at {when:%H:%M} UTC"


def uk_month(value: str, short: bool = False) -> str:
    """'December 2026' (or 'Dec 2026') from '2026-12'."""
    year, month = str(value).split("-")[:2]
    name = MONTHS[int(month) - 1]
    return f"{name[:3] if short else name} {year}"


def days_left(days: int | None) -> str:
    """The decision clock in words: '12 days left', 'due today', '3 days overdue'."""
    if days is None:
        return "no due date"
    if days == 0:
        return "due today"
    n = abs(days)
    unit = "day" if n == 1 else "days"
    return f"{n} {unit} left" if days > 0 else f"{n} {unit} overdue"


def outcome(value: str | None) -> str:
    return OUTCOMES.get(value or "", (value or "").replace("_", " "))


def words(value: Any) -> str:
    """`snake_case` as words: 'not_applicable' -> 'not applicable'."""
    return str(value or "").replace("_", " ")


def field_name(pointer: str) -> str:
    """A JSON pointer as a reader would say it: '/finance/investment/0/one_off' ->
    'finance › investment › item 1 › one off'."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in str(pointer).strip("/").split("/") if p != ""]
    return " › ".join(f"item {int(p) + 1}" if p.isdigit() else p.replace("_", " ") for p in parts) or "the document"


def pounds(value: Decimal | int | float | None) -> str:
    """'£1,151,000', '−£2,500' (a real minus sign), '–' for nothing stated."""
    if value is None:
        return "–"
    amount = Decimal(value)
    text = f"£{abs(amount):,.0f}"
    return f"−{text}" if amount < 0 else text


# The template filters the pages use, by name.
FILTERS = {"uk_date": uk_date, "uk_datetime": uk_datetime, "uk_month": uk_month, "days_left": days_left,
           "outcome": outcome, "words": words, "field_name": field_name, "pounds": pounds}
