"""The same rules in the engines a team would otherwise pick, for bench/engine.py.

One common subset of the reference ruleset, `SUBSET` (57 of its 76 rules), is written here in:

* standard CEL (no `get`/`filled` macros, no decimals: JSON numbers are doubles), run by
  cel-python (`celpy`, pure Python), the Rust bindings (`common-expression-language`, module
  `cel`) and Google's C++ bindings (`cel-expr-python`), as one compiled program whose value is
  a map of rule id to status (one evaluation, so the document is converted once), with a
  `sum(list)` function added (CEL has none; each library lets you add one);
* GoRules ZEN expressions, as one decision graph (an expression node with one output per
  rule), run by `zen-engine`;
* OPA Rego, as one policy whose `statuses` object has one entry per rule, run by `regopy`
  (built once into a bundle, then queried per case);
* JsonLogic, one rule each, run by `panzi-json-logic`.

Each gives every rule's status ("pass", "fail", "not_applicable"), as the reference ruleset
does; bench/engine.py checks that against `bcapi.engine` on every check document before timing.

Left out of the subset, for every engine, are the rules that need what some of these lack:
date arithmetic (days between two dates), regular expressions, lower-casing and trimming text,
reaching the document from inside a loop over a list (JsonLogic's `all`/`some` see only the
item), or the year-by-year payback. CEL, ZEN and Rego could express most of those too; they
were not written, so the subset is the same for all.

Numbers: CEL and ZEN take the document with its decimals as floats (CEL's JSON numbers are
doubles; ZEN refuses `Decimal`), Rego takes it as JSON; the conversion is part of their
per-case time "from the parsed dict", and is also reported apart. JsonLogic takes the
parsed dict as it is.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

# ----------------------------------------------------------------------------- the subset

SUBSET: tuple[str, ...] = (
    "FIN-FINANCIAL-INFORMATION", "FIN-PERIOD-STATED", "FIN-INVESTMENT-PROFILE", "FIN-ONE-OFF-RECURRING",
    "FIN-TOTAL-INVESTMENT-SUM", "FIN-TOTAL-SAVINGS-SUM", "FIN-SAVINGS-PROFILE", "FIN-SAVINGS-BASIS",
    "FIN-BASELINE-ACTIVITY", "FIN-BASELINE-COST-SUM", "FIN-ACTIVITY-SHIFT", "FIN-FUNDING-SOURCE",
    "FIN-RECURRENT-FUNDING", "FIN-DOWNSIDE-CASE", "FIN-DO-NOTHING-OPTION", "FIN-PREFERRED-OPTION",
    "FIN-ALTERNATIVE-OPTION", "FIN-DISCOUNT-RATE", "FIN-FREED-UP-SHARE", "FIN-FREED-UP-PLANNED-USE",
    "FIN-FREED-UP-WITHIN-NET-SAVINGS",
    "RISK-REGISTER", "RISK-FINANCIAL", "RISK-CLINICAL", "RISK-DESCRIBED", "RISK-RATED", "RISK-SCORE",
    "RISK-OWNER", "RISK-MITIGATION", "RISK-EXTREME-CONTINGENCY", "RISK-SHARING", "RISK-EXIT-STRATEGY",
    "GOV-CLINICAL-LEAD", "GOV-ACCOUNTABLE-OFFICER", "GOV-APPROVAL-ROUTE", "GOV-KPIS", "GOV-KPI-BASELINE-TARGET",
    "GOV-KPI-FREQUENCY", "GOV-REVIEW-DATE", "GOV-REVIEW-AFTER-START", "GOV-EVALUATION-PLAN",
    "GOV-PROCUREMENT-ROUTE", "GOV-PROCUREMENT-SFI", "GOV-CLINICAL-GOVERNANCE", "GOV-PATIENT-INVOLVEMENT",
    "GOV-EQUALITY-IMPACT", "GOV-LOCAL-PRIORITIES", "GOV-EVIDENCE-BASE", "GOV-PRACTICES-LISTED",
    "COI-PROVIDER-STATED", "COI-DECLARATIONS-PRESENT", "COI-INDEPENDENT-SCRUTINY", "COI-CONFLICTED-EXCLUDED",
    "COI-ALTERNATIVES", "COI-OPEN-TO-ALL", "COI-PRICE-BENCHMARK", "COI-FAIR-PRICE",
)

NOT_IN_SUBSET_WHY = {
    "FIN-INVESTMENT-YEARS": "each line's year against the period, from inside a loop (JsonLogic)",
    "FIN-SAVINGS-YEARS": "each line's year against the period, from inside a loop (JsonLogic)",
    "FIN-SAVINGS-WITHIN-BASELINE": "each line against the baseline, from inside a loop (JsonLogic)",
    "FIN-BASELINE-SOURCE": "a regular expression (JsonLogic)",
    "FIN-ACTIVITY-SAVINGS-RATIO": "the largest of a list (JsonLogic's max takes arguments, not a list)",
    "FIN-EMERGENCY-MARGINAL-RATE": "date arithmetic and lower-casing (JsonLogic; CEL only via timestamps)",
    "FIN-PAYBACK-CONSISTENT": "the year-by-year payback (none of them without custom functions)",
    "FIN-DOWNSIDE-AFFORDABLE": "not written (a filter, then all, or a field: each of them could)",
    "FIN-DO-NOTHING-COST-BASELINE": "each option against the baseline, from inside a loop (JsonLogic)",
    "FIN-PREFERRED-COST": "each option against the total, from inside a loop (JsonLogic)",
    "FIN-PREFERRED-BENEFIT": "each option against the total, from inside a loop (JsonLogic)",
    "RISK-POOL-POPULATION": "lower-casing text (JsonLogic, standard CEL)",
    "GOV-APPROVAL-ACCOUNTABLE-TO-PCT": "lower-casing text (JsonLogic, standard CEL)",
    "GOV-PROCUREMENT-EU": "lower-casing text (JsonLogic, standard CEL)",
    "COI-DECLARATIONS-CURRENT": "days between two dates (JsonLogic; CEL only via timestamps)",
    "COI-DECLARATIONS-BEFORE-START": "each date against the start, from inside a loop (JsonLogic)",
    "COI-LEAD-CLINICIAN-DECLARED": "trimming and lower-casing, from inside a loop (JsonLogic, CEL)",
    "COI-SCRUTINY-BEFORE-START": "not written (dates as ISO text would do, as in GOV-REVIEW-AFTER-START)",
    "COI-ACCOUNTABLE-OFFICER-INDEPENDENT": "trimming and lower-casing, from inside a loop (JsonLogic, CEL)",
}

CONFLICTED_TYPES = ["practice", "gp_provider_organisation"]
NULLABLE = {"freed_up_resources", "independent_scrutiny", "price_benchmark"}


def floats(value: Any) -> Any:
    """The parsed document with its Decimals as floats (what CEL and ZEN take)."""
    kind = type(value)
    if kind is dict:
        return {k: floats(v) for k, v in value.items()}
    if kind is list:
        return [floats(v) for v in value]
    if kind is Decimal:
        return float(value)
    if kind is int:
        return float(value)
    return value


# ----------------------------------------------------------------------------- standard CEL

def _c_has(path: str) -> str:
    """has() down a path, and not null where a link may be null (`type(x) != null_type`:
    cel-python has no `x != null` for a list or a map)."""
    parts, out, cur = path.split("."), [], "doc"
    for i, part in enumerate(parts):
        cur = f"{cur}.{part}"
        out.append(f"has({cur})")
        if i < len(parts) - 1 and part in NULLABLE:
            out.append(f"type({cur}) != null_type")
    return "(" + " && ".join(out) + ")"


def _c_text(path: str) -> str:
    return f"({_c_has(path)} && doc.{path}.matches('\\\\S'))"


def _c_list(path: str) -> str:
    return f"({_c_has(path)} && size(doc.{path}) > 0)"


def _c_map(path: str) -> str:
    return f"({_c_has(path)} && type(doc.{path}) != null_type && size(doc.{path}) > 0)"


def _c_set(path: str) -> str:
    return f"({_c_has(path)} && type(doc.{path}) != null_type)"


def _c_get(path: str, default: str) -> str:
    return f"({_c_set(path)} ? doc.{path} : {default})"


def _c_rule(check: str, when: str | None = None) -> str:
    status = f"(({check}) ? 'pass' : 'fail')"
    return status if when is None else f"(({when}) ? {status} : 'not_applicable')"


def _c_each(items: str, check: str, where: str | None = None) -> str:
    """Over `x` in the list at `items` (a document path)."""
    source = _c_get(items, "[]")
    considered = f"{source}.exists(x, {where})" if where else f"size({source}) > 0"
    passing = f"{source}.all(x, !({where}) || ({check}))" if where else f"{source}.all(x, {check})"
    return f"(!({considered}) ? 'not_applicable' : (({passing}) ? 'pass' : 'fail'))"


def _x_text(field: str) -> str:
    return f"(has(x.{field}) && x.{field}.matches('\\\\S'))"


_C_CONFLICTED = (f"({_c_get('conflicts_of_interest.provider_includes_commissioners', 'false')} || "
                 f"{_c_get('conflicts_of_interest.provider.type', chr(39) * 2)} in {json.dumps(CONFLICTED_TYPES)})")

CEL: dict[str, str] = {
    "FIN-FINANCIAL-INFORMATION": _c_rule(f"{_c_list('finance.investment')} || {_c_has('finance.total_investment')} || "
                                         f"{_c_list('finance.savings')} || {_c_has('finance.total_savings')}"),
    "FIN-PERIOD-STATED": _c_rule(f"{_c_text('period.start')} && {_c_set('period.years')}"),
    "FIN-INVESTMENT-PROFILE": _c_rule(_c_list("finance.investment")),
    "FIN-ONE-OFF-RECURRING": _c_each("finance.investment", "has(x.one_off) && has(x.recurring)"),
    "FIN-TOTAL-INVESTMENT-SUM": _c_rule(
        "(doc.finance.total_investment - sum(doc.finance.investment.map(y, (has(y.one_off) ? y.one_off : 0.0) "
        "+ (has(y.recurring) ? y.recurring : 0.0)))) <= params.sum_tolerance && (doc.finance.total_investment - "
        "sum(doc.finance.investment.map(y, (has(y.one_off) ? y.one_off : 0.0) + (has(y.recurring) ? y.recurring "
        ": 0.0)))) >= -params.sum_tolerance",
        f"{_c_has('finance.total_investment')} && {_c_list('finance.investment')}"),
    "FIN-TOTAL-SAVINGS-SUM": _c_rule(
        "(doc.finance.total_savings - sum(doc.finance.savings.map(s, has(s.amount) ? s.amount : 0.0))) "
        "<= params.sum_tolerance && (doc.finance.total_savings - sum(doc.finance.savings.map(s, has(s.amount) "
        "? s.amount : 0.0))) >= -params.sum_tolerance",
        f"{_c_has('finance.total_savings')} && {_c_list('finance.savings')}"),
    "FIN-SAVINGS-PROFILE": _c_rule(_c_list("finance.savings")),
    "FIN-SAVINGS-BASIS": _c_each("finance.savings", _x_text("basis")),
    "FIN-BASELINE-ACTIVITY": _c_rule(f"{_c_list('baseline.activity')} && {_c_has('baseline.annual_cost')}"),
    "FIN-BASELINE-COST-SUM": _c_rule(
        "(doc.baseline.annual_cost - sum(doc.baseline.activity.map(a, (has(a.annual_volume) ? a.annual_volume "
        ": 0.0) * (has(a.unit_cost) ? a.unit_cost : 0.0)))) <= params.sum_tolerance && (doc.baseline.annual_cost "
        "- sum(doc.baseline.activity.map(a, (has(a.annual_volume) ? a.annual_volume : 0.0) * (has(a.unit_cost) "
        "? a.unit_cost : 0.0)))) >= -params.sum_tolerance",
        f"{_c_has('baseline.annual_cost')} && {_c_list('baseline.activity')}"),
    "FIN-ACTIVITY-SHIFT": _c_rule(
        _c_list("activity_shift"),
        f"{_c_get('finance.total_savings', '0.0')} > 0.0 || "
        f"{_c_get('finance.savings', '[]')}.exists(s, has(s.amount) && s.amount > 0.0)"),
    "FIN-FUNDING-SOURCE": _c_rule(_c_text("finance.funding_source")),
    "FIN-RECURRENT-FUNDING": _c_rule(
        f"{_c_get('finance.recurrent_funding_confirmed', 'false')}",
        f"{_c_get('finance.investment', '[]')}.exists(i, has(i.recurring) && i.recurring > 0.0)"),
    "FIN-DOWNSIDE-CASE": _c_rule(
        f"{_c_get('finance.sensitivity', '[]')}.exists(s, (has(s.savings_change_pct) ? s.savings_change_pct : 0.0) "
        "<= params.downside_savings_pct - 100.0)"),
    "FIN-DO-NOTHING-OPTION": _c_rule(
        f"{_c_get('options', '[]')}.exists(o, has(o.type) && o.type == 'do_nothing' && has(o.total_cost))"),
    "FIN-PREFERRED-OPTION": _c_rule(
        f"size({_c_get('options', '[]')}.filter(o, has(o.type) && o.type == 'preferred')) == 1"),
    "FIN-ALTERNATIVE-OPTION": _c_rule(
        f"{_c_get('options', '[]')}.exists(o, has(o.type) && o.type == 'alternative' && has(o.total_cost))"),
    "FIN-DISCOUNT-RATE": _c_rule("doc.finance.discount_rate == params.discount_rate", _c_has("finance.discount_rate")),
    "FIN-FREED-UP-SHARE": _c_rule(
        "doc.finance.freed_up_resources.practice_share_pct <= params.freed_up_practice_share_pct",
        f"{_c_map('finance.freed_up_resources')} && {_c_has('finance.freed_up_resources.practice_share_pct')}"),
    "FIN-FREED-UP-PLANNED-USE": _c_rule(_c_text("finance.freed_up_resources.planned_use"),
                                        _c_map("finance.freed_up_resources")),
    "FIN-FREED-UP-WITHIN-NET-SAVINGS": _c_rule(
        "doc.finance.freed_up_resources.expected <= (doc.finance.total_savings - doc.finance.total_investment > 0.0 "
        "? doc.finance.total_savings - doc.finance.total_investment : 0.0) + params.sum_tolerance",
        f"{_c_map('finance.freed_up_resources')} && {_c_has('finance.freed_up_resources.expected')} && "
        f"{_c_has('finance.total_savings')} && {_c_has('finance.total_investment')}"),
    "RISK-REGISTER": _c_rule(_c_list("risks")),
    "RISK-FINANCIAL": _c_rule("doc.risks.exists(r, has(r.category) && r.category == 'financial')", _c_list("risks")),
    "RISK-CLINICAL": _c_rule("doc.risks.exists(r, has(r.category) && r.category == 'clinical')", _c_list("risks")),
    "RISK-DESCRIBED": _c_each("risks", f"{_x_text('description')} && {_x_text('category')}"),
    "RISK-RATED": _c_each("risks", "has(x.likelihood) && has(x.impact)"),
    "RISK-SCORE": _c_each("risks", "x.score == x.likelihood * x.impact",
                          "has(x.score) && has(x.likelihood) && has(x.impact)"),
    "RISK-OWNER": _c_each("risks", _x_text("owner")),
    "RISK-MITIGATION": _c_each("risks", _x_text("mitigation")),
    "RISK-EXTREME-CONTINGENCY": _c_each(
        "risks", _x_text("contingency"),
        "has(x.likelihood) && has(x.impact) && x.likelihood * x.impact >= params.extreme_risk_score"),
    "RISK-SHARING": _c_rule(_c_text("governance.risk_sharing")),
    "RISK-EXIT-STRATEGY": _c_rule(_c_text("governance.exit_strategy")),
    "GOV-CLINICAL-LEAD": _c_rule(f"{_c_text('lead_clinician.name')} && {_c_text('lead_clinician.role')}"),
    "GOV-ACCOUNTABLE-OFFICER": _c_rule(_c_text("governance.accountable_officer")),
    "GOV-APPROVAL-ROUTE": _c_rule(_c_text("governance.approval_route")),
    "GOV-KPIS": _c_rule(_c_list("governance.monitoring.kpis")),
    "GOV-KPI-BASELINE-TARGET": _c_each("governance.monitoring.kpis",
                                       "has(x.baseline) && type(x.baseline) != null_type && has(x.target) && type(x.target) != null_type"),
    "GOV-KPI-FREQUENCY": _c_each("governance.monitoring.kpis", _x_text("frequency")),
    "GOV-REVIEW-DATE": _c_rule(_c_text("governance.monitoring.review_date")),
    "GOV-REVIEW-AFTER-START": _c_rule(  # ISO dates compare as text
        "doc.governance.monitoring.review_date > doc.period.start",
        f"{_c_text('governance.monitoring.review_date')} && {_c_text('period.start')}"),
    "GOV-EVALUATION-PLAN": _c_rule(_c_text("governance.monitoring.evaluation_plan")),
    "GOV-PROCUREMENT-ROUTE": _c_rule(f"{_c_text('governance.procurement.route')} && "
                                     f"{_c_has('governance.procurement.contract_value')}"),
    "GOV-PROCUREMENT-SFI": _c_rule(
        f"doc.governance.procurement.route in ['competitive_tender', 'any_qualified_provider'] || "
        f"{_c_text('governance.procurement.justification')}",
        f"{_c_text('governance.procurement.route')} && "
        f"{_c_get('governance.procurement.contract_value', '0.0')} > params.sfi_tender_threshold"),
    "GOV-CLINICAL-GOVERNANCE": _c_rule(_c_text("governance.clinical_governance.arrangements")),
    "GOV-PATIENT-INVOLVEMENT": _c_rule(_c_text("governance.patient_involvement")),
    "GOV-EQUALITY-IMPACT": _c_rule(_c_get("governance.equality_impact_assessment", "false")),
    "GOV-LOCAL-PRIORITIES": _c_rule(_c_list("strategic_fit.local_priorities")),
    "GOV-EVIDENCE-BASE": _c_rule(_c_list("strategic_fit.evidence")),
    "GOV-PRACTICES-LISTED": _c_rule(f"{_c_list('practices')} && doc.practices.all(x, {_x_text('ods_code')} "
                                    "&& has(x.list_size))"),
    "COI-PROVIDER-STATED": _c_rule(
        f"{_c_text('conflicts_of_interest.provider.name')} && {_c_text('conflicts_of_interest.provider.type')} && "
        f"{_c_has('conflicts_of_interest.provider_includes_commissioners')}"),
    "COI-DECLARATIONS-PRESENT": _c_rule(_c_list("conflicts_of_interest.declarations"), _C_CONFLICTED),
    "COI-INDEPENDENT-SCRUTINY": _c_rule(_c_text("conflicts_of_interest.independent_scrutiny.by"), _C_CONFLICTED),
    "COI-CONFLICTED-EXCLUDED": _c_rule(
        _c_get("conflicts_of_interest.independent_scrutiny.conflicted_members_excluded", "false"),
        f"{_c_map('conflicts_of_interest.independent_scrutiny')} && {_C_CONFLICTED}"),
    "COI-ALTERNATIVES": _c_rule(_c_list("conflicts_of_interest.alternatives_considered"), _C_CONFLICTED),
    "COI-OPEN-TO-ALL": _c_rule(_c_get("conflicts_of_interest.open_to_all_patients", "false"), _C_CONFLICTED),
    "COI-PRICE-BENCHMARK": _c_rule(
        f"{_c_has('conflicts_of_interest.price_benchmark.reference_price')} && "
        f"{_c_has('conflicts_of_interest.price_benchmark.proposed_price')}", _C_CONFLICTED),
    "COI-FAIR-PRICE": _c_rule(
        "doc.conflicts_of_interest.price_benchmark.proposed_price <= "
        "doc.conflicts_of_interest.price_benchmark.reference_price",
        f"{_c_has('conflicts_of_interest.price_benchmark.reference_price')} && "
        f"{_c_has('conflicts_of_interest.price_benchmark.proposed_price')} && {_C_CONFLICTED}"),
}


# ----------------------------------------------------------------------------- GoRules ZEN

def _z_text(path: str) -> str:
    return f"(trim({path} ?? '') != '')"


def _z_list(path: str) -> str:
    return f"(len({path} ?? []) > 0)"


def _z_map(path: str) -> str:
    return f"({path} != null and len(keys({path})) > 0)"


def _z_rule(check: str, when: str | None = None) -> str:
    status = f"(({check}) ? 'pass' : 'fail')"
    return status if when is None else f"(({when}) ? {status} : 'not_applicable')"


def _z_each(items: str, check: str, where: str | None = None) -> str:
    """Over `#` in the list at `items`."""
    source = f"({items} ?? [])"
    if where:
        return (f"(not some({source}, {where}) ? 'not_applicable' : "
                f"(all({source}, not ({where}) or ({check})) ? 'pass' : 'fail'))")
    return f"(len({source}) == 0 ? 'not_applicable' : (all({source}, {check}) ? 'pass' : 'fail'))"


_Z_CONFLICTED = ("((doc.conflicts_of_interest.provider_includes_commissioners ?? false) or "
                 "(doc.conflicts_of_interest.provider.type ?? '') in ['practice', 'gp_provider_organisation'])")
_F, _B, _G = "doc.finance", "doc.baseline", "doc.governance"
_C = "doc.conflicts_of_interest"

ZEN: dict[str, str] = {
    "FIN-FINANCIAL-INFORMATION": _z_rule(f"{_z_list(_F + '.investment')} or {_F}.total_investment != null or "
                                         f"{_z_list(_F + '.savings')} or {_F}.total_savings != null"),
    "FIN-PERIOD-STATED": _z_rule(f"{_z_text('doc.period.start')} and doc.period.years != null"),
    "FIN-INVESTMENT-PROFILE": _z_rule(_z_list(_F + ".investment")),
    "FIN-ONE-OFF-RECURRING": _z_each(_F + ".investment", "#.one_off != null and #.recurring != null"),
    "FIN-TOTAL-INVESTMENT-SUM": _z_rule(
        f"abs({_F}.total_investment - sum(map({_F}.investment, (#.one_off ?? 0) + (#.recurring ?? 0)))) "
        "<= params.sum_tolerance",
        f"{_F}.total_investment != null and {_z_list(_F + '.investment')}"),
    "FIN-TOTAL-SAVINGS-SUM": _z_rule(
        f"abs({_F}.total_savings - sum(map({_F}.savings, #.amount ?? 0))) <= params.sum_tolerance",
        f"{_F}.total_savings != null and {_z_list(_F + '.savings')}"),
    "FIN-SAVINGS-PROFILE": _z_rule(_z_list(_F + ".savings")),
    "FIN-SAVINGS-BASIS": _z_each(_F + ".savings", "trim(#.basis ?? '') != ''"),
    "FIN-BASELINE-ACTIVITY": _z_rule(f"{_z_list(_B + '.activity')} and {_B}.annual_cost != null"),
    "FIN-BASELINE-COST-SUM": _z_rule(
        f"abs({_B}.annual_cost - sum(map({_B}.activity, (#.annual_volume ?? 0) * (#.unit_cost ?? 0)))) "
        "<= params.sum_tolerance",
        f"{_B}.annual_cost != null and {_z_list(_B + '.activity')}"),
    "FIN-ACTIVITY-SHIFT": _z_rule(_z_list("doc.activity_shift"),
                                  f"({_F}.total_savings ?? 0) > 0 or some({_F}.savings ?? [], (#.amount ?? 0) > 0)"),
    "FIN-FUNDING-SOURCE": _z_rule(_z_text(_F + ".funding_source")),
    "FIN-RECURRENT-FUNDING": _z_rule(f"{_F}.recurrent_funding_confirmed ?? false",
                                     f"some({_F}.investment ?? [], (#.recurring ?? 0) > 0)"),
    "FIN-DOWNSIDE-CASE": _z_rule(
        f"some({_F}.sensitivity ?? [], (#.savings_change_pct ?? 0) <= params.downside_savings_pct - 100)"),
    "FIN-DO-NOTHING-OPTION": _z_rule("some(doc.options ?? [], #.type == 'do_nothing' and #.total_cost != null)"),
    "FIN-PREFERRED-OPTION": _z_rule("count(doc.options ?? [], #.type == 'preferred') == 1"),
    "FIN-ALTERNATIVE-OPTION": _z_rule("some(doc.options ?? [], #.type == 'alternative' and #.total_cost != null)"),
    "FIN-DISCOUNT-RATE": _z_rule(f"{_F}.discount_rate == params.discount_rate", f"{_F}.discount_rate != null"),
    "FIN-FREED-UP-SHARE": _z_rule(
        f"{_F}.freed_up_resources.practice_share_pct <= params.freed_up_practice_share_pct",
        f"{_z_map(_F + '.freed_up_resources')} and {_F}.freed_up_resources.practice_share_pct != null"),
    "FIN-FREED-UP-PLANNED-USE": _z_rule(_z_text(_F + ".freed_up_resources.planned_use"),
                                        _z_map(_F + ".freed_up_resources")),
    "FIN-FREED-UP-WITHIN-NET-SAVINGS": _z_rule(
        f"{_F}.freed_up_resources.expected <= max([0, {_F}.total_savings - {_F}.total_investment]) "
        "+ params.sum_tolerance",
        f"{_z_map(_F + '.freed_up_resources')} and {_F}.freed_up_resources.expected != null and "
        f"{_F}.total_savings != null and {_F}.total_investment != null"),
    "RISK-REGISTER": _z_rule(_z_list("doc.risks")),
    "RISK-FINANCIAL": _z_rule("some(doc.risks, #.category == 'financial')", _z_list("doc.risks")),
    "RISK-CLINICAL": _z_rule("some(doc.risks, #.category == 'clinical')", _z_list("doc.risks")),
    "RISK-DESCRIBED": _z_each("doc.risks", "trim(#.description ?? '') != '' and trim(#.category ?? '') != ''"),
    "RISK-RATED": _z_each("doc.risks", "#.likelihood != null and #.impact != null"),
    "RISK-SCORE": _z_each("doc.risks", "#.score == #.likelihood * #.impact",
                          "#.score != null and #.likelihood != null and #.impact != null"),
    "RISK-OWNER": _z_each("doc.risks", "trim(#.owner ?? '') != ''"),
    "RISK-MITIGATION": _z_each("doc.risks", "trim(#.mitigation ?? '') != ''"),
    "RISK-EXTREME-CONTINGENCY": _z_each(
        "doc.risks", "trim(#.contingency ?? '') != ''",
        "#.likelihood != null and #.impact != null and #.likelihood * #.impact >= params.extreme_risk_score"),
    "RISK-SHARING": _z_rule(_z_text(_G + ".risk_sharing")),
    "RISK-EXIT-STRATEGY": _z_rule(_z_text(_G + ".exit_strategy")),
    "GOV-CLINICAL-LEAD": _z_rule(f"{_z_text('doc.lead_clinician.name')} and {_z_text('doc.lead_clinician.role')}"),
    "GOV-ACCOUNTABLE-OFFICER": _z_rule(_z_text(_G + ".accountable_officer")),
    "GOV-APPROVAL-ROUTE": _z_rule(_z_text(_G + ".approval_route")),
    "GOV-KPIS": _z_rule(_z_list(_G + ".monitoring.kpis")),
    "GOV-KPI-BASELINE-TARGET": _z_each(_G + ".monitoring.kpis", "#.baseline != null and #.target != null"),
    "GOV-KPI-FREQUENCY": _z_each(_G + ".monitoring.kpis", "trim(#.frequency ?? '') != ''"),
    "GOV-REVIEW-DATE": _z_rule(_z_text(_G + ".monitoring.review_date")),
    "GOV-REVIEW-AFTER-START": _z_rule(f"date({_G}.monitoring.review_date) > date(doc.period.start)",
                                      f"{_z_text(_G + '.monitoring.review_date')} and {_z_text('doc.period.start')}"),
    "GOV-EVALUATION-PLAN": _z_rule(_z_text(_G + ".monitoring.evaluation_plan")),
    "GOV-PROCUREMENT-ROUTE": _z_rule(f"{_z_text(_G + '.procurement.route')} and "
                                     f"{_G}.procurement.contract_value != null"),
    "GOV-PROCUREMENT-SFI": _z_rule(
        f"{_G}.procurement.route in ['competitive_tender', 'any_qualified_provider'] or "
        f"{_z_text(_G + '.procurement.justification')}",
        f"{_z_text(_G + '.procurement.route')} and "
        f"({_G}.procurement.contract_value ?? 0) > params.sfi_tender_threshold"),
    "GOV-CLINICAL-GOVERNANCE": _z_rule(_z_text(_G + ".clinical_governance.arrangements")),
    "GOV-PATIENT-INVOLVEMENT": _z_rule(_z_text(_G + ".patient_involvement")),
    "GOV-EQUALITY-IMPACT": _z_rule(f"{_G}.equality_impact_assessment ?? false"),
    "GOV-LOCAL-PRIORITIES": _z_rule(_z_list("doc.strategic_fit.local_priorities")),
    "GOV-EVIDENCE-BASE": _z_rule(_z_list("doc.strategic_fit.evidence")),
    "GOV-PRACTICES-LISTED": _z_rule(f"{_z_list('doc.practices')} and "
                                    "all(doc.practices, trim(#.ods_code ?? '') != '' and #.list_size != null)"),
    "COI-PROVIDER-STATED": _z_rule(f"{_z_text(_C + '.provider.name')} and {_z_text(_C + '.provider.type')} and "
                                   f"{_C}.provider_includes_commissioners != null"),
    "COI-DECLARATIONS-PRESENT": _z_rule(_z_list(_C + ".declarations"), _Z_CONFLICTED),
    "COI-INDEPENDENT-SCRUTINY": _z_rule(_z_text(_C + ".independent_scrutiny.by"), _Z_CONFLICTED),
    "COI-CONFLICTED-EXCLUDED": _z_rule(f"{_C}.independent_scrutiny.conflicted_members_excluded ?? false",
                                       f"{_z_map(_C + '.independent_scrutiny')} and {_Z_CONFLICTED}"),
    "COI-ALTERNATIVES": _z_rule(_z_list(_C + ".alternatives_considered"), _Z_CONFLICTED),
    "COI-OPEN-TO-ALL": _z_rule(f"{_C}.open_to_all_patients ?? false", _Z_CONFLICTED),
    "COI-PRICE-BENCHMARK": _z_rule(f"{_C}.price_benchmark.reference_price != null and "
                                   f"{_C}.price_benchmark.proposed_price != null", _Z_CONFLICTED),
    "COI-FAIR-PRICE": _z_rule(f"{_C}.price_benchmark.proposed_price <= {_C}.price_benchmark.reference_price",
                              f"{_C}.price_benchmark.reference_price != null and "
                              f"{_C}.price_benchmark.proposed_price != null and {_Z_CONFLICTED}"),
}


# ----------------------------------------------------------------------------- OPA Rego

def _r_path(path: str) -> str:
    return json.dumps(path.split("."))


def _r_rule(name: str, check: str, when: str | None = None) -> str:
    """A rule with its status: `when` and `check` are Rego bodies (`;`-separated)."""
    lines = []
    if when is not None:
        lines.append(f'{name} := "not_applicable" if {{ not _when_{name} }}')
        lines.append(f"else := \"pass\" if {{ {check} }}")
        lines.append('else := "fail"')
        lines.append(f"_when_{name} if {{ {when} }}")
    else:
        lines.append(f'{name} := "pass" if {{ {check} }}')
        lines.append('else := "fail"')
    return "\n".join(lines)


def _r_each(name: str, items: str, check: str, where: str | None = None) -> str:
    """Over `x` in the list at `items` (a document path)."""
    considered = f"[x | some x in got({_r_path(items)}, []); {where}]" if where else f"got({_r_path(items)}, [])"
    return "\n".join([
        f"_items_{name} := {considered}",
        f'{name} := "not_applicable" if {{ count(_items_{name}) == 0 }}',
        f"else := \"pass\" if {{ every x in _items_{name} {{ {check} }} }}",
        'else := "fail"'])


REGO_HEAD = '''package bench
import rego.v1

absent := {"absent": true}
at(path) := object.get(input.doc, path, absent)
has_at(path) if at(path) != absent
set_at(path) if { v := at(path); v != absent; v != null }
got(path, d) := v if { v := at(path); v != absent; v != null } else := d
text_at(path) if { v := at(path); is_string(v); trim_space(v) != "" }
list_at(path) if { v := at(path); is_array(v); count(v) > 0 }
map_at(path) if { v := at(path); v != absent; is_object(v); count(v) > 0 }
has_key(o, k) if { _ := o[k] }
set_key(o, k) if { o[k] != null }
text_key(o, k) if { v := o[k]; is_string(v); trim_space(v) != "" }
conflicted if got(["conflicts_of_interest", "provider_includes_commissioners"], false) == true
conflicted if got(["conflicts_of_interest", "provider", "type"], "") in {"practice", "gp_provider_organisation"}
p := input.params
'''

_REGO_RULES: dict[str, tuple] = {
    "FIN-FINANCIAL-INFORMATION": ("rule", 'some_financial', None),
    "FIN-PERIOD-STATED": ("rule", 'text_at(["period", "start"]); set_at(["period", "years"])', None),
    "FIN-INVESTMENT-PROFILE": ("rule", 'list_at(["finance", "investment"])', None),
    "FIN-ONE-OFF-RECURRING": ("each", "finance.investment", 'has_key(x, "one_off"); has_key(x, "recurring")', None),
    "FIN-TOTAL-INVESTMENT-SUM": ("rule", 'abs(at(["finance", "total_investment"]) - sum([v | some y in at(["finance", "investment"]); '
                                 'v := object.get(y, "one_off", 0) + object.get(y, "recurring", 0)])) '
                                 '<= p.sum_tolerance',
                                 'has_at(["finance", "total_investment"]); list_at(["finance", "investment"])'),
    "FIN-TOTAL-SAVINGS-SUM": ("rule", 'abs(at(["finance", "total_savings"]) - sum([v | some s in at(["finance", "savings"]); '
                              'v := object.get(s, "amount", 0)])) <= p.sum_tolerance',
                              'has_at(["finance", "total_savings"]); list_at(["finance", "savings"])'),
    "FIN-SAVINGS-PROFILE": ("rule", 'list_at(["finance", "savings"])', None),
    "FIN-SAVINGS-BASIS": ("each", "finance.savings", 'text_key(x, "basis")', None),
    "FIN-BASELINE-ACTIVITY": ("rule", 'list_at(["baseline", "activity"]); has_at(["baseline", "annual_cost"])', None),
    "FIN-BASELINE-COST-SUM": ("rule", 'abs(at(["baseline", "annual_cost"]) - sum([v | some a in at(["baseline", "activity"]); '
                              'v := object.get(a, "annual_volume", 0) * object.get(a, "unit_cost", 0)])) '
                              '<= p.sum_tolerance',
                              'has_at(["baseline", "annual_cost"]); list_at(["baseline", "activity"])'),
    "FIN-ACTIVITY-SHIFT": ("rule", 'list_at(["activity_shift"])', 'claims_savings'),
    "FIN-FUNDING-SOURCE": ("rule", 'text_at(["finance", "funding_source"])', None),
    "FIN-RECURRENT-FUNDING": ("rule", 'got(["finance", "recurrent_funding_confirmed"], false) == true',
                              'some i in got(["finance", "investment"], []); object.get(i, "recurring", 0) > 0'),
    "FIN-DOWNSIDE-CASE": ("rule", 'some s in got(["finance", "sensitivity"], []); '
                          'object.get(s, "savings_change_pct", 0) <= p.downside_savings_pct - 100', None),
    "FIN-DO-NOTHING-OPTION": ("rule", 'some o in got(["options"], []); object.get(o, "type", "") == "do_nothing"; '
                              'has_key(o, "total_cost")', None),
    "FIN-PREFERRED-OPTION": ("rule", 'count([o | some o in got(["options"], []); '
                             'object.get(o, "type", "") == "preferred"]) == 1', None),
    "FIN-ALTERNATIVE-OPTION": ("rule", 'some o in got(["options"], []); object.get(o, "type", "") == "alternative"; '
                               'has_key(o, "total_cost")', None),
    "FIN-DISCOUNT-RATE": ("rule", 'at(["finance", "discount_rate"]) == p.discount_rate',
                          'has_at(["finance", "discount_rate"])'),
    "FIN-FREED-UP-SHARE": ("rule", 'at(["finance", "freed_up_resources", "practice_share_pct"]) '
                           '<= p.freed_up_practice_share_pct',
                           'map_at(["finance", "freed_up_resources"]); '
                           'has_at(["finance", "freed_up_resources", "practice_share_pct"])'),
    "FIN-FREED-UP-PLANNED-USE": ("rule", 'text_at(["finance", "freed_up_resources", "planned_use"])',
                                 'map_at(["finance", "freed_up_resources"])'),
    "FIN-FREED-UP-WITHIN-NET-SAVINGS": ("rule", 'at(["finance", "freed_up_resources", "expected"]) <= '
                                        'max([0, at(["finance", "total_savings"]) - at(["finance", "total_investment"])]) '
                                        '+ p.sum_tolerance',
                                        'map_at(["finance", "freed_up_resources"]); '
                                        'has_at(["finance", "freed_up_resources", "expected"]); '
                                        'has_at(["finance", "total_savings"]); has_at(["finance", "total_investment"])'),
    "RISK-REGISTER": ("rule", 'list_at(["risks"])', None),
    "RISK-FINANCIAL": ("rule", 'some r in at(["risks"]); object.get(r, "category", "") == "financial"', 'list_at(["risks"])'),
    "RISK-CLINICAL": ("rule", 'some r in at(["risks"]); object.get(r, "category", "") == "clinical"', 'list_at(["risks"])'),
    "RISK-DESCRIBED": ("each", "risks", 'text_key(x, "description"); text_key(x, "category")', None),
    "RISK-RATED": ("each", "risks", 'has_key(x, "likelihood"); has_key(x, "impact")', None),
    "RISK-SCORE": ("each", "risks", 'x.score == x.likelihood * x.impact',
                   'has_key(x, "score"); has_key(x, "likelihood"); has_key(x, "impact")'),
    "RISK-OWNER": ("each", "risks", 'text_key(x, "owner")', None),
    "RISK-MITIGATION": ("each", "risks", 'text_key(x, "mitigation")', None),
    "RISK-EXTREME-CONTINGENCY": ("each", "risks", 'text_key(x, "contingency")',
                                 'has_key(x, "likelihood"); has_key(x, "impact"); '
                                 'x.likelihood * x.impact >= p.extreme_risk_score'),
    "RISK-SHARING": ("rule", 'text_at(["governance", "risk_sharing"])', None),
    "RISK-EXIT-STRATEGY": ("rule", 'text_at(["governance", "exit_strategy"])', None),
    "GOV-CLINICAL-LEAD": ("rule", 'text_at(["lead_clinician", "name"]); text_at(["lead_clinician", "role"])', None),
    "GOV-ACCOUNTABLE-OFFICER": ("rule", 'text_at(["governance", "accountable_officer"])', None),
    "GOV-APPROVAL-ROUTE": ("rule", 'text_at(["governance", "approval_route"])', None),
    "GOV-KPIS": ("rule", 'list_at(["governance", "monitoring", "kpis"])', None),
    "GOV-KPI-BASELINE-TARGET": ("each", "governance.monitoring.kpis", 'set_key(x, "baseline"); set_key(x, "target")',
                                None),
    "GOV-KPI-FREQUENCY": ("each", "governance.monitoring.kpis", 'text_key(x, "frequency")', None),
    "GOV-REVIEW-DATE": ("rule", 'text_at(["governance", "monitoring", "review_date"])', None),
    "GOV-REVIEW-AFTER-START": ("rule", 'at(["governance", "monitoring", "review_date"]) > at(["period", "start"])',
                               'text_at(["governance", "monitoring", "review_date"]); text_at(["period", "start"])'),
    "GOV-EVALUATION-PLAN": ("rule", 'text_at(["governance", "monitoring", "evaluation_plan"])', None),
    "GOV-PROCUREMENT-ROUTE": ("rule", 'text_at(["governance", "procurement", "route"]); '
                              'has_at(["governance", "procurement", "contract_value"])', None),
    "GOV-PROCUREMENT-SFI": ("rule", 'tendered_or_justified',
                            'text_at(["governance", "procurement", "route"]); '
                            'got(["governance", "procurement", "contract_value"], 0) > p.sfi_tender_threshold'),
    "GOV-CLINICAL-GOVERNANCE": ("rule", 'text_at(["governance", "clinical_governance", "arrangements"])', None),
    "GOV-PATIENT-INVOLVEMENT": ("rule", 'text_at(["governance", "patient_involvement"])', None),
    "GOV-EQUALITY-IMPACT": ("rule", 'got(["governance", "equality_impact_assessment"], false) == true', None),
    "GOV-LOCAL-PRIORITIES": ("rule", 'list_at(["strategic_fit", "local_priorities"])', None),
    "GOV-EVIDENCE-BASE": ("rule", 'list_at(["strategic_fit", "evidence"])', None),
    "GOV-PRACTICES-LISTED": ("rule", 'list_at(["practices"]); every x in at(["practices"]) '
                             '{ text_key(x, "ods_code"); has_key(x, "list_size") }', None),
    "COI-PROVIDER-STATED": ("rule", 'text_at(["conflicts_of_interest", "provider", "name"]); '
                            'text_at(["conflicts_of_interest", "provider", "type"]); '
                            'has_at(["conflicts_of_interest", "provider_includes_commissioners"])', None),
    "COI-DECLARATIONS-PRESENT": ("rule", 'list_at(["conflicts_of_interest", "declarations"])', 'conflicted'),
    "COI-INDEPENDENT-SCRUTINY": ("rule", 'text_at(["conflicts_of_interest", "independent_scrutiny", "by"])', 'conflicted'),
    "COI-CONFLICTED-EXCLUDED": ("rule", 'got(["conflicts_of_interest", "independent_scrutiny", '
                                '"conflicted_members_excluded"], false) == true',
                                'map_at(["conflicts_of_interest", "independent_scrutiny"]); conflicted'),
    "COI-ALTERNATIVES": ("rule", 'list_at(["conflicts_of_interest", "alternatives_considered"])', 'conflicted'),
    "COI-OPEN-TO-ALL": ("rule", 'got(["conflicts_of_interest", "open_to_all_patients"], false) == true', 'conflicted'),
    "COI-PRICE-BENCHMARK": ("rule", 'has_at(["conflicts_of_interest", "price_benchmark", "reference_price"]); '
                            'has_at(["conflicts_of_interest", "price_benchmark", "proposed_price"])', 'conflicted'),
    "COI-FAIR-PRICE": ("rule", 'at(["conflicts_of_interest", "price_benchmark", "proposed_price"]) <= '
                       'at(["conflicts_of_interest", "price_benchmark", "reference_price"])',
                       'has_at(["conflicts_of_interest", "price_benchmark", "reference_price"]); '
                       'has_at(["conflicts_of_interest", "price_benchmark", "proposed_price"]); conflicted'),
}

REGO_HELPERS = '''
some_financial if list_at(["finance", "investment"])
some_financial if has_at(["finance", "total_investment"])
some_financial if list_at(["finance", "savings"])
some_financial if has_at(["finance", "total_savings"])
claims_savings if got(["finance", "total_savings"], 0) > 0
claims_savings if { some s in got(["finance", "savings"], []); object.get(s, "amount", 0) > 0 }
tendered_or_justified if at(["governance", "procurement", "route"]) in {"competitive_tender", "any_qualified_provider"}
tendered_or_justified if text_at(["governance", "procurement", "justification"])
'''


def _rego_name(rule_id: str) -> str:
    return "r_" + rule_id.lower().replace("-", "_")


def rego_module(rule_ids: tuple[str, ...] = SUBSET) -> str:
    parts = [REGO_HEAD, REGO_HELPERS]
    for rule_id in rule_ids:
        kind, *spec = _REGO_RULES[rule_id]
        name = _rego_name(rule_id)
        parts.append(_r_rule(name, spec[0], spec[1]) if kind == "rule" else _r_each(name, *spec))
    parts.append("statuses := {" + ", ".join(f'"{r}": {_rego_name(r)}' for r in rule_ids) + "}")
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------- JsonLogic

def _v(path: str, default: Any = None) -> dict:
    return {"var": [path, default]} if default is not None else {"var": path}


def _j_set(path: str) -> dict:
    return {"!==": [_v(path), None]}


def _j_filled(path: str) -> dict:  # non-empty text or list; a map or a number: present
    return {"!!": _v(path)}


def _j_rule(check: Any, when: Any = None) -> dict:
    status = {"if": [check, "pass", "fail"]}
    return status if when is None else {"if": [when, status, "not_applicable"]}


def _j_each(items: str, check: Any, where: Any = None) -> dict:
    source = _v(items, [])
    considered = {"filter": [source, where]} if where is not None else source
    return {"if": [{"!": {"some": [considered, True]}}, "not_applicable",
                   {"if": [{"all": [considered, check]}, "pass", "fail"]}]}


def _j_between_tolerance(total: str, lines: dict, params: dict) -> dict:
    """abs(total - lines) <= tolerance, as -t <= total - lines <= t (JsonLogic has no abs)."""
    tolerance = params["sum_tolerance"]
    return {"<=": [-tolerance, {"-": [_v(total), lines]}, tolerance]}


def jsonlogic_rules(params: dict) -> dict[str, dict]:
    """The subset in JsonLogic. Inside `all`/`some`/`filter` only the item is visible, so
    parameters used there are written in as constants."""
    conflicted = {"or": [_v("conflicts_of_interest.provider_includes_commissioners", False),
                         {"in": [_v("conflicts_of_interest.provider.type", ""), CONFLICTED_TYPES]}]}
    invested = {"reduce": [_v("finance.investment", []), {"+": [_v("accumulator"), _v("current.one_off", 0),
                                                                 _v("current.recurring", 0)]}, 0]}
    saved = {"reduce": [_v("finance.savings", []), {"+": [_v("accumulator"), _v("current.amount", 0)]}, 0]}
    costed = {"reduce": [_v("baseline.activity", []), {"+": [_v("accumulator"), {"*": [
        _v("current.annual_volume", 0), _v("current.unit_cost", 0)]}]}, 0]}
    cut = params["downside_savings_pct"] - 100
    extreme = params["extreme_risk_score"]
    return {
        "FIN-FINANCIAL-INFORMATION": _j_rule({"or": [_j_filled("finance.investment"), _j_set("finance.total_investment"),
                                                     _j_filled("finance.savings"), _j_set("finance.total_savings")]}),
        "FIN-PERIOD-STATED": _j_rule({"and": [_j_filled("period.start"), _j_set("period.years")]}),
        "FIN-INVESTMENT-PROFILE": _j_rule(_j_filled("finance.investment")),
        "FIN-ONE-OFF-RECURRING": _j_each("finance.investment", {"and": [_j_set("one_off"), _j_set("recurring")]}),
        "FIN-TOTAL-INVESTMENT-SUM": _j_rule(_j_between_tolerance("finance.total_investment", invested, params),
                                            {"and": [_j_set("finance.total_investment"), _j_filled("finance.investment")]}),
        "FIN-TOTAL-SAVINGS-SUM": _j_rule(_j_between_tolerance("finance.total_savings", saved, params),
                                         {"and": [_j_set("finance.total_savings"), _j_filled("finance.savings")]}),
        "FIN-SAVINGS-PROFILE": _j_rule(_j_filled("finance.savings")),
        "FIN-SAVINGS-BASIS": _j_each("finance.savings", _j_filled("basis")),
        "FIN-BASELINE-ACTIVITY": _j_rule({"and": [_j_filled("baseline.activity"), _j_set("baseline.annual_cost")]}),
        "FIN-BASELINE-COST-SUM": _j_rule(_j_between_tolerance("baseline.annual_cost", costed, params),
                                         {"and": [_j_set("baseline.annual_cost"), _j_filled("baseline.activity")]}),
        "FIN-ACTIVITY-SHIFT": _j_rule(_j_filled("activity_shift"), {"or": [
            {">": [_v("finance.total_savings", 0), 0]},
            {"some": [_v("finance.savings", []), {">": [_v("amount", 0), 0]}]}]}),
        "FIN-FUNDING-SOURCE": _j_rule(_j_filled("finance.funding_source")),
        "FIN-RECURRENT-FUNDING": _j_rule({"===": [_v("finance.recurrent_funding_confirmed", False), True]},
                                         {"some": [_v("finance.investment", []), {">": [_v("recurring", 0), 0]}]}),
        "FIN-DOWNSIDE-CASE": _j_rule({"some": [_v("finance.sensitivity", []),
                                               {"<=": [_v("savings_change_pct", 0), cut]}]}),
        "FIN-DO-NOTHING-OPTION": _j_rule({"some": [_v("options", []), {"and": [
            {"==": [_v("type", ""), "do_nothing"]}, _j_set("total_cost")]}]}),
        "FIN-PREFERRED-OPTION": _j_rule({"==": [{"reduce": [{"filter": [_v("options", []), {
            "==": [_v("type", ""), "preferred"]}]}, {"+": [_v("accumulator"), 1]}, 0]}, 1]}),
        "FIN-ALTERNATIVE-OPTION": _j_rule({"some": [_v("options", []), {"and": [
            {"==": [_v("type", ""), "alternative"]}, _j_set("total_cost")]}]}),
        "FIN-DISCOUNT-RATE": _j_rule({"==": [_v("finance.discount_rate"), _v("params.discount_rate")]},
                                     _j_set("finance.discount_rate")),
        "FIN-FREED-UP-SHARE": _j_rule(
            {"<=": [_v("finance.freed_up_resources.practice_share_pct"), _v("params.freed_up_practice_share_pct")]},
            {"and": [_j_set("finance.freed_up_resources"), _j_set("finance.freed_up_resources.practice_share_pct")]}),
        "FIN-FREED-UP-PLANNED-USE": _j_rule(_j_filled("finance.freed_up_resources.planned_use"),
                                            _j_set("finance.freed_up_resources")),
        "FIN-FREED-UP-WITHIN-NET-SAVINGS": _j_rule(
            {"<=": [_v("finance.freed_up_resources.expected"), {"+": [{"max": [0, {"-": [
                _v("finance.total_savings"), _v("finance.total_investment")]}]}, _v("params.sum_tolerance")]}]},
            {"and": [_j_set("finance.freed_up_resources"), _j_set("finance.freed_up_resources.expected"),
                     _j_set("finance.total_savings"), _j_set("finance.total_investment")]}),
        "RISK-REGISTER": _j_rule(_j_filled("risks")),
        "RISK-FINANCIAL": _j_rule({"some": [_v("risks"), {"==": [_v("category", ""), "financial"]}]}, _j_filled("risks")),
        "RISK-CLINICAL": _j_rule({"some": [_v("risks"), {"==": [_v("category", ""), "clinical"]}]}, _j_filled("risks")),
        "RISK-DESCRIBED": _j_each("risks", {"and": [_j_filled("description"), _j_filled("category")]}),
        "RISK-RATED": _j_each("risks", {"and": [_j_set("likelihood"), _j_set("impact")]}),
        "RISK-SCORE": _j_each("risks", {"==": [_v("score"), {"*": [_v("likelihood"), _v("impact")]}]},
                              {"and": [_j_set("score"), _j_set("likelihood"), _j_set("impact")]}),
        "RISK-OWNER": _j_each("risks", _j_filled("owner")),
        "RISK-MITIGATION": _j_each("risks", _j_filled("mitigation")),
        "RISK-EXTREME-CONTINGENCY": _j_each("risks", _j_filled("contingency"), {"and": [
            _j_set("likelihood"), _j_set("impact"), {">=": [{"*": [_v("likelihood"), _v("impact")]}, extreme]}]}),
        "RISK-SHARING": _j_rule(_j_filled("governance.risk_sharing")),
        "RISK-EXIT-STRATEGY": _j_rule(_j_filled("governance.exit_strategy")),
        "GOV-CLINICAL-LEAD": _j_rule({"and": [_j_filled("lead_clinician.name"), _j_filled("lead_clinician.role")]}),
        "GOV-ACCOUNTABLE-OFFICER": _j_rule(_j_filled("governance.accountable_officer")),
        "GOV-APPROVAL-ROUTE": _j_rule(_j_filled("governance.approval_route")),
        "GOV-KPIS": _j_rule(_j_filled("governance.monitoring.kpis")),
        "GOV-KPI-BASELINE-TARGET": _j_each("governance.monitoring.kpis", {"and": [_j_set("baseline"), _j_set("target")]}),
        "GOV-KPI-FREQUENCY": _j_each("governance.monitoring.kpis", _j_filled("frequency")),
        "GOV-REVIEW-DATE": _j_rule(_j_filled("governance.monitoring.review_date")),
        "GOV-REVIEW-AFTER-START": _j_rule({">": [_v("governance.monitoring.review_date"), _v("period.start")]},
                                          {"and": [_j_filled("governance.monitoring.review_date"),
                                                   _j_filled("period.start")]}),
        "GOV-EVALUATION-PLAN": _j_rule(_j_filled("governance.monitoring.evaluation_plan")),
        "GOV-PROCUREMENT-ROUTE": _j_rule({"and": [_j_filled("governance.procurement.route"),
                                                  _j_set("governance.procurement.contract_value")]}),
        "GOV-PROCUREMENT-SFI": _j_rule(
            {"or": [{"in": [_v("governance.procurement.route"), ["competitive_tender", "any_qualified_provider"]]},
                    _j_filled("governance.procurement.justification")]},
            {"and": [_j_filled("governance.procurement.route"), {">": [
                _v("governance.procurement.contract_value", 0), _v("params.sfi_tender_threshold")]}]}),
        "GOV-CLINICAL-GOVERNANCE": _j_rule(_j_filled("governance.clinical_governance.arrangements")),
        "GOV-PATIENT-INVOLVEMENT": _j_rule(_j_filled("governance.patient_involvement")),
        "GOV-EQUALITY-IMPACT": _j_rule({"===": [_v("governance.equality_impact_assessment", False), True]}),
        "GOV-LOCAL-PRIORITIES": _j_rule(_j_filled("strategic_fit.local_priorities")),
        "GOV-EVIDENCE-BASE": _j_rule(_j_filled("strategic_fit.evidence")),
        "GOV-PRACTICES-LISTED": _j_rule({"and": [_j_filled("practices"), {"all": [_v("practices"), {"and": [
            _j_filled("ods_code"), _j_set("list_size")]}]}]}),
        "COI-PROVIDER-STATED": _j_rule({"and": [_j_filled("conflicts_of_interest.provider.name"),
                                                _j_filled("conflicts_of_interest.provider.type"),
                                                _j_set("conflicts_of_interest.provider_includes_commissioners")]}),
        "COI-DECLARATIONS-PRESENT": _j_rule(_j_filled("conflicts_of_interest.declarations"), conflicted),
        "COI-INDEPENDENT-SCRUTINY": _j_rule(_j_filled("conflicts_of_interest.independent_scrutiny.by"), conflicted),
        "COI-CONFLICTED-EXCLUDED": _j_rule(
            {"===": [_v("conflicts_of_interest.independent_scrutiny.conflicted_members_excluded", False), True]},
            {"and": [_j_set("conflicts_of_interest.independent_scrutiny"), conflicted]}),
        "COI-ALTERNATIVES": _j_rule(_j_filled("conflicts_of_interest.alternatives_considered"), conflicted),
        "COI-OPEN-TO-ALL": _j_rule({"===": [_v("conflicts_of_interest.open_to_all_patients", False), True]},
                                   conflicted),
        "COI-PRICE-BENCHMARK": _j_rule({"and": [_j_set("conflicts_of_interest.price_benchmark.reference_price"),
                                                _j_set("conflicts_of_interest.price_benchmark.proposed_price")]},
                                       conflicted),
        "COI-FAIR-PRICE": _j_rule(
            {"<=": [_v("conflicts_of_interest.price_benchmark.proposed_price"),
                    _v("conflicts_of_interest.price_benchmark.reference_price")]},
            {"and": [_j_set("conflicts_of_interest.price_benchmark.reference_price"),
                     _j_set("conflicts_of_interest.price_benchmark.proposed_price"), conflicted]}),
    }


# ----------------------------------------------------------------------------- runners

class Unavailable(Exception):
    """The engine's package is not installed (or does not load) here."""


