"""Scores, ratings and findings pinned to figures worked out by hand (docs/rules.md, "Scoring").

Every ruleset here is written in the test (tests/factories.py, `outcome_ruleset`): each rule's
outcome is chosen by the document's title, so the figures below follow from the weights alone
and no change to the reference ruleset moves them. Weights are blocker 10, major 5, minor 2,
advice 0 and the thresholds green 75, amber 50 unless a test says otherwise.
"""
from __future__ import annotations

import gc
import importlib
from decimal import Decimal

import pytest

from bcapi.engine import assess

from tests.factories import document_where, minimal_document, outcome_ruleset


assess_module = importlib.import_module("bcapi.engine.assess")  # the package exports the function by that name


def criterion(result, criterion_id: str):
    return next(c for c in result.criteria if c.id == criterion_id)


def statuses(result) -> list[tuple[str, str]]:
    return [(f.rule_id, f.status) for f in result.findings]


# Three criteria: finance 35, risk 25, governance 40.
THREE_CRITERIA = dict(
    rules=[("FIN-1", "finance", "blocker"), ("FIN-2", "finance", "major"), ("FIN-3", "finance", "minor"),
           ("FIN-4", "finance", "advice"),
           ("RISK-1", "risk", "major"), ("RISK-2", "risk", "minor"), ("RISK-3", "risk", "minor"),
           ("GOV-1", "governance", "minor")],
    criteria={"finance": 35, "risk": 25, "governance": 40})


def test_a_case_meeting_every_rule_scores_exactly_100_and_is_green():
    result = assess(document_where(), outcome_ruleset(**THREE_CRITERIA))
    assert result.score == Decimal("100.0") and result.rating == "green"
    assert [(c.id, c.score, c.rating, c.passed, c.failed, c.not_applicable, c.errors) for c in result.criteria] == [
        ("finance", Decimal("100.0"), "green", 4, 0, 0, 0),
        ("risk", Decimal("100.0"), "green", 3, 0, 0, 0),
        ("governance", Decimal("100.0"), "green", 1, 0, 0, 0)]


def test_criterion_and_overall_scores_worked_by_hand():
    """finance: blocker 10 and major 5 pass, minor 2 fails, advice 0 fails: 15/17 = 88.2, green
    (a minor caps nothing). risk: major 5 fails, minor 2 passes, a minor does not apply: 2/7 =
    28.6, red. governance: its only rule does not apply, so nothing is applicable: 100.0.
    Overall (88.2×35 + 28.6×25 + 100.0×40) / 100 = 78.02 → 78.0, but red: the risk criterion is."""
    document = document_where(failing=("FIN-3", "FIN-4", "RISK-1"), not_applicable=("RISK-3", "GOV-1"))
    result = assess(document, outcome_ruleset(**THREE_CRITERIA))
    assert [(c.id, c.score, c.rating, c.passed, c.failed, c.not_applicable, c.errors) for c in result.criteria] == [
        ("finance", Decimal("88.2"), "green", 2, 2, 0, 0),
        ("risk", Decimal("28.6"), "red", 1, 1, 1, 0),
        ("governance", Decimal("100.0"), "green", 0, 0, 1, 0)]
    assert result.score == Decimal("78.0")
    assert result.rating == "red"
    assert [c.weight for c in result.criteria] == [35, 25, 40]


def test_the_overall_score_is_the_mean_of_criteria_weighted_by_their_weights():
    """finance (weight 3) fails its minor: 15/17 = 88.2; risk (weight 1) all pass: 100.0.
    Overall (88.2×3 + 100×1)/4 = 91.15 → 91.2 (half up); a plain mean would say 94.1."""
    ruleset = outcome_ruleset(rules=[("FIN-1", "finance", "blocker"), ("FIN-2", "finance", "major"),
                                     ("FIN-3", "finance", "minor"), ("RISK-1", "risk", "minor")],
                              criteria={"finance": 3, "risk": 1})
    result = assess(document_where(failing=("FIN-3",)), ruleset)
    assert [c.score for c in result.criteria] == [Decimal("88.2"), Decimal("100.0")]
    assert result.score == Decimal("91.2") and result.rating == "green"


