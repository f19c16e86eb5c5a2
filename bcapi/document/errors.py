"""marshmallow's nested error dicts, flattened to RFC 6901 JSON pointers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    pointer: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


def escape(token: object) -> str:
    """One reference token of a JSON pointer (RFC 6901 §3)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def marshmallow_errors_to_pointers(messages: Any, prefix: str = "") -> list[FieldError]:
    """Flatten `{"risks": {0: {"likelihood": ["msg"]}}}` into `/risks/0/likelihood: msg`.

    `_schema` errors belong to the object that holds them.
    """
    if isinstance(messages, dict):
        out: list[FieldError] = []
        for key, value in messages.items():
            here = prefix if key == "_schema" else f"{prefix}/{escape(key)}"
            out.extend(marshmallow_errors_to_pointers(value, here))
        return out
    if isinstance(messages, (list, tuple)):
        out = []
        for item in messages:
            if isinstance(item, (dict, list, tuple)):
                out.extend(marshmallow_errors_to_pointers(item, prefix))
            else:
                out.append(FieldError(prefix, str(item)))
        return out
    return [FieldError(prefix, str(messages))]
