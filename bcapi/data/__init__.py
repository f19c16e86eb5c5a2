"""Where the files bcapi ships with are: the reference ruleset and its fixtures, the JSON Schemas,
the sample cases and the committed OpenAPI document.

They are kept where their maintainers edit them (`rules/`, `schemas/`) and the wheel carries them
inside this package (`bcapi/data/rules/`, `bcapi/data/schemas/`: the mapping is in `setup.py`), so
an installed bcapi finds them with `importlib.resources` from any folder. From a checkout (an
editable install, or the source on `sys.path`) they are read where they are kept.

Standard library only: the pure core (`bcapi.engine`) reads the ruleset's schema through this.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent.parent


def shipped(folder: str, *parts: str) -> Path:
    """The path of a shipped file or folder, `folder` being `rules` or `schemas`.

    Inside the installed package when it is there, else in the checkout.
    """
    installed = Path(str(files(__name__).joinpath(folder, *parts)))
    return installed if installed.exists() else _CHECKOUT.joinpath(folder, *parts)


def reference_ruleset() -> Path:
    return shipped("rules", "reference.yaml")


def ruleset_schema() -> Path:
    return shipped("schemas", "ruleset.schema.json")


def document_schema() -> Path:
    return shipped("schemas", "business-case.v1.schema.json")


def example_cases() -> Path:
    """The folder of sample business cases (`*.json`) that `bcapi serve --demo` loads."""
    return shipped("schemas", "examples")


def openapi_document() -> Path:
    """The committed OpenAPI document (`bcapi openapi export` writes it; a test compares it with
    the served one)."""
    return shipped("schemas", "openapi.json")