# --- the thresholds: at, just below and just above -----------------------------------------

@pytest.mark.parametrize("major, minor, score, rating", [
    (750, 250, "75.0", "green"),   # exactly at green
    (749, 251, "74.9", "amber"),   # just below
    (751, 249, "75.1", "green"),   # just above
    (7495, 2505, "75.0", "green"),  # 74.95 rounds half up to 75.0, then compared
    (500, 500, "50.0", "amber"),   # exactly at amber
    (499, 501, "49.9", "red"),     # just below
    (501, 499, "50.1", "amber"),   # just above
    (4995, 5005, "50.0", "amber"),  # 49.95 rounds half up to 50.0
])
def test_a_score_at_a_threshold_earns_that_rating_and_a_tenth_below_does_not(major, minor, score, rating):
    """One major rule passes and one minor fails (a failed minor caps nothing), so the score is
    major / (major + minor) and only the thresholds decide the rating."""
    ruleset = outcome_ruleset(rules=[("FIN-1", "finance", "major"), ("FIN-2", "finance", "minor")],
                              severity_weights={"major": major, "minor": minor})
    result = assess(document_where(failing=("FIN-2",)), ruleset)
    assert (result.score, result.rating) == (Decimal(score), rating)
    assert (criterion(result, "finance").score, criterion(result, "finance").rating) == (Decimal(score), rating)


def test_thresholds_come_from_the_ruleset():
    """3 of 4 minors pass: 6/8 = 75.0. Green at 75, amber when green needs 80, red when amber needs 76."""
    rules = [(f"FIN-{i}", "finance", "minor") for i in range(1, 5)]
    document = document_where(failing=("FIN-4",))
    assert assess(document, outcome_ruleset(rules=rules)).rating == "green"
    assert assess(document, outcome_ruleset(rules=rules, green=80)).rating == "amber"
    assert assess(document, outcome_ruleset(rules=rules, green=80, amber=76)).rating == "red"


# --- blockers and majors cap the rating whatever the score ---------------------------------

def test_a_failed_blocker_makes_the_case_red_whatever_its_score():
    """One blocker of 10 fails among 8 passing majors of 5: 40/50 = 80.0, which alone is green."""
    rules = [("FIN-B", "finance", "blocker"), *[(f"FIN-M{i}", "finance", "major") for i in range(1, 9)]]
    result = assess(document_where(failing=("FIN-B",)), outcome_ruleset(rules=rules))
    assert result.score == Decimal("80.0")
    assert result.rating == "red" and criterion(result, "finance").rating == "red"


def test_a_failed_major_holds_its_criterion_at_amber_whatever_its_score():
    """Three blockers pass (30) and one major fails (5): 30/35 = 85.7, which alone is green."""
    rules = [(f"FIN-B{i}", "finance", "blocker") for i in range(1, 4)] + [("FIN-M", "finance", "major")]
    result = assess(document_where(failing=("FIN-M",)), outcome_ruleset(rules=rules))
    assert result.score == Decimal("85.7")
    assert result.rating == "amber" and criterion(result, "finance").rating == "amber"


def test_a_failed_major_still_holds_amber_when_a_later_minor_and_advice_in_its_criterion_fail():
    """Blockers 3×10 pass, a major 5, a minor 2 and an advice 0 fail: 30/37 = 81.1, amber."""
    rules = ([(f"FIN-B{i}", "finance", "blocker") for i in range(1, 4)]
             + [("FIN-M", "finance", "major"), ("FIN-N", "finance", "minor"), ("FIN-A", "finance", "advice")])
    result = assess(document_where(failing=("FIN-M", "FIN-N", "FIN-A")), outcome_ruleset(rules=rules))
    assert (criterion(result, "finance").score, criterion(result, "finance").rating) == (Decimal("81.1"), "amber")
    assert result.rating == "amber"


