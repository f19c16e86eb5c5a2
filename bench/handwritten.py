"""The reference ruleset's 76 checks written by hand as one plain Python function: the baseline
of bench/engine.py.

`statuses(doc, params)` takes the parsed case (a dict, numbers as int / Decimal, as
`bcapi.document.loads` gives them) and the ruleset's parameters, and returns
{rule id: "pass" | "fail" | "not_applicable"} for every rule of bench/ruleset-2026.11.0/reference.yaml (the reference ruleset 2026.11.0), written
the way a developer would write them without a rules engine: plain dict access, one pass over
each list, the payback worked out year by year. It gives the same status as the engine for
every document the document schema accepts (bench/engine.py checks it on the samples, mutated
samples and every fixture document of rules/tests/); it does not render messages.

Each rule is one block starting with a `# -- RULE-ID` line; `subset(ids)` builds the same
function keeping only the blocks of the given rules (and the lines of the prelude they use),
so that a foreign engine that can express only some rules is compared with the hand-written
code for exactly those.
"""
from __future__ import annotations

import datetime
import inspect
import re
import textwrap
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Callable, Iterable

P, F, NA = "pass", "fail", "not_applicable"
EMPTY: dict = {}
CONFLICTED_TYPES = ("practice", "gp_provider_organisation")
NOT_AN_INTEREST = ("none", "no interest", "nil")
DIVISION = Context(prec=28, rounding=ROUND_HALF_UP)  # the engine's `/`: exact decimal division
YEAR = re.compile(r"(19|20)[0-9][0-9]")
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
date = datetime.date.fromisoformat


def filled(value: Any) -> bool:
    """Not null, not blank text, not an empty list or map."""
    if value is None:
        return False
    kind = type(value)
    if kind is str:
        return value.strip() != ""
    if kind is list or kind is dict:
        return len(value) > 0
    return True


