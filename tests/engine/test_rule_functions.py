"""The functions the reference ruleset added to the expression language for dates as people
count them, real answers rather than placeholders, and matching a moved activity to its own
baseline line (docs/rules.md, "Built-in and added functions")."""
from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from bcapi.engine.cel import CelEvalError, compile_expression


def ev(source: str, **values):
    compiled = compile_expression(source, {name: None for name in values})
    return compiled(values)


# --- dates ------------------------------------------------------------------------------------

def test_a_period_of_three_years_from_1_october_2008_ends_on_30_september_2011():
    assert ev("period_end(date('2008-10-01'), 3)") == datetime.date(2011, 9, 30)
    # 2008 and 2012 are leap years: 365 x years would stop a day or two short.
    assert ev("period_end(date('2008-04-01'), 5)") == datetime.date(2013, 3, 31)
    assert ev("period_end(date('2009-04-01'), 1)") == datetime.date(2010, 3, 31)


def test_add_years_keeps_the_day_and_makes_29_february_the_28th_in_a_common_year():
    assert ev("add_years(date('2009-04-01'), 2)") == datetime.date(2011, 4, 1)
    assert ev("add_years(date('2008-02-29'), 1)") == datetime.date(2009, 2, 28)
    assert ev("add_years(date('2008-02-29'), 4)") == datetime.date(2012, 2, 29)
    assert ev("add_years(date('2010-01-15'), -1)") == datetime.date(2009, 1, 15)


def test_add_days_counts_either_way():
    assert ev("add_days(date('2011-10-01'), -1)") == datetime.date(2011, 9, 30)
    assert ev("add_days(date('2008-02-28'), 2)") == datetime.date(2008, 3, 1)


def test_share_from_is_the_share_of_a_periods_year_on_or_after_a_date():
    # Year 1 of a period from 1 October 2009 runs to 30 September 2010: 183 of its 365 days
    # are on or after 1 April 2010.
    assert ev("share_from(date('2009-10-01'), 1, date('2010-04-01'))") == Decimal(183) / Decimal(365)
    assert ev("share_from(date('2009-10-01'), 2, date('2010-04-01'))") == 1
    assert ev("share_from(date('2009-04-01'), 1, date('2010-04-01'))") == 0
    assert ev("share_from(date('2010-04-01'), 1, date('2010-04-01'))") == 1


@pytest.mark.parametrize("source, words", [
    ("add_years('2009-04-01', 1)", r"add_years\(\) needs a date"),
    ("add_years(date('2009-04-01'), 1.5)", "whole number of years"),
    ("add_days(date('2009-04-01'), 'x')", "whole number of days, not str"),
    ("period_end(date('9999-01-01'), 5)", "out of range"),
    ("share_from(date('2009-04-01'), 1, '2010-04-01')", r"share_from\(\) needs a date"),
])
def test_date_functions_explain_a_wrong_argument(source, words):
    with pytest.raises(CelEvalError, match=words):
        ev(source)


# --- real answers -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["TBC", " tba ", "TBD", "N/A", "n/a.", "none", "None.", "NIL", "Unknown",
                                  "-", " -- ", "—", "To be confirmed", "to be confirmed.", "(TBC)", "?", "",
                                  "   ", "Not known", "To be agreed", "T.B.C.", "t b c", "ＴＢＣ", "\u200b",
                                  "TBC\u200b", "N / A"])
def test_a_placeholder_is_not_a_named_person_body_or_action(text):
    assert ev("named(x)", x=text) is False


@pytest.mark.parametrize("text", ["Dr S. Patel", "PbC finance lead", "Monthly tracking against plan",
                                  "Nonesuch Medical Group", "TBC pending the board: Practice manager",
                                  "N/A ward", "PCT PbC committee"])
def test_real_answers_are_named(text):
    assert ev("named(x)", x=text) is True


def test_named_of_a_list_needs_one_real_item_and_null_is_not_named():
    assert ev("named(x)", x=["TBC", "-"]) is False
    assert ev("named(x)", x=["TBC", "Breathe Easy group"]) is True
    assert ev("named(x)", x=[]) is False
    assert ev("named(x)", x=None) is False
    assert ev("named(x)", x=3) is True


# --- baseline lines -----------------------------------------------------------------------------

BASELINE = [
    {"description": "Heart failure emergency admissions", "point_of_delivery": "emergency_admission",
     "annual_volume": 140, "unit_cost": 2840},
    {"description": "COPD exacerbation admissions", "point_of_delivery": "emergency_admission",
     "annual_volume": 260, "unit_cost": 1420},
    {"description": "Respiratory outpatient follow-ups", "point_of_delivery": "outpatient_follow_up",
     "annual_volume": 900, "unit_cost": 96},
]


def line(**fields):
    return ev("baseline_line(s, b)", s=fields, b=BASELINE)


def test_an_avoided_admission_is_matched_to_its_own_line_by_its_words_not_the_dearest():
    assert line(activity="COPD admissions avoided", point_of_delivery="emergency_admission",
                unit_cost=667) is BASELINE[1]
    assert line(activity="Heart failure admissions avoided", point_of_delivery="emergency_admission",
                unit_cost=852) is BASELINE[0]


def test_a_word_after_non_counts_against_nothing():
    falls = [{"description": "Hip fracture emergency admissions, over-65s", "point_of_delivery": "emergency_admission",
              "unit_cost": 5800},
             {"description": "Other fall-related emergency admissions, over-65s", "point_of_delivery": "emergency_admission",
              "unit_cost": 1400}]
    shift = {"activity": "Non-fracture fall-related emergency admissions avoided", "point_of_delivery": "emergency_admission",
             "unit_cost": 658}
    assert ev("baseline_line(s, b)", s=shift, b=falls) is falls[1]