def test_a_failed_blocker_still_makes_red_when_a_later_minor_in_its_criterion_fails():
    """A blocker 10 fails, 8 majors of 5 pass, then a minor 2 fails: 40/52 = 76.9, red."""
    rules = ([("FIN-B", "finance", "blocker")] + [(f"FIN-M{i}", "finance", "major") for i in range(1, 9)]
             + [("FIN-N", "finance", "minor"), ("FIN-A", "finance", "advice")])
    result = assess(document_where(failing=("FIN-B", "FIN-N", "FIN-A")), outcome_ruleset(rules=rules))
    assert (criterion(result, "finance").score, criterion(result, "finance").rating) == (Decimal("76.9"), "red")
    assert result.rating == "red"


def test_a_failed_blocker_in_a_small_criterion_makes_the_whole_case_red():
    """finance (weight 9) passes everything; governance (weight 1) fails its one blocker but
    also passes 9 majors: 45/55 = 81.8. Overall (100×9 + 81.8)/10 = 98.2, and still red."""
    rules = ([("FIN-1", "finance", "major")] + [("GOV-B", "governance", "blocker")]
             + [(f"GOV-M{i}", "governance", "major") for i in range(1, 10)])
    ruleset = outcome_ruleset(rules=rules, criteria={"finance": 9, "governance": 1})
    result = assess(document_where(failing=("GOV-B",)), ruleset)
    assert result.score == Decimal("98.2")
    assert [c.rating for c in result.criteria] == ["green", "red"]
    assert result.rating == "red"


def test_a_failed_minor_or_advice_lowers_the_score_but_caps_nothing():
    rules = [("FIN-1", "finance", "blocker"), ("FIN-2", "finance", "blocker"), ("FIN-3", "finance", "minor"),
             ("FIN-4", "finance", "advice")]
    result = assess(document_where(failing=("FIN-3", "FIN-4")), outcome_ruleset(rules=rules))
    assert (result.score, result.rating) == (Decimal("90.9"), "green")  # 20/22


def test_a_criterion_under_amber_makes_the_case_red_however_well_the_rest_scores():
    """risk (weight 1) fails 3 of 4 minors: 2/8 = 25.0, red. finance (weight 99) is perfect:
    overall (100×99 + 25)/100 = 99.25 → 99.3, and red."""
    rules = [("FIN-1", "finance", "minor")] + [(f"RISK-{i}", "risk", "minor") for i in range(1, 5)]
    ruleset = outcome_ruleset(rules=rules, criteria={"finance": 99, "risk": 1})
    result = assess(document_where(failing=("RISK-1", "RISK-2", "RISK-3")), ruleset)
    assert (result.score, result.rating) == (Decimal("99.3"), "red")
    assert criterion(result, "risk").score == Decimal("25.0")


def test_a_case_is_rated_by_its_worst_criterion_when_that_is_worse_than_its_score():
    """finance passes (100.0), risk fails 3 of 4 minors (2/8 = 25.0, red); equal weights: overall
    62.5, amber on its own, red by the risk criterion."""
    rules = [("FIN-1", "finance", "minor")] + [(f"RISK-{i}", "risk", "minor") for i in range(1, 5)]
    result = assess(document_where(failing=("RISK-1", "RISK-2", "RISK-3")), outcome_ruleset(rules=rules))
    assert (result.score, result.rating) == (Decimal("62.5"), "red")
    assert [c.rating for c in result.criteria] == ["green", "red"]


def test_one_amber_criterion_makes_a_case_of_green_criteria_amber():
    """finance 100.0 (weight 1) and risk 80.0 (weight 1, 4 of 5 minors) are green; governance
    (weight 2, one minor passes, one fails) is 50.0, amber: overall (100 + 80 + 50×2)/4 = 70.0."""
    rules = ([("FIN-1", "finance", "minor")] + [(f"RISK-{i}", "risk", "minor") for i in range(1, 6)]
             + [("GOV-1", "governance", "minor"), ("GOV-2", "governance", "minor")])
    ruleset = outcome_ruleset(rules=rules, criteria={"finance": 1, "risk": 1, "governance": 2})
    result = assess(document_where(failing=("RISK-5", "GOV-2")), ruleset)
    assert [(c.score, c.rating) for c in result.criteria] == [
        (Decimal("100.0"), "green"), (Decimal("80.0"), "green"), (Decimal("50.0"), "amber")]
    assert (result.score, result.rating) == (Decimal("70.0"), "amber")