def _float_params(params: dict) -> dict:
    return {k: float(v) if isinstance(v, (int, Decimal)) and not isinstance(v, bool) else v for k, v in params.items()}


class Runner:
    """One foreign engine with the subset compiled: `prepare(doc)` turns the parsed dict into
    what the engine takes (counted in the per-case time "from the parsed dict"), `run(prepared)`
    gives {rule id: status}."""

    name = ""
    package = ""
    converts = True  # prepare() turns the document into another form (timed apart too)

    def prepare(self, doc: dict) -> Any:
        return doc

    def run(self, prepared: Any) -> dict[str, str]:
        raise NotImplementedError

    def statuses(self, doc: dict) -> dict[str, str]:
        return self.run(self.prepare(doc))


def _sum_floats(values: Any) -> float:
    return float(sum(values))


def cel_program(rule_ids: tuple[str, ...]) -> str:
    """All the rules as one CEL expression: a map of rule id to status."""
    return "{" + ", ".join(f"'{r}': {CEL[r]}" for r in rule_ids) + "}"


class CelPython(Runner):
    name, package = "cel-python (celpy), pure Python", "cel-python"

    def __init__(self, params: dict, rule_ids: tuple[str, ...] = SUBSET):
        try:
            import celpy
            from celpy import celtypes
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(str(exc)) from exc
        self.celpy = celpy
        env = celpy.Environment()
        functions = {"sum": lambda values: celtypes.DoubleType(sum(float(v) for v in values))}
        self.program = env.program(env.compile(cel_program(rule_ids)), functions=functions)
        self.params = celpy.json_to_cel(_float_params(params))

    def prepare(self, doc: dict) -> Any:
        return {"doc": self.celpy.json_to_cel(floats(doc)), "params": self.params}

    def run(self, activation: Any) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.program.evaluate(activation).items()}


