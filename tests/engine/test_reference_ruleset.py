"""The reference ruleset: it loads, its own fixtures pass and cover every rule, no document the
schema accepts makes a rule error, and it judges the three sample cases as a PCT finance lead
would."""
from __future__ import annotations

import copy
import random
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from bcapi.document import loads, validate_document
from bcapi.engine import assess, load_ruleset
from bcapi.engine.ruletests import run_rule_tests

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "reference.yaml"
RULE_TESTS = ROOT / "rules" / "tests"
EXAMPLES = ROOT / "schemas" / "examples"
CASES = RULE_TESTS / "cases"

PREFIXES = {"financial": "FIN-", "risk": "RISK-", "governance": "GOV-", "conflicts_of_interest": "COI-"}


@pytest.fixture(scope="module")
def ruleset():
    return load_ruleset(RULES)


def read(path: Path) -> dict:
    return loads(path.read_bytes())


def findings_by_rule(document: dict, ruleset) -> dict:
    return {f.rule_id: f for f in assess(document, ruleset).findings}


def failed(assessment) -> list[str]:
    return [f.rule_id for f in assessment.findings if f.status == "fail"]


def test_the_reference_ruleset_loads_with_four_weighted_criteria_and_its_parameters(ruleset):
    assert len(ruleset.rules) >= 45
    assert [c.id for c in ruleset.criteria] == list(PREFIXES)
    assert {c.id: c.weight for c in ruleset.criteria} == {
        "financial": 35, "risk": 25, "governance": 20, "conflicts_of_interest": 20}
    params = ruleset.parameters
    assert params["sum_tolerance"] == Decimal("0.01")
    assert params["freed_up_practice_share_pct"] == 70
    assert params["risk_pool_min_population"] == 100_000
    assert params["eu_services_threshold"] == 101_323
    assert params["emergency_marginal_rate_pct"] == 30
    assert params["declaration_window_years"] == 1
    assert params["freed_up_practice_share_max_pct"] == 100      # no local maximum
    assert params["materiality_floor"] == 100 and params["materiality_pct"] == Decimal("0.1")
    assert params["proportionate_case_limit"] == params["sfi_tender_threshold"] == 30_000
    assert params["discount_rate"] == Decimal("0.035")
    assert params["extreme_risk_score"] == 15
    assert params["decision_clock_days"] == 56
    for name in ("activity_savings_tolerance_pct", "payback_tolerance_years", "sfi_tender_threshold",
                 "downside_savings_pct"):
        assert name in params


def test_every_rule_has_guidance_a_known_source_and_the_prefix_of_its_criterion(ruleset):
    for rule in ruleset.rules:
        assert rule.id.startswith(PREFIXES[rule.criterion]), rule.id
        assert len(rule.guidance) > 20, rule.id
        assert rule.source and all(s in ruleset.sources for s in rule.source), rule.id
        assert rule.fields, rule.id
    # Blockers are for what makes a case unfundable as written; making one is a deliberate choice.
    assert {r.id for r in ruleset.rules if r.severity == "blocker"} == {
        "FIN-FINANCIAL-INFORMATION",          # no figures to judge
        "FIN-SAVINGS-WITHIN-BASELINE",        # savings larger than the spend they come from
        "RISK-REGISTER",                      # no risks considered at all
        "COI-DECLARATIONS-PRESENT",           # a conflicted provider and nothing declared
        "COI-INDEPENDENT-SCRUTINY",           # ... or nobody unconflicted looked at it
        "COI-CONFLICTED-EXCLUDED",            # ... or the conflicted took part in the decision
        "COI-DECLARED-INTEREST-SCRUTINISED",  # a declared interest in a provider said to be unconflicted
        # 2026.12.0, from the panel review (rules/tests/panel/):
        "FIN-BREAK-EVEN",                     # costs more than it saves, and nobody bears it or says why
        "RISK-EXTREME-UNMANAGED",             # an extreme risk with neither an owner nor a mitigation
        "COI-LEAD-INTEREST-DECLARED",         # the lead's role in the provider, declared as 'None'
        "COI-ROLE-INTEREST-DECLARED",         # a declarant's own role in the provider, declared as 'None'
        "COI-DECLARATIONS-BEFORE-SCRUTINY",   # the conflict declared only after it was scrutinised
    }


def test_every_rule_fixture_passes_and_every_rule_has_a_passing_and_a_failing_fixture(ruleset):
    files = sorted(RULE_TESTS.glob("*.yaml"))
    report = run_rule_tests(ruleset, files)
    assert {Path(r.file).name for r in report.results} == {f.name for f in files}, "a fixture file ran no test"
    assert report.passed, "\n".join(r.describe() for r in report.failures)
    assert report.uncovered == () and report.coverage_pct == 100.0