# --- rules that error ----------------------------------------------------------------------

def test_a_blocker_that_errors_makes_the_case_red_and_costs_its_weight():
    """A blocker (10) errors, four majors (5 each) pass: 20/30 = 66.7, red as if it had failed."""
    rules = [("FIN-B", "finance", "blocker")] + [(f"FIN-M{i}", "finance", "major") for i in range(1, 5)]
    result = assess(document_where(erroring=("FIN-B",)), outcome_ruleset(rules=rules))
    finance = criterion(result, "finance")
    assert (result.score, result.rating) == (Decimal("66.7"), "red")
    assert (finance.passed, finance.failed, finance.not_applicable, finance.errors) == (4, 0, 0, 1)
    [error] = [f for f in result.findings if f.status == "error"]
    assert error.rule_id == "FIN-B" and error.message.startswith("The rule could not be evaluated:")
    assert statuses(result)[0] == ("FIN-B", "error")


def test_a_major_that_errors_holds_the_case_at_amber_and_costs_its_weight():
    """Two blockers (10 each) pass and a major (5) errors: 20/25 = 80.0, amber as if it had failed."""
    rules = [("FIN-B1", "finance", "blocker"), ("FIN-B2", "finance", "blocker"), ("FIN-M", "finance", "major")]
    result = assess(document_where(erroring=("FIN-M",)), outcome_ruleset(rules=rules))
    finance = criterion(result, "finance")
    assert (result.score, result.rating) == (Decimal("80.0"), "amber")
    assert (finance.passed, finance.failed, finance.not_applicable, finance.errors) == (2, 0, 0, 1)


def test_an_erroring_minor_costs_its_weight_like_a_failure():
    """Two minors pass, one errors, one fails: 4/8 = 50.0, amber; the error is counted apart."""
    rules = [(f"FIN-{i}", "finance", "minor") for i in range(1, 5)]
    result = assess(document_where(erroring=("FIN-3",), failing=("FIN-4",)), outcome_ruleset(rules=rules))
    finance = criterion(result, "finance")
    assert (result.score, result.rating) == (Decimal("50.0"), "amber")
    assert (finance.passed, finance.failed, finance.errors) == (2, 1, 1)


# --- not applicable ------------------------------------------------------------------------

def test_rules_that_do_not_apply_leave_the_score_alone():
    """One major (5) passes, one blocker does not apply, one minor (2) fails: 5/7 = 71.4, amber."""
    rules = [("FIN-1", "finance", "blocker"), ("FIN-2", "finance", "major"), ("FIN-3", "finance", "minor")]
    result = assess(document_where(not_applicable=("FIN-1",), failing=("FIN-3",)), outcome_ruleset(rules=rules))
    assert (result.score, result.rating) == (Decimal("71.4"), "amber")
    assert criterion(result, "finance").not_applicable == 1


def test_a_criterion_where_nothing_applies_scores_100():
    rules = [("FIN-1", "finance", "blocker"), ("FIN-2", "finance", "major")]
    result = assess(document_where(not_applicable=("FIN-1", "FIN-2")), outcome_ruleset(rules=rules))
    assert (result.score, result.rating) == (Decimal("100.0"), "green")


# --- findings: order, pointers -------------------------------------------------------------

