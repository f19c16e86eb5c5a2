"""The business-case document, schema_version "1" (CONTRACT §1).

The schema rejects what is malformed; the rules judge what is missing or weak. So only the
identity (`schema_version`, `title`, `consortium`) is required; every other field is optional
but, when present, must have the right type and range. Unknown fields are rejected at every
level so that typos are caught.
"""
from __future__ import annotations

from decimal import Decimal

from marshmallow import RAISE, Schema, fields, validate

from .fastload import FastLoadMixin
from .fields import (Boolean, Choice, Integer, IsoDate, Money, Number, Pattern, Text, TextList,
                     UnstatedTotalsFit)

SETTINGS = ("acute", "community", "primary_care", "other")
POINTS_OF_DELIVERY = ("emergency_admission", "elective_admission", "outpatient_first",
                      "outpatient_follow_up", "a_and_e", "other")
OPTION_TYPES = ("do_nothing", "alternative", "preferred")
FUNDING_SOURCES = ("pbc_indicative_budget", "freed_up_resources", "pct_development_fund",
                   "pct_recurrent", "other")
RISK_CATEGORIES = ("financial", "clinical", "operational", "governance", "reputational")
KPI_FREQUENCIES = ("monthly", "quarterly", "annually")
PROCUREMENT_ROUTES = ("competitive_tender", "any_qualified_provider", "single_tender_waiver",
                      "contract_variation", "in_house")
PROVIDER_TYPES = ("practice", "gp_provider_organisation", "nhs_trust", "independent_sector",
                  "voluntary_sector", "social_enterprise")

LONG_TEXT = 10_000
MAX_ITEMS = 500


def Items(schema: type[Schema], *validators, **kwargs) -> fields.List:
    return fields.List(fields.Nested(schema), validate=[validate.Length(max=MAX_ITEMS), *validators], **kwargs)


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Organisation(Strict):
    name = Text(200, min_length=1)


class Consortium(Organisation):
    code = fields.String(required=True, validate=Pattern(
        r"^[A-Z0-9-]{2,16}$", error="2-16 characters of A-Z, 0-9 and '-'."))
    name = Text(200, min_length=1, required=True)


class Pct(Organisation):
    code = fields.String(validate=Pattern(
        r"^[A-Z0-9]{3}$", error="3 characters of A-Z and 0-9 (ODS code, e.g. 5ND)."))


class Practice(Strict):
    ods_code = fields.String(validate=Pattern(
        r"^[A-Z][0-9]{5}$", error="A letter and 5 digits (ODS code, e.g. A83005)."))
    name = Text(200)
    list_size = Integer(min=0, max=10_000_000)


class LeadClinician(Strict):
    name = Text(200)
    role = Text(200)
    email = fields.Email()


class StrategicFit(Strict):
    objectives = TextList()
    local_priorities = TextList()
    expected_outcomes = TextList()
    evidence = TextList()
    patients_affected = Integer(min=0, max=100_000_000)


class Period(Strict):
    start = IsoDate()
    years = Integer(min=1, max=10)


class BaselineActivity(Strict):
    description = Text()
    setting = Choice(*SETTINGS)
    point_of_delivery = Choice(*POINTS_OF_DELIVERY)
    annual_volume = Number(min=0, max=100_000_000)
    unit_cost = Money()
    source = Text()


class Baseline(Strict):
    activity = Items(BaselineActivity)
    annual_cost = Money()


class ActivityShift(Strict):
    activity = Text()
    from_setting = Choice(*SETTINGS)
    to_setting = Choice(*SETTINGS)
    point_of_delivery = Choice(*POINTS_OF_DELIVERY)
    annual_volume = Number(min=0, max=100_000_000)
    unit_cost = Money()


class Option(Strict):
    type = Choice(*OPTION_TYPES)
    description = Text()
    total_cost = Money()
    total_benefit = Money()
    rejected_reason = Text()


class Investment(Strict):
    year = Integer(min=1, max=10)
    one_off = Money()
    recurring = Money()
    description = Text()
    funding_source = Choice(*FUNDING_SOURCES, metadata={
        "description": "Where this line's money comes from, when it differs from finance.funding_source"})


class Saving(Strict):
    year = Integer(min=1, max=10)
    amount = Money()
    basis = Text()


class Sensitivity(Strict):
    scenario = Text()
    savings_change_pct = Number(min=-100, max=1000)
    net_benefit = Money(negative=True)


class FreedUpResources(Strict):
    expected = Money()
    practice_share_pct = Number(min=0, max=100)
    planned_use = Text()


class MarginalRateExemption(Strict):
    """Why avoided emergency admissions save the full tariff, not the 30% marginal rate."""
    reason = Text()
    evidence = Text()


class NetCostJustification(Strict):
    """For a case that costs more than it saves: who meets the net cost and why it is worth it."""
    borne_by = Text(500)
    reason = Text()