def test_a_failing_fixture_reports_expected_against_actual_with_the_values_read(ruleset, tmp_path):
    (tmp_path / "t.yaml").write_text(
        f"base: {CASES / 'excellent-copd.json'}\n"
        "tests:\n"
        "  - name: wrong on purpose\n"
        "    patch: [{op: replace, path: /finance/total_investment, value: 300000}]\n"
        "    expect: {FIN-TOTAL-INVESTMENT-SUM: pass}\n")
    report = run_rule_tests(ruleset, [tmp_path / "t.yaml"])
    [result] = report.results
    assert not result.passed and result.line == 3
    text = result.describe()
    assert "FIN-TOTAL-INVESTMENT-SUM: expected pass, got fail" in text
    assert "£300,000" in text and "£454,000" in text
    assert "doc.finance.total_investment = 300000" in text


def test_the_identity_only_document_assesses_with_no_rule_in_error(ruleset):
    document = read(CASES / "identity-only.json")
    assert set(document) == {"schema_version", "title", "consortium"}
    assessment = assess(document, ruleset)
    assert [f.rule_id for f in assessment.findings if f.status == "error"] == []
    assert assessment.rating == "red"
    assert {"FIN-FINANCIAL-INFORMATION", "RISK-REGISTER"} <= set(failed(assessment))