def test_findings_are_listed_errors_first_then_failures_passes_and_the_rest_by_severity_then_id():
    """Within a status, the most severe first and then by rule id: the passes below are named
    so that sorting by id alone would list them the other way round."""
    rules = [("B-2", "finance", "minor"), ("A-9", "finance", "major"), ("Y-1", "finance", "blocker"),
             ("A-1", "finance", "minor"), ("Z-1", "finance", "advice"), ("X-1", "finance", "major"),
             ("W-1", "finance", "minor"), ("V-1", "finance", "advice"), ("X-2", "finance", "major"),
             ("E-1", "finance", "blocker"), ("F-1", "finance", "minor")]
    document = document_where(failing=("A-1", "A-9", "Z-1"), erroring=("B-2",), not_applicable=("E-1", "F-1"))
    result = assess(document, outcome_ruleset(rules=rules))
    assert statuses(result) == [
        ("B-2", "error"),
        ("A-9", "fail"), ("A-1", "fail"), ("Z-1", "fail"),
        ("Y-1", "pass"), ("X-1", "pass"), ("X-2", "pass"), ("W-1", "pass"), ("V-1", "pass"),
        ("E-1", "not_applicable"), ("F-1", "not_applicable")]


def test_a_finding_names_its_rule_criterion_severity_message_guidance_and_source():
    rules = [("FIN-1", "finance", "major")]
    [finding] = assess(document_where(failing=("FIN-1",)), outcome_ruleset(rules=rules)).findings
    assert finding.to_dict() == {
        "rule_id": "FIN-1", "criterion": "finance", "severity": "major", "status": "fail",
        "title": "Rule FIN-1 holds", "message": "Rule FIN-1 failed.", "fields": ["/title"],
        "guidance": "Do what rule FIN-1 asks.", "source": "The commissioning handbook"}
    [passed] = assess(document_where(), outcome_ruleset(rules=rules)).findings
    assert (passed.status, passed.message, passed.fields) == ("pass", "", ("/title",))


def test_a_per_item_finding_points_at_each_offending_item():
    """Risks 1 and 3 (indexes 0 and 2) score over 12: the finding points at their scores, not at
    the rule's `/risks/{index}/score`."""
    ruleset = outcome_ruleset(rules=[("FIN-1", "finance", "major")], risk_score_rule=("finance", "minor"))
    risks = [{"id": "R1", "score": 16}, {"id": "R2", "score": 12}, {"id": "R3", "score": 20}]
    result = assess(document_where(risks=risks), ruleset)
    [finding] = [f for f in result.findings if f.rule_id == "RISK-SCORE-LIMIT"]
    assert finding.status == "fail"
    assert finding.fields == ("/risks/0/score", "/risks/2/score")
    assert finding.message == "Risk R1 scores 16. Risk R3 scores 20."
    assert result.score == Decimal("71.4")  # major 5 passes, minor 2 fails: 5/7


def test_a_per_item_rule_with_no_items_does_not_apply():
    ruleset = outcome_ruleset(rules=[("FIN-1", "finance", "major")], risk_score_rule=("finance", "blocker"))
    result = assess(document_where(risks=[]), ruleset)
    assert ("RISK-SCORE-LIMIT", "not_applicable") in statuses(result)
    assert (result.score, result.rating) == (Decimal("100.0"), "green")


# --- weights that are not small decimals ---------------------------------------------------

def test_weights_with_many_decimal_places_score_the_same_way():
    """Weights of 7 decimal places are added one by one, in ruleset order. finance: 2 majors pass,
    1 fails, 1 does not apply: 2/3 = 66.7. risk: a major fails, a minor passes:
    0.1111111 / 0.4444444 = 25.0. Overall (66.7 + 25.0)/2 = 45.85 → 45.9."""
    rules = [("FIN-1", "finance", "major"), ("FIN-2", "finance", "major"), ("FIN-3", "finance", "major"),
             ("FIN-4", "finance", "major"), ("RISK-1", "risk", "major"), ("RISK-2", "risk", "minor")]
    ruleset = outcome_ruleset(rules=rules, severity_weights={"major": "0.3333333", "minor": "0.1111111"})
    result = assess(document_where(failing=("FIN-3", "RISK-1"), not_applicable=("FIN-4",)), ruleset)
    assert [(c.score, c.rating) for c in result.criteria] == [(Decimal("66.7"), "amber"), (Decimal("25.0"), "red")]
    assert (result.score, result.rating) == (Decimal("45.9"), "red")


# --- money in play -------------------------------------------------------------------------