def test_the_only_line_of_a_point_of_delivery_is_its_match_whatever_the_words():
    assert line(activity="Follow-ups moved to the community", point_of_delivery="outpatient_follow_up") is BASELINE[2]


def test_lines_the_words_cannot_tell_apart_are_told_by_an_equal_unit_cost_or_not_at_all():
    assert line(activity="Emergency admissions avoided", point_of_delivery="emergency_admission",
                unit_cost=1420) is BASELINE[1]
    assert line(activity="Emergency admissions avoided", point_of_delivery="emergency_admission",
                unit_cost=426) is None


def test_a_shift_without_a_point_of_delivery_is_matched_among_all_lines_and_absent_input_gives_null():
    assert line(activity="Respiratory follow-ups in community clinics") is BASELINE[2]
    assert ev("baseline_line(s, b)", s=None, b=BASELINE) is None
    assert ev("baseline_line(s, b)", s={"activity": "x"}, b=None) is None
    assert ev("get(baseline_line(s, b).unit_cost, 0)", s={"point_of_delivery": "a_and_e"}, b=BASELINE) == 0
    with pytest.raises(CelEvalError, match="needs an activity-shift line"):
        ev("baseline_line(s, b)", s="COPD", b=BASELINE)


# --- names ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name, expected", [
    ("GP, medical director of Heart of Birmingham GP Services Ltd",
     "Heart of Birmingham GP Services Ltd (owned by the five consortium practices)", True),
    ("Ladywood and Perry Barr PbC Consortium board", "Ladywood and Perry Barr PbC Consortium", True),
    ("GP; medical director of Bassetlaw Primary Care Ltd", "Bassetlaw Primary Care Ltd", True),
    ("Bassetlaw PCT PbC sub-committee (non-executive chair)", "Bassetlaw Commissioning Organisation", False),
    ("Partner at Perry Barr Medical Centre", "Perry Barr", True),
    ("Superintendent", "Superintend", False),  # whole words only
    ("anything", "Ltd", False),
    ("anything", "", False),
])
def test_mentions_finds_a_name_in_text_whatever_its_case_punctuation_brackets_or_company_suffix(text, name, expected):
    assert ev("mentions(t, n)", t=text, n=name) is expected


def test_mentions_of_null_is_false_and_of_a_number_an_error():
    assert ev("mentions(t, n)", t=None, n="PCT") is False
    with pytest.raises(CelEvalError, match="works on strings"):
        ev("mentions(t, n)", t=3, n="PCT")


# --- the marginal rate ------------------------------------------------------------------------------

def test_own_tariff_is_the_matched_lines_unit_cost_else_the_lowest():
    emergency = [line for line in BASELINE if line["point_of_delivery"] == "emergency_admission"]
    assert ev("own_tariff(s, b)", s={"activity": "COPD admissions avoided", "point_of_delivery": "emergency_admission"},
              b=emergency) == 1420
    assert ev("own_tariff(s, b)", s={"activity": "Admissions avoided", "point_of_delivery": "emergency_admission"},
              b=emergency) == 1420  # cannot be told: the lower tariff, never the dearer
    assert ev("own_tariff(s, b)", s={"activity": "x"}, b=[]) is None


def overstated(savings, shifts, start="2009-04-01"):
    baseline = [{"description": "COPD admissions", "point_of_delivery": "emergency_admission", "unit_cost": 100}]
    return ev("marginal_overstatement(s, a, b, date(d), date('2010-04-01'), 30)", s=savings, a=shifts, b=baseline, d=start)


def test_marginal_overstatement_is_the_share_of_each_years_savings_that_rests_on_full_tariff():
    shifts = [{"activity": "COPD admissions avoided", "point_of_delivery": "emergency_admission",
               "annual_volume": 10, "unit_cost": 100},
              {"activity": "Follow-ups moved", "point_of_delivery": "outpatient_follow_up", "annual_volume": 10, "unit_cost": 100}]
    # Overstated 10 x (£100 - 30% of £100) = £700 of the £2,000 a year moved: 35%. Year 1
    # (2009/10) ends before April 2010; year 2 is wholly after it.
    assert overstated([{"year": 1, "amount": 100}, {"year": 2, "amount": 200}], shifts) == 70
    # From 1 October 2009, 183 of year 1's 365 days (1 April to 30 September 2010) fall after the cut: 183 x 35%.
    assert overstated([{"year": 1, "amount": 365}], shifts, start="2009-10-01") == Decimal("64.05")


def test_marginal_overstatement_is_nothing_at_the_marginal_rate_and_reads_an_emergency_line_without_its_point_of_delivery():
    at_marginal = [{"activity": "COPD admissions avoided", "point_of_delivery": "emergency_admission",
                    "annual_volume": 10, "unit_cost": 30}]
    assert overstated([{"year": 2, "amount": 300}], at_marginal) == 0
    unmarked = [{"activity": "Non-elective COPD admissions avoided", "annual_volume": 10, "unit_cost": 100}]
    assert overstated([{"year": 2, "amount": 1000}], unmarked) == 700
    with pytest.raises(CelEvalError, match="needs the savings lines as a list"):
        overstated(None, unmarked)


def test_word_count_counts_what_a_reader_sees():
    assert ev("word_count(x)", x="SUS trend 2006-2009; PCT agreement") == 6
    assert ev("word_count(x)", x="baseline") == 1
    assert ev("word_count(x)", x="\u200b \u200b") == 0
    assert ev("word_count(null)") == 0
