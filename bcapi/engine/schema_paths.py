"""The document's JSON Schema as the engine sees it: the type of `doc`, and which pointers exist."""
from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def document_schema() -> dict[str, Any]:
    from bcapi.document.jsonschema import document_json_schema

    return document_json_schema()


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a schema node stands for, with `$ref`s followed and nulls dropped."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return _resolve(root["$defs"][name], root)
    for key in ("anyOf", "oneOf"):
        if key in node:
            return [alt for option in node[key] for alt in _resolve(option, root)
                    if alt.get("type") != "null"]
    return [node]


def pointer_exists(pointer: str, *, allow_index: bool = False) -> bool:
    """Whether an RFC 6901 pointer names a field the document schema defines.

    Array steps may be a number, or `{index}` in an `each` rule's pointers.
    """
    root = document_schema()
    nodes = [root]
    for raw in pointer.split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        found: list[dict[str, Any]] = []
        for node in nodes:
            for alt in _resolve(node, root):
                types = alt.get("type")
                types = types if isinstance(types, list) else [types]
                if "object" in types and token in alt.get("properties", {}):
                    found.append(alt["properties"][token])
                elif "array" in types and (token.isdigit() or (allow_index and token == "{index}")):
                    found.append(alt.get("items", {}))
        if not found:
            return False
        nodes = found
    return True