def lower(text: str) -> str:
    """ASCII lower case only, as the rules' lowerAscii()."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def norm(text: str) -> str:
    return lower(text.strip())


def statuses(doc: dict, params: dict) -> dict[str, str]:
    finance = doc.get("finance") or EMPTY
    period = doc.get("period") or EMPTY
    baseline = doc.get("baseline") or EMPTY
    governance = doc.get("governance") or EMPTY
    coi = doc.get("conflicts_of_interest") or EMPTY
    monitoring = governance.get("monitoring") or EMPTY
    procurement = governance.get("procurement") or EMPTY
    lead = doc.get("lead_clinician") or EMPTY
    strategic_fit = doc.get("strategic_fit") or EMPTY
    provider = coi.get("provider") or EMPTY
    investment = finance.get("investment") or ()
    savings = finance.get("savings") or ()
    options = doc.get("options") or ()
    risks = doc.get("risks") or ()
    activity = baseline.get("activity") or ()
    shift = doc.get("activity_shift") or ()
    declarations = coi.get("declarations") or ()
    practices = doc.get("practices") or ()
    kpis = monitoring.get("kpis") or ()
    years = period.get("years")
    start = period.get("start")
    start_filled = filled(start)
    freed = finance.get("freed_up_resources")
    scrutiny = coi.get("independent_scrutiny") or EMPTY
    benchmark = coi.get("price_benchmark") or EMPTY
    tolerance = params["sum_tolerance"]
    conflicted = coi.get("provider_includes_commissioners") is True or provider.get("type") in CONFLICTED_TYPES
    out = {}

    # ---------------------------------------------------------------- financial
    # -- FIN-FINANCIAL-INFORMATION
    out["FIN-FINANCIAL-INFORMATION"] = P if (investment or "total_investment" in finance or savings
                                             or "total_savings" in finance) else F
    # -- FIN-PERIOD-STATED
    out["FIN-PERIOD-STATED"] = P if start_filled and years is not None else F
    # -- FIN-INVESTMENT-PROFILE
    out["FIN-INVESTMENT-PROFILE"] = P if investment else F
    # -- FIN-ONE-OFF-RECURRING
    if not investment:
        out["FIN-ONE-OFF-RECURRING"] = NA
    else:
        out["FIN-ONE-OFF-RECURRING"] = P if all("one_off" in i and "recurring" in i for i in investment) else F
    # -- FIN-TOTAL-INVESTMENT-SUM
    if "total_investment" in finance and investment:
        lines = sum(i.get("one_off", 0) + i.get("recurring", 0) for i in investment)
        out["FIN-TOTAL-INVESTMENT-SUM"] = P if abs(finance["total_investment"] - lines) <= tolerance else F
    else:
        out["FIN-TOTAL-INVESTMENT-SUM"] = NA
    # -- FIN-TOTAL-SAVINGS-SUM
    if "total_savings" in finance and savings:
        lines = sum(s.get("amount", 0) for s in savings)
        out["FIN-TOTAL-SAVINGS-SUM"] = P if abs(finance["total_savings"] - lines) <= tolerance else F
    else:
        out["FIN-TOTAL-SAVINGS-SUM"] = NA
    # -- FIN-INVESTMENT-YEARS
    if years is not None and investment:
        given = {i.get("year") for i in investment}
        ok = (all("year" in i and i["year"] <= years for i in investment)
              and all(k in given for k in range(1, min(years, 10) + 1)))
        out["FIN-INVESTMENT-YEARS"] = P if ok else F
    else:
        out["FIN-INVESTMENT-YEARS"] = NA
    # -- FIN-SAVINGS-PROFILE
    out["FIN-SAVINGS-PROFILE"] = P if savings else F
    # -- FIN-SAVINGS-YEARS
    if years is not None and savings:
        given = {s.get("year") for s in savings}
        ok = (all("year" in s and s["year"] <= years for s in savings)
              and all(k in given for k in range(1, min(years, 10) + 1)))
        out["FIN-SAVINGS-YEARS"] = P if ok else F
    else:
        out["FIN-SAVINGS-YEARS"] = NA
    # -- FIN-SAVINGS-BASIS
    if not savings:
        out["FIN-SAVINGS-BASIS"] = NA
    else:
        out["FIN-SAVINGS-BASIS"] = P if all(filled(s.get("basis")) for s in savings) else F
    # -- FIN-SAVINGS-WITHIN-BASELINE
    amounts = [s["amount"] for s in savings if "amount" in s] if "annual_cost" in baseline else ()
    if not amounts:
        out["FIN-SAVINGS-WITHIN-BASELINE"] = NA
    else:
        out["FIN-SAVINGS-WITHIN-BASELINE"] = P if max(amounts) <= baseline["annual_cost"] else F
    # -- FIN-BASELINE-ACTIVITY
    out["FIN-BASELINE-ACTIVITY"] = P if activity and "annual_cost" in baseline else F
    # -- FIN-BASELINE-SOURCE
    if not activity:
        out["FIN-BASELINE-SOURCE"] = NA
    else:
        out["FIN-BASELINE-SOURCE"] = P if all(filled(a.get("source")) and YEAR.search(a["source"])
                                             for a in activity) else F
    # -- FIN-BASELINE-COST-SUM
    if "annual_cost" in baseline and activity:
        cost = sum(a.get("annual_volume", 0) * a.get("unit_cost", 0) for a in activity)
        out["FIN-BASELINE-COST-SUM"] = P if abs(baseline["annual_cost"] - cost) <= tolerance else F
    else:
        out["FIN-BASELINE-COST-SUM"] = NA
    # -- FIN-ACTIVITY-SHIFT
    if finance.get("total_savings", 0) > 0 or any(s.get("amount", 0) > 0 for s in savings):
        out["FIN-ACTIVITY-SHIFT"] = P if shift else F
    else:
        out["FIN-ACTIVITY-SHIFT"] = NA
    # -- FIN-ACTIVITY-SAVINGS-RATIO
    amounts = [s["amount"] for s in savings if "amount" in s]
    if shift and amounts:
        moved = sum(a.get("annual_volume", 0) * a.get("unit_cost", 0) for a in shift)
        ok = abs(max(amounts) - moved) * 100 <= params["activity_savings_tolerance_pct"] * moved
        out["FIN-ACTIVITY-SAVINGS-RATIO"] = P if ok else F
    else:
        out["FIN-ACTIVITY-SAVINGS-RATIO"] = NA
    # -- FIN-EMERGENCY-MARGINAL-RATE
    out["FIN-EMERGENCY-MARGINAL-RATE"] = NA
    if start_filled and years is not None:
        tariffs = [b["unit_cost"] for b in activity
                   if b.get("point_of_delivery") == "emergency_admission" and "unit_cost" in b]
        if tariffs and (date(params["marginal_rate_from"]) - date(start)).days < 365 * years:
            avoided = [a["unit_cost"] for a in shift
                       if a.get("point_of_delivery") == "emergency_admission" and "unit_cost" in a]
            if avoided:
                limit = params["emergency_marginal_rate_pct"] * max(tariffs) + tolerance * 100
                ok = (all(cost * 100 <= limit for cost in avoided)
                      or any("marginal rate" in lower(a) for a in finance.get("assumptions", ())))
                out["FIN-EMERGENCY-MARGINAL-RATE"] = P if ok else F
    # -- FIN-PAYBACK-CONSISTENT
    out["FIN-PAYBACK-CONSISTENT"] = NA
    if (finance.get("payback_years") is not None and investment and savings
            and all("year" in i for i in investment) and all("year" in s for s in savings)):
        stated = finance["payback_years"]
        # cumulative savings less investment up to the end of each year, lines before year 1 first
        net_before = (sum(s.get("amount", 0) for s in savings if s["year"] < 1)
                      - sum(i.get("one_off", 0) + i.get("recurring", 0) for i in investment if i["year"] < 1))
        computed = None
        for k in range(1, 11):
            saved = sum(s.get("amount", 0) for s in savings if s["year"] == k)
            one_off = sum(i.get("one_off", 0) for i in investment if i["year"] == k)
            recurring = sum(i.get("recurring", 0) for i in investment if i["year"] == k)
            net = net_before + saved - one_off - recurring
            if net >= 0:
                yearly = saved - recurring
                computed = k - 1 + DIVISION.divide(Decimal(one_off - net_before), Decimal(yearly)) if yearly > 0 else k - 1
                break
            net_before = net
        if computed is not None:
            ok = abs(stated - computed) <= params["payback_tolerance_years"]
        else:
            ok = stated > max(max(i["year"] for i in investment), max(s["year"] for s in savings))
        out["FIN-PAYBACK-CONSISTENT"] = P if ok else F
    # -- FIN-FUNDING-SOURCE
    out["FIN-FUNDING-SOURCE"] = P if filled(finance.get("funding_source")) else F
    # -- FIN-RECURRENT-FUNDING
    if any(i.get("recurring", 0) > 0 for i in investment):
        out["FIN-RECURRENT-FUNDING"] = P if finance.get("recurrent_funding_confirmed") else F
    else:
        out["FIN-RECURRENT-FUNDING"] = NA
    # -- FIN-DOWNSIDE-CASE
    cut = params["downside_savings_pct"] - 100
    sensitivity = finance.get("sensitivity", ())
    out["FIN-DOWNSIDE-CASE"] = P if any(s.get("savings_change_pct", 0) <= cut for s in sensitivity) else F
    # -- FIN-DOWNSIDE-AFFORDABLE
    cut = params["downside_savings_pct"] - 100
    downside = [s["net_benefit"] for s in finance.get("sensitivity", ())
                if s.get("savings_change_pct", 0) <= cut and "net_benefit" in s]
    if downside:
        ok = min(downside) >= 0 or filled(governance.get("risk_sharing"))
        out["FIN-DOWNSIDE-AFFORDABLE"] = P if ok else F
    else:
        out["FIN-DOWNSIDE-AFFORDABLE"] = NA
    # -- FIN-DO-NOTHING-OPTION
    out["FIN-DO-NOTHING-OPTION"] = P if any(o.get("type") == "do_nothing" and "total_cost" in o
                                            for o in options) else F
    # -- FIN-DO-NOTHING-COST-BASELINE
    out["FIN-DO-NOTHING-COST-BASELINE"] = NA
    if "annual_cost" in baseline and years is not None:
        costs = [o["total_cost"] for o in options if o.get("type") == "do_nothing" and "total_cost" in o]
        if costs:
            expected = baseline["annual_cost"] * years
            limit = params["do_nothing_tolerance_pct"] * expected
            out["FIN-DO-NOTHING-COST-BASELINE"] = P if all(abs(c - expected) * 100 <= limit for c in costs) else F
    # -- FIN-PREFERRED-OPTION
    preferred = sum(1 for o in options if o.get("type") == "preferred")
    out["FIN-PREFERRED-OPTION"] = P if preferred == 1 else F
    # -- FIN-ALTERNATIVE-OPTION
    out["FIN-ALTERNATIVE-OPTION"] = P if any(o.get("type") == "alternative" and "total_cost" in o
                                             for o in options) else F
    # -- FIN-PREFERRED-COST
    out["FIN-PREFERRED-COST"] = NA
    if "total_investment" in finance:
        costs = [o["total_cost"] for o in options if o.get("type") == "preferred" and "total_cost" in o]
        if costs:
            total = finance["total_investment"]
            out["FIN-PREFERRED-COST"] = P if all(abs(c - total) <= tolerance for c in costs) else F
    # -- FIN-PREFERRED-BENEFIT
    out["FIN-PREFERRED-BENEFIT"] = NA
    if "total_savings" in finance:
        benefits = [o["total_benefit"] for o in options if o.get("type") == "preferred" and "total_benefit" in o]
        if benefits:
            total = finance["total_savings"]
            out["FIN-PREFERRED-BENEFIT"] = P if all(abs(b - total) <= tolerance for b in benefits) else F
    # -- FIN-DISCOUNT-RATE
    if "discount_rate" in finance:
        out["FIN-DISCOUNT-RATE"] = P if finance["discount_rate"] == params["discount_rate"] else F
    else:
        out["FIN-DISCOUNT-RATE"] = NA
    # -- FIN-FREED-UP-SHARE
    if freed and "practice_share_pct" in freed:
        out["FIN-FREED-UP-SHARE"] = P if freed["practice_share_pct"] <= params["freed_up_practice_share_pct"] else F
    else:
        out["FIN-FREED-UP-SHARE"] = NA
    # -- FIN-FREED-UP-PLANNED-USE
    if freed:
        out["FIN-FREED-UP-PLANNED-USE"] = P if filled(freed.get("planned_use")) else F
    else:
        out["FIN-FREED-UP-PLANNED-USE"] = NA
    # -- FIN-FREED-UP-WITHIN-NET-SAVINGS
    if freed and "expected" in freed and "total_savings" in finance and "total_investment" in finance:
        net = finance["total_savings"] - finance["total_investment"]
        out["FIN-FREED-UP-WITHIN-NET-SAVINGS"] = P if freed["expected"] <= max(0, net) + tolerance else F
    else:
        out["FIN-FREED-UP-WITHIN-NET-SAVINGS"] = NA

    # ---------------------------------------------------------------- risk
    # -- RISK-REGISTER
    out["RISK-REGISTER"] = P if risks else F
    # -- RISK-FINANCIAL
    if risks:
        out["RISK-FINANCIAL"] = P if any(r.get("category") == "financial" for r in risks) else F
    else:
        out["RISK-FINANCIAL"] = NA
    # -- RISK-CLINICAL
    if risks:
        out["RISK-CLINICAL"] = P if any(r.get("category") == "clinical" for r in risks) else F
    else:
        out["RISK-CLINICAL"] = NA
    # -- RISK-DESCRIBED
    if risks:
        out["RISK-DESCRIBED"] = P if all(filled(r.get("description")) and filled(r.get("category"))
                                         for r in risks) else F
    else:
        out["RISK-DESCRIBED"] = NA
    # -- RISK-RATED
    if risks:
        out["RISK-RATED"] = P if all("likelihood" in r and "impact" in r for r in risks) else F
    else:
        out["RISK-RATED"] = NA
    # -- RISK-SCORE
    scored = [r for r in risks if "score" in r and "likelihood" in r and "impact" in r]
    if scored:
        out["RISK-SCORE"] = P if all(r["score"] == r["likelihood"] * r["impact"] for r in scored) else F
    else:
        out["RISK-SCORE"] = NA
    # -- RISK-OWNER
    if risks:
        out["RISK-OWNER"] = P if all(filled(r.get("owner")) for r in risks) else F
    else:
        out["RISK-OWNER"] = NA
    # -- RISK-MITIGATION
    if risks:
        out["RISK-MITIGATION"] = P if all(filled(r.get("mitigation")) for r in risks) else F
    else:
        out["RISK-MITIGATION"] = NA
    # -- RISK-EXTREME-CONTINGENCY
    extreme = [r for r in risks if "likelihood" in r and "impact" in r
               and r["likelihood"] * r["impact"] >= params["extreme_risk_score"]]
    if extreme:
        out["RISK-EXTREME-CONTINGENCY"] = P if all(filled(r.get("contingency")) for r in extreme) else F
    else:
        out["RISK-EXTREME-CONTINGENCY"] = NA
    # -- RISK-SHARING
    out["RISK-SHARING"] = P if filled(governance.get("risk_sharing")) else F
    # -- RISK-EXIT-STRATEGY
    out["RISK-EXIT-STRATEGY"] = P if filled(governance.get("exit_strategy")) else F
    # -- RISK-POOL-POPULATION
    if any("list_size" in p for p in practices):
        sharing = governance.get("risk_sharing")
        ok = (sum(p.get("list_size", 0) for p in practices) >= params["risk_pool_min_population"]
              or (filled(sharing) and "pct" in lower(sharing) and "pool" in lower(sharing)))
        out["RISK-POOL-POPULATION"] = P if ok else F
    else:
        out["RISK-POOL-POPULATION"] = NA

    # ---------------------------------------------------------------- governance
    # -- GOV-CLINICAL-LEAD
    out["GOV-CLINICAL-LEAD"] = P if filled(lead.get("name")) and filled(lead.get("role")) else F
    # -- GOV-ACCOUNTABLE-OFFICER
    out["GOV-ACCOUNTABLE-OFFICER"] = P if filled(governance.get("accountable_officer")) else F
    # -- GOV-APPROVAL-ROUTE
    out["GOV-APPROVAL-ROUTE"] = P if filled(governance.get("approval_route")) else F
    # -- GOV-APPROVAL-ACCOUNTABLE-TO-PCT
    route = governance.get("approval_route")
    if filled(route):
        route = lower(route)
        out["GOV-APPROVAL-ACCOUNTABLE-TO-PCT"] = P if "pct" in route or "primary care trust" in route else F
    else:
        out["GOV-APPROVAL-ACCOUNTABLE-TO-PCT"] = NA
    # -- GOV-KPIS
    out["GOV-KPIS"] = P if kpis else F
    # -- GOV-KPI-BASELINE-TARGET
    if kpis:
        out["GOV-KPI-BASELINE-TARGET"] = P if all(k.get("baseline") is not None and k.get("target") is not None
                                                  for k in kpis) else F
    else:
        out["GOV-KPI-BASELINE-TARGET"] = NA
    # -- GOV-KPI-FREQUENCY
    if kpis:
        out["GOV-KPI-FREQUENCY"] = P if all(filled(k.get("frequency")) for k in kpis) else F
    else:
        out["GOV-KPI-FREQUENCY"] = NA
    # -- GOV-REVIEW-DATE
    out["GOV-REVIEW-DATE"] = P if filled(monitoring.get("review_date")) else F
    # -- GOV-REVIEW-AFTER-START
    review = monitoring.get("review_date")
    if filled(review) and start_filled:
        out["GOV-REVIEW-AFTER-START"] = P if date(review) > date(start) else F
    else:
        out["GOV-REVIEW-AFTER-START"] = NA
    # -- GOV-EVALUATION-PLAN
    out["GOV-EVALUATION-PLAN"] = P if filled(monitoring.get("evaluation_plan")) else F
    # -- GOV-PROCUREMENT-ROUTE
    out["GOV-PROCUREMENT-ROUTE"] = P if filled(procurement.get("route")) and "contract_value" in procurement else F
    # -- GOV-PROCUREMENT-SFI
    if filled(procurement.get("route")) and procurement.get("contract_value", 0) > params["sfi_tender_threshold"]:
        ok = (procurement["route"] in ("competitive_tender", "any_qualified_provider")
              or filled(procurement.get("justification")))
        out["GOV-PROCUREMENT-SFI"] = P if ok else F
    else:
        out["GOV-PROCUREMENT-SFI"] = NA
    # -- GOV-PROCUREMENT-EU
    if procurement.get("contract_value", 0) >= params["eu_services_threshold"]:
        ok = (procurement.get("route") == "competitive_tender"
              or "regulations" in lower(procurement.get("justification", "")))
        out["GOV-PROCUREMENT-EU"] = P if ok else F
    else:
        out["GOV-PROCUREMENT-EU"] = NA
    # -- GOV-CLINICAL-GOVERNANCE
    clinical = governance.get("clinical_governance") or EMPTY
    out["GOV-CLINICAL-GOVERNANCE"] = P if filled(clinical.get("arrangements")) else F
    # -- GOV-PATIENT-INVOLVEMENT
    out["GOV-PATIENT-INVOLVEMENT"] = P if filled(governance.get("patient_involvement")) else F
    # -- GOV-EQUALITY-IMPACT
    out["GOV-EQUALITY-IMPACT"] = P if governance.get("equality_impact_assessment") else F
    # -- GOV-LOCAL-PRIORITIES
    out["GOV-LOCAL-PRIORITIES"] = P if strategic_fit.get("local_priorities") else F
    # -- GOV-EVIDENCE-BASE
    out["GOV-EVIDENCE-BASE"] = P if strategic_fit.get("evidence") else F
    # -- GOV-PRACTICES-LISTED
    out["GOV-PRACTICES-LISTED"] = P if practices and all(filled(p.get("ods_code")) and "list_size" in p
                                                         for p in practices) else F

    # ---------------------------------------------------------------- conflicts of interest
    # -- COI-PROVIDER-STATED
    out["COI-PROVIDER-STATED"] = P if (filled(provider.get("name")) and filled(provider.get("type"))
                                       and "provider_includes_commissioners" in coi) else F
    # -- COI-DECLARATIONS-PRESENT
    out["COI-DECLARATIONS-PRESENT"] = (P if declarations else F) if conflicted else NA
    # -- COI-DECLARATIONS-CURRENT
    if start_filled and conflicted and declarations:
        begins, window = date(start), params["declaration_window_days"]
        ok = True
        for d in declarations:
            declared = d.get("declared_on")
            if not filled(declared) or not 0 < (begins - date(declared)).days <= window:
                ok = False
                break
        out["COI-DECLARATIONS-CURRENT"] = P if ok else F
    else:
        out["COI-DECLARATIONS-CURRENT"] = NA
    # -- COI-DECLARATIONS-BEFORE-START
    dated = [d["declared_on"] for d in declarations if filled(d.get("declared_on"))] if start_filled else ()
    if dated:
        begins = date(start)
        out["COI-DECLARATIONS-BEFORE-START"] = P if all(date(day) < begins for day in dated) else F
    else:
        out["COI-DECLARATIONS-BEFORE-START"] = NA
    # -- COI-LEAD-CLINICIAN-DECLARED
    if filled(lead.get("name")):
        name = norm(lead["name"])
        out["COI-LEAD-CLINICIAN-DECLARED"] = P if any(norm(d.get("person", "")) == name for d in declarations) else F
    else:
        out["COI-LEAD-CLINICIAN-DECLARED"] = NA
    # -- COI-INDEPENDENT-SCRUTINY
    out["COI-INDEPENDENT-SCRUTINY"] = (P if filled(scrutiny.get("by")) else F) if conflicted else NA
    # -- COI-CONFLICTED-EXCLUDED
    if scrutiny and conflicted:
        out["COI-CONFLICTED-EXCLUDED"] = P if scrutiny.get("conflicted_members_excluded") else F
    else:
        out["COI-CONFLICTED-EXCLUDED"] = NA
    # -- COI-SCRUTINY-BEFORE-START
    if filled(scrutiny.get("date")) and start_filled:
        out["COI-SCRUTINY-BEFORE-START"] = P if date(scrutiny["date"]) < date(start) else F
    else:
        out["COI-SCRUTINY-BEFORE-START"] = NA
    # -- COI-ALTERNATIVES
    out["COI-ALTERNATIVES"] = (P if coi.get("alternatives_considered") else F) if conflicted else NA
    # -- COI-OPEN-TO-ALL
    out["COI-OPEN-TO-ALL"] = (P if coi.get("open_to_all_patients") else F) if conflicted else NA
    # -- COI-PRICE-BENCHMARK
    if conflicted:
        out["COI-PRICE-BENCHMARK"] = P if "reference_price" in benchmark and "proposed_price" in benchmark else F
    else:
        out["COI-PRICE-BENCHMARK"] = NA
    # -- COI-FAIR-PRICE
    if "reference_price" in benchmark and "proposed_price" in benchmark and conflicted:
        out["COI-FAIR-PRICE"] = P if benchmark["proposed_price"] <= benchmark["reference_price"] else F
    else:
        out["COI-FAIR-PRICE"] = NA
    # -- COI-ACCOUNTABLE-OFFICER-INDEPENDENT
    officer = governance.get("accountable_officer")
    if filled(officer) and conflicted:
        officer = norm(officer)
        ok = officer != norm(lead.get("name", "")) and not any(
            norm(d.get("person", "")) == officer and norm(d.get("interest", "")) not in NOT_AN_INTEREST
            for d in declarations)
        out["COI-ACCOUNTABLE-OFFICER-INDEPENDENT"] = P if ok else F
    else:
        out["COI-ACCOUNTABLE-OFFICER-INDEPENDENT"] = NA
    return out


# --- subsets ------------------------------------------------------------------------------

_MARK = re.compile(r"^    # -- ([A-Z0-9-]+)\s*$")
_ASSIGN = re.compile(r"^    ([a-z_]+) = ")
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def _blocks() -> tuple[list[str], dict[str, list[str]], list[str]]:
    """The function's source split into its prelude, each rule's block and its tail."""
    lines = textwrap.dedent(inspect.getsource(statuses)).splitlines()
    prelude: list[str] = []
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    tail: list[str] = []
    for line in lines[1:]:  # skip the def line
        mark = _MARK.match(line)
        if mark:
            current = blocks.setdefault(mark.group(1), [])
            continue
        if line.strip().startswith("return out"):
            tail.append(line)
            current = None
            continue
        if line.strip().startswith("# ----"):
            continue
        (prelude if current is None and not blocks else current if current is not None else tail).append(line)
    return prelude, blocks, tail


RULE_IDS: tuple[str, ...] = tuple(_blocks()[1])


def subset(rule_ids: Iterable[str]) -> Callable[[dict, dict], dict[str, str]]:
    """`statuses` restricted to `rule_ids`: their blocks, and only the prelude lines they need."""
    wanted = list(rule_ids)
    prelude, blocks, tail = _blocks()
    unknown = [r for r in wanted if r not in blocks]
    if unknown:
        raise KeyError(f"no hand-written block for {', '.join(unknown)}")
    body = [line for rule_id in RULE_IDS if rule_id in wanted for line in blocks[rule_id]]
    used = set(_WORD.findall("\n".join(body + tail)))
    kept: list[str] = []
    for line in reversed(prelude):
        assigned = _ASSIGN.match(line)
        if assigned is None or assigned.group(1) in used:
            kept.append(line)
            used |= set(_WORD.findall(line))
    kept.reverse()
    source = "\n".join(["def statuses_subset(doc, params):", *kept, *body, *tail, ""])
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<hand-written subset of {len(wanted)} rules>", "exec"), globals(), namespace)  # noqa: S102
    function = namespace["statuses_subset"]
    function.source = source
    return function
