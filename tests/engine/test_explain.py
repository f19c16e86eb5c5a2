"""What sets a rating, and the shortest path to green (bcapi.engine.explain).

A small ruleset written here (not the reference ruleset, which changes), whose every rule fails
when its id is listed in the document's `finance.assumptions`, so that each case picks exactly
which rules fail. Weights: blocker 10, major 5, minor 2, advice 0; green from 75, amber from 50.

    financial (criterion weight 10): F-BLOCK blocker, F-MAJOR major, F-MIN1..3 minor, F-ADVICE
                                     advice: applicable weight 10 + 5 + 3 x 2 + 0 = 21
    governance (criterion weight 90): G-MAJOR major, G-MIN1..4 minor: 5 + 4 x 2 = 13
                                     (G-MIN4 is not applicable when "G-MIN4:n/a" is listed)

Every expected score, rating, reason and path below is worked out by hand from those figures.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from bcapi.document import dumps, loads
from bcapi.engine import assess, parse_ruleset
from bcapi.engine.explain import explain_dict

RULES = [  # id, criterion, severity
    ("F-BLOCK", "financial", "blocker"), ("F-MAJOR", "financial", "major"),
    ("F-MIN1", "financial", "minor"), ("F-MIN2", "financial", "minor"), ("F-MIN3", "financial", "minor"),
    ("F-ADVICE", "financial", "advice"),
    ("G-MAJOR", "governance", "major"), ("G-MIN1", "governance", "minor"), ("G-MIN2", "governance", "minor"),
    ("G-MIN3", "governance", "minor"), ("G-MIN4", "governance", "minor"),
]
LISTED = "get(doc.finance.assumptions, [])"


def _rule(rule_id: str, criterion: str, severity: str) -> str:
    check = f'!("{rule_id}" in {LISTED})'
    if rule_id == "F-MAJOR":  # "F-MAJOR:error" makes it divide by zero: status error
        check += f' && (!("F-MAJOR:error" in {LISTED}) || 1 / size(get(doc.finance.savings, [])) > 0)'
    when = f'    when: \'!("G-MIN4:n/a" in {LISTED})\'\n' if rule_id == "G-MIN4" else ""
    return (f"  - id: {rule_id}\n    criterion: {criterion}\n    severity: {severity}\n"
            f"    title: Rule {rule_id} is met.\n{when}    check: '{check}'\n"
            f"    message: {rule_id} is not met.\n    fields: [/finance/assumptions]\n"
            f"    guidance: Do what {rule_id} asks.\n    source: test\n")


RULESET_TEXT = (
    "ruleset: {id: explain-test, version: '1', title: Explain test}\n"
    "sources:\n  test: {title: The test}\n"
    "parameters: {}\n"
    "severity_weights: {blocker: 10, major: 5, minor: 2, advice: 0}\n"
    "rating: {green: 75, amber: 50}\n"
    "criteria:\n  - {id: financial, title: Financial impact, weight: 10}\n"
    "  - {id: governance, title: Governance, weight: 90}\n"
    "rules:\n" + "".join(_rule(*r) for r in RULES))
RULESET = parse_ruleset(RULESET_TEXT, "explain-test.yaml")


def case(*listed: str) -> dict:
    return {"schema_version": "1", "title": "A case for the explain tests",
            "consortium": {"code": "EAS", "name": "East"}, "finance": {"assumptions": list(listed)}}


def reasons(assessment) -> list[tuple]:
    return [(r.rating, r.criterion, r.rule_id, r.severity, r.reason) for r in assessment.rating_reasons]


def path(assessment) -> list[str]:
    return [step.rule_id for step in assessment.path_to_green]


def fixed(document: dict, rule_ids: list[str]) -> dict:
    """The document with those rules made to pass (their ids taken off the list)."""
    listed = [x for x in document["finance"]["assumptions"] if x.removesuffix(":error") not in rule_ids]
    return {**document, "finance": {"assumptions": listed}}


def test_a_green_case_has_no_reasons_and_no_path_even_with_a_minor_and_an_advice_failed():
    # financial 100 x 19/21 = 90.476 -> 90.5; overall (90.5 x 10 + 100 x 90) / 100 = 99.05 -> 99.1
    result = assess(case("F-MIN1", "F-ADVICE"), RULESET)
    assert (result.rating, result.score) == ("green", Decimal("99.1"))
    assert result.rating_reasons == () and result.path_to_green == ()
    body = result.to_dict()
    assert body["rating_reasons"] == [] and body["path_to_green"] == []


def test_amber_by_a_major_rule_names_the_rule_and_the_path_is_that_rule():
    # financial 100 x 16/21 = 76.19 -> 76.2 (over 75), but a major failed: amber
    result = assess(case("F-MAJOR"), RULESET)
    assert (result.rating, result.score) == ("amber", Decimal("97.6"))
    assert reasons(result) == [("amber", "financial", "F-MAJOR", "major",
                                "A major rule failed, which keeps the case from green: Rule F-MAJOR is met.")]
    assert path(result) == ["F-MAJOR"]
    step = result.path_to_green[0].to_dict()
    assert step == {"rule_id": "F-MAJOR", "criterion": "financial", "severity": "major",
                    "title": "Rule F-MAJOR is met.", "fields": ["/finance/assumptions"],
                    "guidance": "Do what F-MAJOR asks."}


def test_amber_by_score_needs_the_fewest_minor_rules_that_lift_the_score_to_green():
    # governance 100 x 7/13 = 53.8 (amber); overall 10 + 53.8 x 0.9 = 58.42 -> 58.4 (amber).
    # Fixing one minor gives 9/13 = 69.2, still under 75; two give 11/13 = 84.6.
    result = assess(case("G-MIN1", "G-MIN2", "G-MIN3"), RULESET)
    assert (result.rating, result.score) == ("amber", Decimal("58.4"))
    assert reasons(result) == [
        ("amber", "governance", None, None, "Governance scores 53.8, under the green threshold of 75."),
        ("amber", None, None, None, "The overall score is 58.4, under the green threshold of 75."),
    ]
    assert path(result) == ["G-MIN1", "G-MIN2"]


def test_red_by_a_blocker_at_a_high_score_leads_with_the_blocker():
    # financial 100 x 11/21 = 52.38 -> 52.4; overall 5.24 + 90 = 95.24 -> 95.2, and red
    result = assess(case("F-BLOCK"), RULESET)
    assert (result.rating, result.score) == ("red", Decimal("95.2"))
    assert reasons(result) == [
        ("red", "financial", "F-BLOCK", "blocker",
         "A blocker failed, which makes the case red whatever its score: Rule F-BLOCK is met."),
        ("amber", "financial", None, None, "Financial impact scores 52.4, under the green threshold of 75."),
    ]
    assert path(result) == ["F-BLOCK"]


def test_red_by_score_lists_the_red_scores_before_the_major_rule_and_fixes_the_major_first():
    # governance 100 x 2/13 = 15.4 (red); overall 10 + 13.86 = 23.86 -> 23.9 (red).
    # Fixing G-MAJOR gives 7/13 = 53.8; then G-MIN1 9/13 = 69.2; then G-MIN2 11/13 = 84.6.
    result = assess(case("G-MAJOR", "G-MIN1", "G-MIN2", "G-MIN3"), RULESET)
    assert (result.rating, result.score) == ("red", Decimal("23.9"))
    assert reasons(result) == [
        ("red", "governance", None, None, "Governance scores 15.4, under the amber threshold of 50."),
        ("red", None, None, None, "The overall score is 23.9, under the amber threshold of 50."),
        ("amber", "governance", "G-MAJOR", "major",
         "A major rule failed, which keeps the case from green: Rule G-MAJOR is met."),
    ]
    assert path(result) == ["G-MAJOR", "G-MIN1", "G-MIN2"]


def test_blockers_then_majors_then_minors_and_an_error_is_a_failure_that_could_not_be_checked():
    # financial: F-BLOCK failed, F-MAJOR erred, F-MIN1 failed: 100 x 4/21 = 19.0 (red).
    # governance: G-MIN1, G-MIN2 failed: 100 x 9/13 = 69.2 (amber). overall 1.9 + 62.28 = 64.18 -> 64.2.
    document = case("F-BLOCK", "F-MAJOR:error", "F-MIN1", "G-MIN1", "G-MIN2")
    result = assess(document, RULESET)
    assert (result.rating, result.score) == ("red", Decimal("64.2"))
    assert [r.rule_id or r.criterion or "overall" for r in result.rating_reasons] == [
        "F-BLOCK", "financial", "F-MAJOR", "governance", "overall"]
    assert result.rating_reasons[2].reason == ("A major rule could not be checked, which keeps the case from green: "
                                               "Rule F-MAJOR is met.")
    # Fixing F-BLOCK and F-MAJOR leaves financial at 19/21 = 90.5 with F-MIN1 still failed: no
    # need to fix it. Governance needs one minor: 11/13 = 84.6.
    assert path(result) == ["F-BLOCK", "F-MAJOR", "G-MIN1"]


@pytest.mark.parametrize("listed", [
    ("F-MAJOR",), ("G-MIN1", "G-MIN2", "G-MIN3"), ("F-BLOCK",), ("G-MAJOR", "G-MIN1", "G-MIN2", "G-MIN3"),
    ("F-BLOCK", "F-MAJOR:error", "F-MIN1", "G-MIN1", "G-MIN2"),
    ("F-BLOCK", "F-MAJOR", "F-MIN1", "F-MIN2", "F-MIN3", "F-ADVICE", "G-MAJOR", "G-MIN1", "G-MIN2", "G-MIN3", "G-MIN4"),
])
def test_fixing_the_path_gives_green_and_fixing_all_but_its_last_rule_does_not(listed):
    document = case(*listed)
    steps = path(assess(document, RULESET))
    assert steps
    assert assess(fixed(document, steps), RULESET).rating == "green"
    assert assess(fixed(document, steps[:-1]), RULESET).rating != "green"


def test_a_rule_that_does_not_apply_is_left_out_of_the_weight_a_score_needs():
    # G-MIN4 not applicable: governance out of 11. G-MIN1, G-MIN2 failed: 7/11 = 63.6 (amber);
    # one fixed gives 9/11 = 81.8, green. (Counted out of 13 it would take two: 9/13 = 69.2.)
    document = case("G-MIN4:n/a", "G-MIN1", "G-MIN2")
    result = assess(document, RULESET)
    assert reasons(result)[0][4] == "Governance scores 63.6, under the green threshold of 75."
    assert path(result) == ["G-MIN1"]
    assert assess(fixed(document, ["G-MIN1"]), RULESET).rating == "green"


def test_a_stored_body_is_explained_as_the_engine_explains_it():
    """Assessments stored before the fields existed are explained from their JSON body alone."""
    for listed in [("G-MIN4:n/a", "G-MIN1", "G-MIN2"), ("F-BLOCK", "F-MAJOR:error", "F-MIN1", "G-MIN1", "G-MIN2"),
                   ("F-MIN1",)]:
        result = assess(case(*listed), RULESET)
        body = loads(dumps(result.to_dict()))
        del body["rating_reasons"], body["path_to_green"]
        assert explain_dict(body, RULESET.thresholds, RULESET.severity_weights) == (
            result.rating_reasons, result.path_to_green)
