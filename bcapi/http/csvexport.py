"""CSV that opens cleanly in Excel: UTF-8 with a byte-order mark, CRLF rows, and text cells that
could be read as formulas (=, +, -, @, tab, CR) prefixed with an apostrophe."""
from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any, Iterable, Iterator

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def stream(rows: Iterable[list[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    yield "\ufeff"
    for row in rows:
        writer.writerow([cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
