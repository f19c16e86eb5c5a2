"""Flask's JSON, made exact: Decimal in, Decimal out (bcapi.document.parse: simplejson in, orjson out)."""
from __future__ import annotations

from typing import Any

from flask.json.provider import JSONProvider

from bcapi.document import dumps, loads


class DecimalJSONProvider(JSONProvider):
    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)
