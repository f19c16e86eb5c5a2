"""A ruleset is compiled once a process for the same text, and again when its text changes."""
from bcapi.engine import load_ruleset

RULESET = """
ruleset: {id: cache-test, version: "1", title: Cache test}
sources: {s: {title: A source}}
parameters: {limit: 10}
severity_weights: {blocker: 10, major: 5, minor: 2, advice: 0}
rating: {green: 75, amber: 50}
criteria:
  - {id: financial, title: Financial impact, weight: 1}
rules:
  - id: FIN-A
    criterion: financial
    severity: major
    title: A check
    check: has(doc.title)
    message: No title.
    fields: [/title]
    guidance: Give a title.
    source: s
"""


def test_the_same_file_is_compiled_once_and_an_edited_one_again(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULESET)
    first = load_ruleset(path)
    assert load_ruleset(path) is first
    path.write_text(RULESET.replace("limit: 10", "limit: 11"))
    edited = load_ruleset(path)
    assert edited is not first and edited.parameters["limit"] == 11 and first.parameters["limit"] == 10
