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




# --- Small rulesets whose every outcome a test chooses -------------------------------------
#
# Each rule of `outcome_ruleset` passes unless the document's title says otherwise: a title
# holding "[FIN-2 fail]" fails rule FIN-2, "[FIN-2 error]" makes it error at run time (int() of
# the title), "[FIN-2 na]" makes it not applicable. So a test states each rule's outcome and
# works the score out by hand, and no change to the reference ruleset moves its figures.

_OUTCOME_RULE = """\
  - id: {id}
    criterion: {criterion}
    severity: {severity}
    title: Rule {id} holds
    when: '!doc.title.contains("[{id} na]")'
    check: 'doc.title.contains("[{id} error]") ? int(doc.title) == 0 : !doc.title.contains("[{id} fail]")'
    message: Rule {id} failed.
    fields: [/title]
    guidance: Do what rule {id} asks.
    source: handbook
"""

_RISK_SCORE_RULE = """\
  - id: RISK-SCORE-LIMIT
    criterion: {criterion}
    severity: {severity}
    title: No risk scores over 12
    each: get(doc.risks, [])
    check: item.score <= 12
    message: Risk {{item.id}} scores {{item.score}}.
    fields: ["/risks/{{index}}/score"]
    guidance: Mitigate each risk until it scores 12 or less.
    source: handbook
"""


def outcome_ruleset_text(*, rules: list[tuple[str, str, str]], criteria: dict[str, Any] | None = None,
                         severity_weights: dict[str, Any] | None = None, green: Any = 75, amber: Any = 50,
                         risk_score_rule: tuple[str, str] | None = None, parameters: str = "{}") -> str:
    """The YAML of a ruleset of `rules` (id, criterion, severity), criteria {id: weight} (one
    criterion per rule's criterion, weight 1, by default), weights 10/5/2/0 by default, and
    optionally the per-item rule RISK-SCORE-LIMIT as (criterion, severity)."""
    criteria = criteria or {c: 1 for _, c, _ in rules}
    weights = {"blocker": 10, "major": 5, "minor": 2, "advice": 0, **(severity_weights or {})}
    lines = ["ruleset: {id: test-outcomes, version: '1', title: Outcomes chosen by the test}",
             "sources: {handbook: {title: The commissioning handbook}}",
             f"parameters: {parameters}",
             "severity_weights: {" + ", ".join(f"{k}: {v}" for k, v in weights.items()) + "}",
             f"rating: {{green: {green}, amber: {amber}}}",
             "criteria:",
             *(f"  - {{id: {c}, title: Criterion {c}, weight: {w}}}" for c, w in criteria.items()),
             "rules:"]
    text = "\n".join(lines) + "\n" + "".join(_OUTCOME_RULE.format(id=i, criterion=c, severity=s) for i, c, s in rules)
    if risk_score_rule:
        text += _RISK_SCORE_RULE.format(criterion=risk_score_rule[0], severity=risk_score_rule[1])
    return text


_COMPILED: dict[str, Any] = {}


def outcome_ruleset(**kwargs: Any):
    """`outcome_ruleset_text(**kwargs)` loaded (and kept: the same text always compiles the same)."""
    from bcapi.engine import parse_ruleset

    text = outcome_ruleset_text(**kwargs)
    if text not in _COMPILED:
        _COMPILED[text] = parse_ruleset(text, "outcomes.yaml")
    return _COMPILED[text]


def document_where(*, failing: tuple[str, ...] = (), erroring: tuple[str, ...] = (),
                   not_applicable: tuple[str, ...] = (), consortium: str = "EAS", **fields: Any) -> dict[str, Any]:
    """A minimal document under which the rules of an `outcome_ruleset` fail, error or do not
    apply as listed (and every other rule passes)."""
    marks = ([f"[{r} fail]" for r in failing] + [f"[{r} error]" for r in erroring]
             + [f"[{r} na]" for r in not_applicable])
    document = minimal_document(consortium=consortium, title=" ".join(["Case", *marks]))
    document.update(fields)
    return document


__all__ = ["ApiClient", "Decimal", "body", "document_where", "make_document", "minimal_document", "new_key",
           "outcome_ruleset", "outcome_ruleset_text", "sample"]
