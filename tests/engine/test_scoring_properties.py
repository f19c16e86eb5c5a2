"""Properties of scoring and rating that hold for any ruleset and any outcomes (Hypothesis).

Each example is a ruleset of up to 12 rules spread over three criteria, with drawn severities,
severity weights (never heavier for a lesser severity, as in every real ruleset), criterion
weights and thresholds, and a drawn outcome for each rule. The rules are those of one compiled
`outcome_ruleset` with their criterion and severity replaced, so no example compiles anything.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bcapi.engine import assess
from bcapi.engine.model import Criterion
from tests.factories import document_where, outcome_ruleset

CRITERIA = ("finance", "risk", "governance")
SEVERITIES = ("advice", "minor", "major", "blocker")  # least to most severe
OUTCOMES = ("pass", "fail", "error", "not_applicable")
POOL = outcome_ruleset(rules=[(f"R-{i:02d}", "finance", "minor") for i in range(13)],
                       criteria={c: 1 for c in CRITERIA})
WORSE = {"green": 0, "amber": 1, "red": 2}


@dataclasses.dataclass(frozen=True)
class Scenario:
    rules: tuple[tuple[str, str], ...]  # (criterion, severity) of rule i, R-00 .. R-11
    outcomes: tuple[str, ...]
    weights: dict[str, int]
    criterion_weights: tuple[int, ...]
    green: int
    amber: int

    def ruleset(self):
        rules = tuple(dataclasses.replace(POOL.rules[i], criterion=c, severity=s) for i, (c, s) in enumerate(self.rules))
        return dataclasses.replace(
            POOL, rules=rules,
            criteria=tuple(Criterion(c, c.title(), Decimal(w)) for c, w in zip(CRITERIA, self.criterion_weights)),
            severity_weights={s: Decimal(w) for s, w in self.weights.items()},
            thresholds={"green": Decimal(self.green), "amber": Decimal(self.amber)})

    def document(self):
        def ids(outcome: str) -> tuple[str, ...]:
            return tuple(f"R-{i:02d}" for i, o in enumerate(self.outcomes) if o == outcome)
        return document_where(failing=ids("fail"), erroring=ids("error"), not_applicable=ids("not_applicable"))

    def assessed(self):
        return assess(self.document(), self.ruleset())

    def but(self, index: int, *, outcome: str | None = None, severity: str | None = None) -> "Scenario":
        outcomes, rules = list(self.outcomes), list(self.rules)
        if outcome:
            outcomes[index] = outcome
        if severity:
            rules[index] = (rules[index][0], severity)
        return dataclasses.replace(self, outcomes=tuple(outcomes), rules=tuple(rules))


@st.composite
def scenarios(draw, min_rules: int = 1) -> Scenario:
    n = draw(st.integers(min_rules, 12))
    rules = tuple((draw(st.sampled_from(CRITERIA)), draw(st.sampled_from(SEVERITIES))) for _ in range(n))
    outcomes = tuple(draw(st.sampled_from(OUTCOMES)) for _ in range(n))
    weights = sorted(draw(st.lists(st.integers(0, 20), min_size=4, max_size=4)))
    amber = draw(st.integers(0, 100))
    return Scenario(rules, outcomes, dict(zip(SEVERITIES, weights)),
                    tuple(draw(st.lists(st.integers(1, 10), min_size=3, max_size=3))),
                    green=draw(st.integers(amber, 100)), amber=amber)


EXAMPLES = settings(max_examples=150, deadline=None)


@EXAMPLES
@given(scenarios(), st.data())
def test_fixing_one_failed_rule_never_lowers_the_score_or_worsens_the_rating(scenario, data):
    broken = [i for i, o in enumerate(scenario.outcomes) if o in ("fail", "error")]
    if not broken:
        scenario = scenario.but(0, outcome="fail")
        broken = [0]
    index = data.draw(st.sampled_from(broken))
    before, after = scenario.assessed(), scenario.but(index, outcome="pass").assessed()
    assert after.score >= before.score
    assert WORSE[after.rating] <= WORSE[before.rating]
    for was, now in zip(before.criteria, after.criteria):
        assert now.score >= was.score and WORSE[now.rating] <= WORSE[was.rating]


@EXAMPLES
@given(scenarios(), st.sampled_from(CRITERIA), st.sampled_from(("fail", "error")))
def test_adding_a_failed_blocker_anywhere_always_makes_the_case_red(scenario, criterion, outcome):
    with_blocker = dataclasses.replace(scenario, rules=(*scenario.rules, (criterion, "blocker")),
                                       outcomes=(*scenario.outcomes, outcome))
    result = with_blocker.assessed()
    assert result.rating == "red"
    assert next(c for c in result.criteria if c.id == criterion).rating == "red"


@EXAMPLES
@given(scenarios())
def test_a_criterion_scores_100_exactly_when_all_its_applicable_weighted_rules_pass(scenario):
    """Weight-0 rules (advice, by default) are reported, not scored, so only weighted rules count.
    (With at most 12 rules of weight at most 20, one failure of weight 1 takes the score to at most
    239/240 = 99.6, so rounding never hides it.)"""
    result = scenario.assessed()
    for c in result.criteria:
        missed = [o for (crit, sev), o in zip(scenario.rules, scenario.outcomes)
                  if crit == c.id and o in ("fail", "error") and scenario.weights[sev] > 0]
        assert (c.score == 100) == (not missed), (c.id, c.score, missed)


@EXAMPLES
@given(scenarios(), st.data())
def test_raising_a_failed_rules_severity_never_improves_the_rating_or_the_score(scenario, data):
    """A failed (or erroring) rule made more severe weighs at least as much and caps at least as
    hard. (Not so for a passing rule: more weight on a pass raises the score.)"""
    broken = [i for i, o in enumerate(scenario.outcomes) if o in ("fail", "error")]
    if not broken:
        scenario = scenario.but(0, outcome="error")
        broken = [0]
    index = data.draw(st.sampled_from(broken))
    current = SEVERITIES.index(scenario.rules[index][1])
    raised = data.draw(st.sampled_from(SEVERITIES[current:]))
    before, after = scenario.assessed(), scenario.but(index, severity=raised).assessed()
    assert WORSE[after.rating] >= WORSE[before.rating]
    assert after.score <= before.score


@EXAMPLES
@given(scenarios())
def test_the_rating_is_red_exactly_when_a_blocker_failed_or_a_score_is_under_amber(scenario):
    result = scenario.assessed()
    blocker_missed = any(sev == "blocker" and o in ("fail", "error")
                         for (_, sev), o in zip(scenario.rules, scenario.outcomes))
    under_amber = result.score < scenario.amber or any(c.score < scenario.amber for c in result.criteria)
    assert (result.rating == "red") == (blocker_missed or under_amber)


@EXAMPLES
@given(scenarios())
def test_counts_add_up_to_the_rules_of_each_criterion(scenario):
    result = scenario.assessed()
    for c in result.criteria:
        mine = [o for (crit, _), o in zip(scenario.rules, scenario.outcomes) if crit == c.id]
        assert (c.passed, c.failed, c.errors, c.not_applicable) == (
            mine.count("pass"), mine.count("fail"), mine.count("error"), mine.count("not_applicable"))
    assert len(result.findings) == len(scenario.rules)