def test_money_in_play_is_the_stated_total_or_else_the_yearly_lines_added_up():
    ruleset = outcome_ruleset(rules=[("FIN-1", "finance", "major")])
    stated = document_where(finance={"total_investment": Decimal("1000.50"), "total_savings": 7,
                                     "investment": [{"year": 1, "one_off": 1}]})
    assert assess(stated, ruleset).figures == {"total_investment": Decimal("1000.50"), "total_savings": Decimal(7)}
    summed = document_where(finance={
        "investment": [{"year": 1, "one_off": Decimal("100.25"), "recurring": 50}, {"year": 2, "recurring": 50}],
        "savings": [{"year": 1, "amount": 30}, {"year": 2, "amount": Decimal("0.5")}]})
    assert assess(summed, ruleset).figures == {"total_investment": Decimal("200.25"), "total_savings": Decimal("30.5")}
    assert assess(document_where(finance={"investment": []}), ruleset).figures == {
        "total_investment": None, "total_savings": None}
    assert assess(minimal_document(), ruleset).figures == {"total_investment": None, "total_savings": None}


def test_money_figures_ignore_what_is_not_a_number():
    """As the engine sees documents (unvalidated, in `bcapi rules impact`): a boolean or a
    string total is no total, and such lines count as nothing."""
    from bcapi.engine.assess import money_figures

    assert money_figures({"finance": {"total_investment": True, "investment": [
        {"one_off": "100", "recurring": 5}, "a line that is not an object", {"one_off": False}]}}) == {
        "total_investment": Decimal(5), "total_savings": None}
    assert money_figures({"finance": "not an object"}) == {"total_investment": None, "total_savings": None}
    assert money_figures({"finance": {"savings": {"amount": 3}}})["total_savings"] is None


# --- the prepared rulesets kept between calls ----------------------------------------------

def test_a_changed_ruleset_is_never_scored_with_what_was_prepared_for_another():
    """Rulesets made from one another (as `bcapi rules impact` does) each score by their own
    weights, even when an old one is gone and its memory reused."""
    import dataclasses

    base = outcome_ruleset(rules=[("FIN-1", "finance", "major"), ("FIN-2", "finance", "minor")])
    document = document_where(failing=("FIN-2",))
    for minor in range(1, 40):
        changed = dataclasses.replace(base, severity_weights={**base.severity_weights, "minor": Decimal(minor)})
        expected = (Decimal(500) / (5 + minor)).quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")
        assert assess(document, changed).score == expected, minor
        del changed
        gc.collect()
    assert assess(document, base).score == Decimal("71.4")


def test_rulesets_that_differ_only_in_criterion_weights_each_score_by_their_own():
    """finance passes (100.0), risk fails one of two minors (50.0): overall (100 + 50n)/(1 + n)
    with risk weighing n. Each ruleset shares its rules, sources and severity weights with the
    last one, which is gone (so its memory, and its id, may be reused)."""
    import dataclasses

    from bcapi.engine.model import Criterion

    base = outcome_ruleset(rules=[("FIN-1", "finance", "minor"), ("RISK-1", "risk", "minor"),
                                  ("RISK-2", "risk", "minor")])
    document = document_where(failing=("RISK-2",))
    for n in range(1, 12):
        changed = dataclasses.replace(base, criteria=(Criterion("finance", "Finance", Decimal(1)),
                                                      Criterion("risk", "Risk", Decimal(n))))
        expected = (Decimal(100 + 50 * n) / (1 + n)).quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")
        assert assess(document, changed).score == expected, n
        del changed
        gc.collect()


def test_rulesets_prepared_for_scoring_are_kept_to_a_bounded_number():
    import dataclasses

    base = outcome_ruleset(rules=[("FIN-1", "finance", "major")])
    alive = [dataclasses.replace(base, severity_weights={**base.severity_weights, "major": Decimal(n + 1)})
             for n in range(40)]
    for ruleset in alive:
        assert assess(document_where(), ruleset).score == Decimal("100.0")
    assert len(assess_module._PREPARED) <= 16
