"""The published JSON Schema of the document, generated from the marshmallow schema.

`schemas/business-case.v1.schema.json` is this function's output, written by
`bcapi schema export`; a test fails when the committed file is stale. The same
plugin set-up documents the strict fields in the OpenAPI spec.
"""
from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from . import fields as strict
from .schema import BusinessCaseDocument

SCHEMA_ID = "https://bcapi.nhs.example/schemas/business-case.v1.schema.json"


def _number_attributes(self, field, ret=None, **kwargs) -> dict[str, Any]:
    """Ranges and decimal places of `bcapi.document.fields.Number` as JSON Schema keywords."""
    if not isinstance(field, strict.Number):
        return {}
    out: dict[str, Any] = {"type": "integer" if isinstance(field, strict.Integer) else "number"}
    if field.allow_none:
        out["type"] = [out["type"], "null"]
    if field.min is not None:
        out["minimum"] = field.min
    if field.max is not None:
        out["maximum"] = field.max
    if field.places is not None:
        out["multipleOf"] = float(f"1e-{field.places}")
    return out


def _date_attributes(self, field, ret=None, **kwargs) -> dict[str, Any]:
    return {"format": "date"} if isinstance(field, strict.IsoDate) else {}


def marshmallow_plugin() -> MarshmallowPlugin:
    """A MarshmallowPlugin that knows bcapi's strict fields (for JSON Schema and OpenAPI)."""
    plugin = MarshmallowPlugin()

    def init_spec(spec: APISpec) -> None:
        MarshmallowPlugin.init_spec(plugin, spec)
        plugin.converter.add_attribute_function(_number_attributes)
        plugin.converter.add_attribute_function(_date_attributes)

    plugin.init_spec = init_spec  # type: ignore[method-assign]
    return plugin


def document_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the business-case document, `$defs` for nested objects."""
    spec = APISpec("bcapi", "1", "3.1.0", plugins=[marshmallow_plugin()])
    spec.components.schema("BusinessCaseDocument", schema=BusinessCaseDocument)
    components = spec.to_dict()["components"]["schemas"]
    root = components.pop("BusinessCaseDocument")
    text = _retarget_refs(root | {"$defs": components})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "PbC business case, schema_version 1",
        "description": (BusinessCaseDocument.__doc__ or "").strip(),
        **text,
    }


def _retarget_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (v.replace("#/components/schemas/", "#/$defs/") if k == "$ref" else _retarget_refs(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_retarget_refs(v) for v in node]
    return node