class Finance(Strict):
    investment = Items(Investment, metadata={
        "description": "Without total_investment, one_off + recurring over all lines may add up to at most "
                       "999999999999.99"})
    total_investment = Money()
    savings = Items(Saving, metadata={
        "description": "Without total_savings, amount over all lines may add up to at most 999999999999.99"})
    total_savings = Money()
    funding_source = Choice(*FUNDING_SOURCES)
    recurrent_funding_confirmed = Boolean()
    payback_years = Number(min=0, max=1000, allow_none=True)
    discount_rate = Number(min=0, max=Decimal("0.2"))
    sensitivity = Items(Sensitivity)
    assumptions = TextList()
    freed_up_resources = fields.Nested(FreedUpResources, allow_none=True)
    marginal_rate_exemption = fields.Nested(MarginalRateExemption, allow_none=True, metadata={
        "description": "Why the 30% marginal rate for emergency admissions from 2010/11 does not apply "
                       "(for example admissions held below the 2008/09 baseline), and the evidence"})
    net_cost_justification = fields.Nested(NetCostJustification, allow_none=True, metadata={
        "description": "For a case that does not break even over its period: who bears the net cost "
                       "and the quality or strategic reason it is worth it"})


class Risk(Strict):
    id = Text(64)
    description = Text()
    category = Choice(*RISK_CATEGORIES)
    likelihood = Integer(min=1, max=5)
    impact = Integer(min=1, max=5)
    score = Integer(min=1, max=25)
    mitigation = Text()
    owner = Text(200)
    contingency = Text()


class SignOff(Strict):
    required = Boolean()
    obtained = Boolean()
    date = IsoDate()


class Kpi(Strict):
    name = Text(500)
    baseline = Number(allow_none=True, min=-10**12, max=10**12)
    target = Number(allow_none=True, min=-10**12, max=10**12)
    unit = Text(100)
    frequency = Choice(*KPI_FREQUENCIES)


class Monitoring(Strict):
    kpis = Items(Kpi)
    review_date = IsoDate()
    evaluation_plan = Text(LONG_TEXT)


class Procurement(Strict):
    route = Choice(*PROCUREMENT_ROUTES)
    justification = Text(LONG_TEXT)
    contract_value = Money()


class ClinicalGovernance(Strict):
    lead = Text(200)
    arrangements = Text(LONG_TEXT)


class Governance(Strict):
    accountable_officer = Text(200)
    approval_route = Text()
    pct_sign_off = fields.Nested(SignOff)
    monitoring = fields.Nested(Monitoring)
    procurement = fields.Nested(Procurement)
    clinical_governance = fields.Nested(ClinicalGovernance)
    patient_involvement = Text(LONG_TEXT)
    equality_impact_assessment = Boolean()
    exit_strategy = Text(LONG_TEXT)
    risk_sharing = Text(LONG_TEXT)


class Provider(Strict):
    name = Text(200)
    type = Choice(*PROVIDER_TYPES)


class Declaration(Strict):
    person = Text(200)
    role = Text(200)
    interest = Text()
    declared_on = IsoDate()


class IndependentScrutiny(Strict):
    by = Text(200)
    date = IsoDate()
    conflicted_members_excluded = Boolean()


class PriceBenchmark(Strict):
    reference_price = Money()
    proposed_price = Money()
    basis = Text()


class ConflictsOfInterest(Strict):
    provider = fields.Nested(Provider)
    provider_includes_commissioners = Boolean()
    declarations = Items(Declaration)
    independent_scrutiny = fields.Nested(IndependentScrutiny, allow_none=True)
    alternatives_considered = TextList()
    open_to_all_patients = Boolean()
    price_benchmark = fields.Nested(PriceBenchmark, allow_none=True)


class BusinessCaseDocument(FastLoadMixin, Strict):
    """A business case as a commissioner writes it (CONTRACT §1)."""

    # FastLoadMixin: a valid document is loaded by compiled checks (bcapi.document.fastload),
    # giving exactly marshmallow's result; anything else is loaded by marshmallow itself, so
    # error messages and pointers are marshmallow's own.

    schema_version = fields.String(required=True, validate=validate.Equal("1"))
    title = Text(200, min_length=3, required=True)
    consortium = fields.Nested(Consortium, required=True)
    reference = Text(64)
    service_area = Text(80)
    summary = Text(LONG_TEXT)
    pct = fields.Nested(Pct)
    practices = Items(Practice)
    lead_clinician = fields.Nested(LeadClinician)
    strategic_fit = fields.Nested(StrategicFit)
    period = fields.Nested(Period)
    baseline = fields.Nested(Baseline)
    activity_shift = Items(ActivityShift)
    options = Items(Option)
    finance = fields.Nested(Finance, validate=UnstatedTotalsFit(
        total_investment=("investment", ("one_off", "recurring")), total_savings=("savings", ("amount",))))
    risks = Items(Risk)
    governance = fields.Nested(Governance)
    conflicts_of_interest = fields.Nested(ConflictsOfInterest)
