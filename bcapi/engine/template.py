"""Message templates: literal text with `{CEL expression}` placeholders; `{{` and `}}` are braces."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable


class TemplateError(ValueError):
    def __init__(self, message: str, column: int):
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Placeholder:
    source: str
    column: int  # 1-based column of the expression within the template


def split_template(template: str) -> list[str | Placeholder]:
    """Split a template into literal text and placeholders, braces balanced inside each."""
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        ch = template[i]
        if ch == "{" and template.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and template.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "{":
            depth, j, quote = 1, i + 1, None
            while j < n and depth:
                c = template[j]
                if quote:
                    if c == "\\":
                        j += 1
                    elif c == quote:
                        quote = None
                elif c in "'\"":
                    quote = c
                elif c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                j += 1
            if depth:
                raise TemplateError("unclosed '{' in message", i + 1)
            if literal:
                parts.append("".join(literal))
                literal = []
            source = template[i + 1:j - 1].strip()
            if not source:
                raise TemplateError("empty '{}' in message", i + 1)
            parts.append(Placeholder(source, i + 2))
            i = j
        elif ch == "}":
            raise TemplateError("unmatched '}' in message (write '}}' for a brace)", i + 1)
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts


def display(value: Any) -> str:
    """How a placeholder's value reads in a message."""
    if type(value) is str:
        return value
    if value is None:
        return "none"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(display(v) for v in value)
    return str(value)


def render(parts: list[str | Callable[[dict], Any]], activation: dict) -> str:
    return " ".join("".join(p if isinstance(p, str) else display(p(activation)) for p in parts).split())
