"""JSON in and out with exact decimals: `1.50` stays `Decimal("1.50")` and is written back as `1.50`.

`NaN`, `Infinity`, invalid UTF-8 and absurd nesting are refused with `JSONBodyError`.
"""
from __future__ import annotations

from typing import Any

import simplejson



class JSONBodyError(ValueError):
    """The bytes are not a JSON document this service accepts."""


def loads(data: bytes | str) -> Any:
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise JSONBodyError(f"The body is not valid UTF-8 (byte {exc.start}).") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return simplejson.loads(text, use_decimal=True, allow_nan=False)
    except simplejson.JSONDecodeError as exc:
        raise JSONBodyError(f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from exc
    except RecursionError as exc:
        raise JSONBodyError("The body nests too deeply.") from exc


def dumps(value: Any, **kwargs: Any) -> str:
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, **kwargs)
