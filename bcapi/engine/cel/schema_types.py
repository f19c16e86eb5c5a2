"""Static types: what the variables' JSON Schemas say a (sub-)expression's value may be, for
checking field paths at load and for the result type of a compiled expression."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, NamedTuple


class ArrayOf(NamedTuple):
    """A list built by the expression (map(), a list literal) with its items' type."""
    items: Any  # a type, see below


# A type is None (dynamic: anything goes) or a tuple of alternatives, each a (schema node, root
# schema) pair, its `$ref`s resolved against that root, or an ArrayOf.
Type = Any


def _expand(node: Any, root: Any, depth: int = 0) -> list | None:
    """The alternatives `node` stands for, `$ref`/anyOf/oneOf followed; None if unconstrained."""
    if depth > 64 or node is True or not isinstance(node, dict):
        return [] if node is False else None
    if "$ref" in node:
        target = _deref(node["$ref"], root)
        return None if target is None else _expand(target, root, depth + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            alternatives: list = []
            for option in node[key]:
                expanded = _expand(option, root, depth + 1)
                if expanded is None:
                    return None
                alternatives.extend(expanded)
            return alternatives
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        return _expand(node["allOf"][0], root, depth + 1)
    if _json_types(node) is None:
        return None
    return [(node, root)]


def _deref(ref: Any, root: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node = root
    for raw in ref[1:].split("/")[1:]:
        step = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


_JSON_TYPE_OF = {bool: "boolean", int: "integer", float: "number", Decimal: "number", str: "string",
                 type(None): "null", list: "array", dict: "object"}


def _json_types(node: dict) -> set[str] | None:
    """The JSON types a schema node allows, or None when it does not say."""
    kind = node.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if "properties" in node:
        return {"object"}
    if "items" in node:
        return {"array"}
    if "enum" in node and isinstance(node["enum"], list):
        return {_JSON_TYPE_OF.get(type(v), "object") for v in node["enum"]}
    if "const" in node:
        return {_JSON_TYPE_OF.get(type(node["const"]), "object")}
    return None


def _alternative_types(alternative: Any) -> set[str] | None:
    if isinstance(alternative, ArrayOf):
        return {"array"}
    return _json_types(alternative[0])


def variable_type(schema: Any) -> Type:
    expanded = _expand(schema, schema) if schema is not None else None
    return None if expanded is None else tuple(expanded)


class NoField(Exception):
    def __init__(self, known: list[str] | None, kinds: set[str] | None = None):
        self.known = known  # property names, when the type is an object
        self.kinds = kinds  # the JSON types, when it is not


def field_type(ty: Type, name: str) -> Type:
    """The type of field `name` of a value of type `ty`; NoField if the schema rules it out."""
    if ty is None:
        return None
    found: list = []
    hit, known, kinds = False, [], set()
    for alternative in ty:
        types = _alternative_types(alternative)
        if types is None:
            return None
        kinds |= types
        if "object" not in types:
            continue
        node, root = alternative
        properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        if name in properties:
            expanded = _expand(properties[name], root)
            if expanded is None:
                return None
            found.extend(expanded)
            hit = True
            continue
        known.extend(properties)
        if any(re.search(p, name) for p in node.get("patternProperties") or {}):
            return None
        extra = node.get("additionalProperties", node.get("unevaluatedProperties", True))
        if extra is False:
            continue
        expanded = _expand(extra, root)
        if expanded is None:
            return None
        found.extend(expanded)
        hit = True
    if hit:
        return tuple(found)
    raise NoField(known if "object" in kinds else None, kinds - {"null"})


def items_type(ty: Type) -> Type:
    """The type of the items a macro iterates over (a list's items, a map's keys)."""
    if ty is None:
        return None
    items: list = []
    for alternative in ty:
        if isinstance(alternative, ArrayOf):
            if alternative.items is None:
                return None
            items.extend(alternative.items)
            continue
        types = _alternative_types(alternative)
        if types is None:
            return None
        node, root = alternative
        if "array" in types:
            expanded = _expand(node.get("items", True), root)
            if expanded is None:
                return None
            items.extend(expanded)
        if "object" in types:
            items.append(({"type": "string"}, {}))
    return tuple(items) if items else None


def index_type(ty: Type, key: Any) -> Type:
    """The type of `x[key]`: a list's items, or for a string key the map's field."""
    if ty is None:
        return None
    kinds: set[str] = set()
    for alternative in ty:
        types = _alternative_types(alternative)
        if types is None:
            return None
        kinds |= types - {"null"}
    if kinds == {"array"}:
        return items_type(ty)
    if kinds == {"object"} and type(key) is str:
        return field_type(ty, key)
    return None


def without_null(ty: Type) -> Type:
    """`ty` less its null alternatives (the type of get(x, fallback)'s x when it is there)."""
    if ty is None:
        return None
    kept: list = []
    for alternative in ty:
        if isinstance(alternative, ArrayOf):
            kept.append(alternative)
            continue
        node, root = alternative
        types = _json_types(node)
        if types == {"null"}:
            continue
        if isinstance(node.get("type"), list) and "null" in node["type"]:
            rest = [t for t in node["type"] if t != "null"]
            node = {**node, "type": rest[0] if len(rest) == 1 else rest}
        kept.append((node, root))
    return tuple(kept) if kept else None


def schema_of(ty: Type) -> dict | None:
    """A self-contained JSON Schema for a type: `$defs` carried along, items resolved."""
    if ty is None:
        return None
    alternatives = [_standalone(a) for a in ty]
    if not alternatives:
        return None
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def _standalone(alternative: Any) -> dict:
    if isinstance(alternative, ArrayOf):
        return {"type": "array", "items": schema_of(alternative.items) or {}}
    node, root = alternative
    node = dict(node)
    if isinstance(node.get("items"), dict):
        expanded = _expand(node["items"], root)
        node["items"] = (schema_of(tuple(expanded)) if expanded else None) or {}
    if isinstance(root, dict) and node is not root and _has_ref(node):
        for key in ("$defs", "definitions"):
            if key in root and key not in node:
                node[key] = root[key]
    return node


def _has_ref(node: Any) -> bool:
    if isinstance(node, dict):
        return "$ref" in node or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def describe_kinds(kinds: set[str] | None) -> str:
    names = {"string": "a string", "integer": "a number", "number": "a number", "boolean": "true or false",
             "array": "a list", "object": "a map", "null": "null"}
    described = sorted({names.get(k, k) for k in kinds or ()})
    return " or ".join(described) or "nothing"