class CelRust(Runner):
    name, package = "CEL, Rust bindings (common-expression-language)", "common-expression-language"

    def __init__(self, params: dict, rule_ids: tuple[str, ...] = SUBSET):
        try:
            import cel
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(str(exc)) from exc
        self.cel = cel
        self.program = cel.compile(cel_program(rule_ids))
        self.params = _float_params(params)

    def prepare(self, doc: dict) -> Any:
        return self.cel.Context({"doc": floats(doc), "params": self.params}, {"sum": _sum_floats})

    def run(self, context: Any) -> dict[str, str]:
        return self.program.execute(context)


class CelGoogle(Runner):
    name, package = "CEL, Google's C++ (cel-expr-python)", "cel-expr-python"

    def __init__(self, params: dict, rule_ids: tuple[str, ...] = SUBSET):
        try:
            from cel_expr_python import cel
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(str(exc)) from exc
        kind = cel.Type
        declaration = cel.FunctionDecl("sum", [cel.Overload("sum_list", kind.DOUBLE, [kind.List(kind.DYN)], False)])
        env = cel.NewEnv(variables={"doc": kind.DYN, "params": kind.DYN}, functions=[declaration],
                         function_impls={"sum_list": _sum_floats})
        self.env = env
        self.program = env.compile(cel_program(rule_ids))
        self.params = _float_params(params)

    def prepare(self, doc: dict) -> Any:
        return self.env.Activation({"doc": floats(doc), "params": self.params})

    def run(self, activation: Any) -> dict[str, str]:
        return self.program.eval(activation).plain_value()