def _variants(document: dict):
    """Documents the schema may accept, derived from `document`: each field removed, each list
    emptied, each object emptied, each nullable field null, and random combinations."""
    def paths(node, prefix=()):
        if isinstance(node, dict):
            for key, value in node.items():
                yield prefix + (key,), value
                yield from paths(value, prefix + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield prefix + (i,), value
                yield from paths(value, prefix + (i,))

    def edited(path, action):
        copied = copy.deepcopy(document)
        node = copied
        for step in path[:-1]:
            node = node[step]
        action(node, path[-1])
        return copied

    def remove(parent, key):
        del parent[key]

    def set_to(value):
        def action(parent, key):
            parent[key] = value
        return action

    every = [(p, v) for p, v in paths(document) if p[0] not in ("schema_version", "title", "consortium")]
    for path, value in every:
        if isinstance(path[-1], str):
            yield edited(path, remove)
            yield edited(path, set_to(None))
        if isinstance(value, list):
            yield edited(path, set_to([]))
        if isinstance(value, dict):
            yield edited(path, set_to({}))
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            yield edited(path, set_to(0))
    rng = random.Random(20090401)
    leaves = [p for p, v in every if isinstance(p[-1], str)]
    for _ in range(150):
        copied = copy.deepcopy(document)
        for path in sorted(rng.sample(leaves, k=len(leaves) // 3), key=len, reverse=True):
            node = copied
            try:
                for step in path[:-1]:
                    node = node[step]
                del node[path[-1]]
            except (KeyError, IndexError, TypeError):
                continue
        yield copied


@pytest.mark.parametrize("case", ["excellent-copd.json", "managed-conflict-dermatology.json",
                                  "../../../schemas/examples/dermatology-gpwsi.json",
                                  "../../../schemas/examples/msk-triage.json",
                                  "../panel/emergency-admissions-at-47pct-of-own-tariff.json",
                                  "../panel/declarations-dated-after-scrutiny.json"])
def test_no_document_the_schema_accepts_makes_a_rule_error(ruleset, case):
    checked = 0
    for document in _variants(read(CASES / case)):
        if validate_document(document):
            continue
        errors = [(f.rule_id, f.message) for f in assess(document, ruleset).findings if f.status == "error"]
        assert errors == [], document
        checked += 1
    assert checked > 300


def test_the_copd_sample_is_amber_and_told_its_net_position_at_the_marginal_rate(ruleset):
    """Sound but for savings overstated by up to £127k a year in 2010/11 and 2011/12: valued at the
    30% marginal rate it saves £262,485 against £454,000 invested, a net cost of £191,515, which
    the finding states. It breaks even on its own figures, and its risk-sharing arrangement names
    who meets a shortfall in savings, so it is to be revised (amber), not unfundable; without that
    arrangement it would be red (rules/tests/financial.yaml), as the panel's cases of this class
    are (rules/tests/panel/breakeven-fails-after-marginal-rate-*.json)."""
    assessment = assess(read(EXAMPLES / "copd-community-service.json"), ruleset)
    assert assessment.rating == "amber" and assessment.score > 95
    assert failed(assessment) == ["FIN-EMERGENCY-MARGINAL-RATE", "GOV-PROCUREMENT-EU"]
    findings = {f.rule_id: f for f in assessment.findings}
    marginal = findings["FIN-EMERGENCY-MARGINAL-RATE"]
    assert marginal.severity == "major"
    assert marginal.fields[0] == "/activity_shift/0/unit_cost"
    # 93 × (£1,950 - 30% of £1,950) = £126,945 a year; years 2 and 3 of 3 fall from April 2010,
    # so £516,375 - 2 × £126,945 = £262,485 saved over the period.
    assert marginal.message == (
        "'COPD non-elective admissions avoided' values 93 avoided emergency admissions a year at £1,950 each, "
        "100% of their own tariff of £1,950 ('COPD non-elective admissions'), but the case runs to 2012-03-31, "
        "and emergency admissions above the 2008/09 baseline are paid at 30% of tariff from 2010-04-01 (£585): "
        "the saving is overstated by up to £126,945 a year. Valued at the marginal rate, the case saves £262,485 "
        "over its period against £454,000 invested: a net cost of £191,515.")
    assert findings["FIN-BREAK-EVEN"].status == "pass"


def test_the_dermatology_sample_is_red_for_an_unmanaged_conflict_of_interest(ruleset):
    assessment = assess(read(EXAMPLES / "dermatology-gpwsi.json"), ruleset)
    assert assessment.rating == "red"
    findings = {f.rule_id: f for f in assessment.findings}
    blockers = sorted(f.rule_id for f in assessment.findings if f.status == "fail" and f.severity == "blocker")
    assert blockers == ["COI-DECLARATIONS-PRESENT", "COI-INDEPENDENT-SCRUTINY"]
    for rule_id in ("COI-ALTERNATIVES", "COI-OPEN-TO-ALL", "COI-ACCOUNTABLE-OFFICER-INDEPENDENT",
                    "FIN-DOWNSIDE-CASE", "FIN-RECURRENT-FUNDING", "RISK-FINANCIAL", "RISK-CLINICAL",
                    "GOV-PROCUREMENT-SFI", "GOV-KPI-BASELINE-TARGET", "FIN-DO-NOTHING-COST-BASELINE"):
        assert findings[rule_id].status == "fail", rule_id
    assert findings["COI-FAIR-PRICE"].status == "pass"  # £120 against the £155 tariff
    assert findings["FIN-PREFERRED-COST"].message == (
        "The preferred option 'Community respiratory team' costs £454,000, £247,000 more than the case's "
        "total investment of £207,000.")
    assert "£207,000" in findings["GOV-PROCUREMENT-SFI"].message
    assert "£30,000" in findings["GOV-PROCUREMENT-SFI"].message
    criteria = {c.id: c for c in assessment.criteria}
    assert criteria["conflicts_of_interest"].rating == "red"


def test_the_msk_sample_shows_its_copy_paste_and_is_amber_or_red_for_it(ruleset):
    assessment = assess(read(EXAMPLES / "msk-triage.json"), ruleset)
    findings = {f.rule_id: f for f in assessment.findings}
    assert findings["FIN-PREFERRED-COST"].status == "fail"
    assert "£454,000" in findings["FIN-PREFERRED-COST"].message
    assert "£490,000" in findings["FIN-PREFERRED-COST"].message
    assert findings["GOV-REVIEW-AFTER-START"].message == (
        "The review date 2010-03-31 is not after the start of the period, 2010-04-01.")
    payback = findings["FIN-PAYBACK-CONSISTENT"]
    assert payback.status == "fail"
    assert "2.8 years" in payback.message and "2.45 years" in payback.message
    # Seven major failures and no blocker: to be revised (amber), not unfundable (red).
    assert assessment.rating == "amber"
    assert not [f for f in assessment.findings if f.status == "fail" and f.severity == "blocker"]
    assert next(c for c in assessment.criteria if c.id == "financial").rating == "amber"


def test_pct_sign_off_not_yet_obtained_fails_nothing(ruleset):
    document = read(CASES / "excellent-copd.json")
    document["governance"]["pct_sign_off"] = {"required": True, "obtained": False}
    signed = copy.deepcopy(document)
    signed["governance"]["pct_sign_off"] = {"required": True, "obtained": True, "date": "2009-03-20"}
    unsigned, after = assess(document, ruleset), assess(signed, ruleset)
    assert unsigned.rating == after.rating == "green"
    assert failed(unsigned) == failed(after) == ["FIN-MARGINAL-RATE-EXEMPTION-CLAIMED"]  # advice only


# --- the panel review (2026.12.0) -----------------------------------------------------------------

PANEL = RULE_TESTS / "panel"
VERDICTS = yaml.safe_load((PANEL / "verdicts.yaml").read_text(encoding="utf-8"))

# For each panel case with defects, the pointers a finding must name (the defect itself, not
# every knock-on figure the panel also listed): a finding names a pointer when one of its
# fields is the pointer or lies within it.
DEFECT_POINTERS = {
    "breakeven-fails-after-marginal-rate-copd.json": ["/activity_shift/0/unit_cost", "/finance/total_savings"],
    "breakeven-fails-after-marginal-rate-heart-failure.json": ["/activity_shift/0/unit_cost", "/finance/total_savings"],
    "no-breakeven-own-figures-anticoagulation.json": ["/finance/total_savings",
                                                      "/conflicts_of_interest/price_benchmark/proposed_price"],
    "freed-up-resources-paid-as-partner-drawings.json": ["/finance/freed_up_resources/planned_use"],
    "freed-up-resources-kept-as-practice-income.json": ["/finance/freed_up_resources/planned_use"],
    "risk-register-placeholders.json": ["/risks/0/owner", "/risks/0/mitigation", "/risks/1/owner", "/risks/1/mitigation"],
    "accountable-officer-tba.json": ["/governance/accountable_officer"],
    "conflicted-provider-scrutinised-by-own-board.json": ["/conflicts_of_interest/independent_scrutiny/by",
                                                          "/governance/procurement/route"],
    "declarations-dated-after-scrutiny.json": ["/conflicts_of_interest/declarations/0/declared_on",
                                               "/conflicts_of_interest/declarations/1/declared_on",
                                               "/conflicts_of_interest/independent_scrutiny/date"],
    "activity-shift-exceeds-baseline-ent.json": ["/activity_shift/0/annual_volume", "/finance/savings/1/amount"],
    "recurring-costs-from-development-fund.json": ["/finance/funding_source", "/finance/recurrent_funding_confirmed",
                                                   "/finance/investment/0/recurring"],
    "marginal-rate-bare-assertion.json": ["/activity_shift/0/unit_cost"],
    "emergency-admissions-at-47pct-of-own-tariff.json": ["/activity_shift/0/unit_cost"],
    "sign-off-dated-after-period-start.json": ["/governance/pct_sign_off/date"],
    "extreme-risk-without-mitigation-or-owner.json": ["/risks/0/owner", "/risks/0/mitigation", "/risks/0"],
    "risk-score-understated-hides-extreme-risk.json": ["/risks/0/score", "/risks/0"],
    "undeclared-conflict-provider-owned-by-commissioners.json": ["/conflicts_of_interest/declarations",
                                                                 "/conflicts_of_interest/price_benchmark",
                                                                 "/governance/procurement/route"],
}


def flagged(pointer: str, fields) -> bool:
    return any(f == pointer or f.startswith(pointer + "/") for f in fields)


@pytest.mark.parametrize("case", sorted(VERDICTS))
def test_the_tool_agrees_with_the_panel_on_every_panel_case(ruleset, case):
    """The panel (a PCT finance lead, verdicts fixed before any tool ran) against the tool:
    green exactly where the panel says green, red wherever the panel says red, and each
    defect flagged at its pointer."""
    verdict = VERDICTS[case]
    assessment = assess(read(PANEL / case), ruleset)
    assert (assessment.rating == "green") == (verdict["rating"] == "green"), (assessment.rating, verdict["why"])
    assert not (verdict["must_not_be_green"] and assessment.rating == "green")
    if verdict["rating"] == "red":
        assert assessment.rating == "red"
    fields = [p for f in assessment.findings if f.status == "fail" and f.severity != "advice" for p in f.fields]
    for pointer in DEFECT_POINTERS.get(case, []):
        assert flagged(pointer, fields), f"{case}: nothing flags {pointer}"
    if not verdict["defects"]:
        assert not [f.rule_id for f in assessment.findings if f.status == "fail" and f.severity in ("blocker", "major")]


def test_every_panel_case_has_its_verdict_and_a_fixture_file():
    cases = {p.name for p in PANEL.glob("*.json")}
    assert cases == set(VERDICTS) and len(cases) >= 18
    fixtures = {p.name for p in RULE_TESTS.glob("panel-*.yaml")}
    assert fixtures == {f"panel-{name[:-5]}.yaml" for name in cases}


def test_the_panels_corrected_figures_are_the_tools():
    """Where a case's savings rest on full tariff from 2010/11, the finding states the net position
    the panel worked out by hand (verdicts.yaml)."""
    ruleset = load_ruleset(RULES)
    expected = {
        "breakeven-fails-after-marginal-rate-copd.json": "saves £263,711 over its period against £685,000 invested: a net cost of £421,289",
        "breakeven-fails-after-marginal-rate-heart-failure.json": "saves £89,280 over its period against £272,000 invested: a net cost of £182,720",
        "marginal-rate-bare-assertion.json": "saves £135,450 over its period against £128,000 invested: a net saving of £7,450",
        "emergency-admissions-at-47pct-of-own-tariff.json": "saves £302,500 over its period against £297,000 invested: a net saving of £5,500",
    }
    for case, words in expected.items():
        findings = {f.rule_id: f for f in assess(read(PANEL / case), ruleset).findings}
        assert words in findings["FIN-EMERGENCY-MARGINAL-RATE"].message, case
    copd = {f.rule_id: f for f in assess(read(PANEL / "breakeven-fails-after-marginal-rate-copd.json"), ruleset).findings}
    assert copd["FIN-BREAK-EVEN"].message == (
        "The case saves £690,387.50 against £685,000 invested, but with avoided emergency admissions valued at "
        "the 30% marginal rate it saves £263,711, a net cost of £421,289 over its period, and it does not say "
        "who bears that cost.")
    own = {f.rule_id: f for f in assess(read(PANEL / "emergency-admissions-at-47pct-of-own-tariff.json"), ruleset).findings}
    assert "at £658 each, 47% of their own tariff of £1,400 ('Other fall-related emergency admissions, over-65s')" in (
        own["FIN-EMERGENCY-MARGINAL-RATE"].message)


def test_messages_state_the_difference_in_pounds_and_the_day_a_period_ends(ruleset):
    rounding = findings_by_rule(read(PANEL / "rounding-difference-on-434k.json"), ruleset)
    assert rounding["FIN-TOTAL-INVESTMENT-ROUNDING"].severity == "minor"
    assert rounding["FIN-TOTAL-INVESTMENT-ROUNDING"].message == (
        "Stated total investment £434,000 differs from the sum of the yearly lines, £433,996.01, by £3.99, "
        "a rounding difference.")
    assert rounding["FIN-TOTAL-INVESTMENT-SUM"].status == "pass"
    # 1 October 2007 + 3 years ends on 30 September 2010 (29 February 2008 inside): a day later is after it.
    document = read(PANEL / "leap-year-period-review-on-last-day.json")
    assert findings_by_rule(document, ruleset)["GOV-REVIEW-WITHIN-PERIOD"].status == "pass"
    document["governance"]["monitoring"]["review_date"] = "2010-10-01"
    assert findings_by_rule(document, ruleset)["GOV-REVIEW-WITHIN-PERIOD"].message == (
        "The review date 2010-10-01 is 1 day after the 3-year period from 2007-10-01 ends on 2010-09-30, "
        "too late to decide whether to continue.")
    pilot = findings_by_rule(read(PANEL / "small-pilot-9500-two-practices.json"), ruleset)
    assert pilot["FIN-PROPORTIONATE-APPRAISAL"].severity == "advice"
    assert pilot["FIN-PROPORTIONATE-APPRAISAL"].message == (
        "At £9,500, below the £30,000 limit, the case needs only a proportionate appraisal, but the board would "
        "still be helped by a short options appraisal (doing nothing, costed, against the preferred option) and "
        "a downside case (savings at 75% of plan).")


# --- the hostile review (2026.12.1) ----------------------------------------------------------------

HOSTILE = RULE_TESTS / "hostile"
HOSTILE_VERDICTS = yaml.safe_load((HOSTILE / "verdicts.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", sorted(HOSTILE_VERDICTS))
def test_no_hostile_case_a_panel_would_not_fund_is_green(ruleset, case):
    """Single changes to a green case that hide a net cost behind a one-word exemption, write
    "TBC" as risk owners in other letters, have the conflicted shareholder chair the "independent"
    scrutiny, or pay freed-up resources to the partners: each fails its rule at its pointer."""
    verdict = HOSTILE_VERDICTS[case]
    assessment = assess(read(HOSTILE / case), ruleset)
    if verdict["rating"] == "green":
        assert assessment.rating == "green"
        return
    assert assessment.rating != "green"
    if verdict["rating"] == "red":
        assert assessment.rating == "red"
    failed = {f.rule_id: f for f in assessment.findings if f.status == "fail"}
    assert verdict["rule"] in failed
    assert verdict["pointer"] in failed[verdict["rule"]].fields
