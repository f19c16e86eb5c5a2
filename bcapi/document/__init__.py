"""The business-case document: parsing, validation and its published JSON Schema."""
from .errors import FieldError, marshmallow_errors_to_pointers
from .parse import JSONBodyError, dumps, loads
from .schema import BusinessCaseDocument

_schema = BusinessCaseDocument()


def validate_document(document: object) -> list[FieldError]:
    """Every problem with `document`, one per bad field, as RFC 6901 pointers (empty if valid)."""
    return marshmallow_errors_to_pointers(_schema.validate(document) if isinstance(document, dict)
                                          else {"_schema": ["The document must be a JSON object."]})


__all__ = ["BusinessCaseDocument", "FieldError", "JSONBodyError", "dumps", "loads",
           "validate_document"]
