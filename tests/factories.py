"""Test factories: documents, keys and an authenticated API client. Keyword-only, like GOV.UK Notify's."""
from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path
from typing import Any

from bcapi.services.keys import create as create_key
from bcapi.document import dumps, loads

EXAMPLES = Path(__file__).resolve().parent.parent / "schemas" / "examples"


def sample(name: str = "copd-community-service") -> dict[str, Any]:
    """One of the sample business cases, parsed with exact decimals."""
    return loads((EXAMPLES / f"{name}.json").read_bytes())


def make_document(*, consortium: str = "EAS", title: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid document based on the COPD sample, with top-level fields replaced."""
    document = copy.deepcopy(sample())
    document["consortium"] = {"code": consortium, "name": f"{consortium} consortium"}
    if title is not None:
        document["title"] = title
    document.update(fields)
    return document


def minimal_document(*, consortium: str = "EAS", title: str = "Minimal case") -> dict[str, Any]:
    return {"schema_version": "1", "title": title, "consortium": {"code": consortium, "name": "A consortium"}}


def new_key(app, *, role: str, consortium: str | None = None, label: str | None = None) -> str:
    with app.extensions["bcapi"].db.writing() as session:
        _, key = create_key(session, role=role, consortium=consortium, label=label)
    return key


class ApiClient:
    """The Flask test client with a key per role and JSON bodies written with exact decimals."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.keys: dict[str, str] = {}

    def key(self, who: str) -> str:
        """`admin`, `board`, or a consortium code for that consortium's commissioner."""
        if who not in self.keys:
            if who in ("admin", "board"):
                self.keys[who] = new_key(self.app, role=who)
            else:
                self.keys[who] = new_key(self.app, role="commissioner", consortium=who)
        return self.keys[who]

    def request(self, method: str, path: str, *, as_: str | None = "EAS", json: Any = None,
                data: bytes | str | None = None, headers: dict[str, str] | None = None, **kwargs):
        headers = dict(headers or {})
        if as_ is not None:
            headers.setdefault("Authorization", f"Bearer {self.key(as_)}")
        if json is not None:
            data = dumps(json)
            headers.setdefault("Content-Type", "application/json")
        return self.client.open(path, method=method, data=data, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)

    def submit(self, document: dict[str, Any] | None = None, *, as_: str = "EAS", **kwargs):
        return self.post("/api/v1/cases", json=document or make_document(), as_=as_, **kwargs)


def body(response) -> Any:
    """A response's JSON, numbers as exact decimals."""
    return loads(response.get_data())


__all__ = ["ApiClient", "Decimal", "body", "make_document", "minimal_document", "new_key", "sample"]