class Zen(Runner):
    name, package = "GoRules ZEN (zen-engine), one graph", "zen-engine"

    def __init__(self, params: dict, rule_ids: tuple[str, ...] = SUBSET):
        try:
            import zen
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(str(exc)) from exc
        keys = {r: r.replace("-", "_") for r in rule_ids}
        graph = {
            "nodes": [
                {"id": "request", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
                {"id": "rules", "type": "expressionNode", "name": "Rules", "position": {"x": 300, "y": 0},
                 "content": {"expressions": [{"id": str(i), "key": keys[r], "value": ZEN[r]}
                                             for i, r in enumerate(rule_ids)]}},
                {"id": "response", "type": "outputNode", "name": "Response", "position": {"x": 600, "y": 0}},
            ],
            "edges": [{"id": "e1", "sourceId": "request", "targetId": "rules", "type": "edge"},
                      {"id": "e2", "sourceId": "rules", "targetId": "response", "type": "edge"}],
        }
        self.decision = zen.ZenEngine().create_decision(json.dumps(graph))
        self.back = {v: k for k, v in keys.items()}
        self.params = _float_params(params)

    def prepare(self, doc: dict) -> Any:
        return {"doc": floats(doc), "params": self.params}

    def run(self, context: Any) -> dict[str, str]:
        result = self.decision.evaluate(context)["result"]
        return {self.back[k]: v for k, v in result.items()}


class Rego(Runner):
    name, package = "OPA Rego (regopy), one policy", "regopy"

    def __init__(self, params: dict, rule_ids: tuple[str, ...] = SUBSET):
        try:
            import regopy
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(str(exc)) from exc
        builder = regopy.Interpreter()
        builder.add_module("bench", rego_module(rule_ids))
        self.bundle = builder.build("statuses = data.bench.statuses")  # compiled once
        self.interpreter = regopy.Interpreter()
        self.params = params

    def prepare(self, doc: dict) -> Any:
        from bcapi.document import dumps
        return dumps({"doc": doc, "params": self.params})  # the document as JSON, decimals as they came

    def run(self, text: Any) -> dict[str, str]:
        self.interpreter.set_input_term(text)
        output = self.interpreter.query_bundle(self.bundle)  # keep it alive while its nodes are read
        statuses = json.loads(output.binding("statuses").json())
        del output
        return statuses


class JsonLogic(Runner):
    name, package = "JsonLogic (panzi-json-logic)", "panzi-json-logic"
    converts = False

    def __init__(self, params: dict, rule_ids: tuple[str, ...] = SUBSET):
        try:
            from json_logic import jsonLogic
        except Exception as exc:  # noqa: BLE001
            raise Unavailable(str(exc)) from exc
        self.apply = jsonLogic
        rules = jsonlogic_rules(params)
        self.rules = [(r, rules[r]) for r in rule_ids]
        self.params = params

    def prepare(self, doc: dict) -> Any:
        return {**doc, "params": self.params}  # params where `var` finds them, outside loops

    def run(self, data: Any) -> dict[str, str]:
        apply = self.apply
        return {r: apply(rule, data) for r, rule in self.rules}


RUNNERS: tuple[type[Runner], ...] = (Zen, CelRust, CelGoogle, JsonLogic, Rego, CelPython)


def load(params: dict) -> tuple[list[Runner], list[tuple[str, str]]]:
    """The runners whose package loads here, and (package, why) for the others."""
    loaded, missing = [], []
    for cls in RUNNERS:
        try:
            loaded.append(cls(params))
        except Unavailable as exc:
            missing.append((cls.package, str(exc).splitlines()[0] if str(exc) else "not installed"))
    return loaded, missing


def check_subset() -> None:
    missing = [r for r in SUBSET if r not in CEL or r not in ZEN or r not in _REGO_RULES]
    assert not missing, missing


check_subset()
__all__ = ["SUBSET", "NOT_IN_SUBSET_WHY", "RUNNERS", "Runner", "Unavailable", "load", "floats"]
