"""Micro-benchmark: compiled rule expressions against hand-written Python doing the same checks.

    python bench/cel_micro.py [--quick]

Prints, for each representative expression, the time of the compiled expression divided by
the time of an equivalent hand-written function over the same document (both measured in this
run, best of several repeats), then the ratio for all of them together. Only ratios are
meaningful: absolute times depend on the machine.
"""
from __future__ import annotations

import datetime
import json
import sys
import timeit
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bcapi.engine.cel import compile_expression  # noqa: E402

SCHEMA = json.loads((ROOT / "schemas" / "business-case.v1.schema.json").read_text(), parse_float=Decimal)
DOC = json.loads((ROOT / "schemas" / "examples" / "copd-community-service.json").read_text(), parse_float=Decimal)
PARAMS = {"sum_tolerance": Decimal("0.01"), "freed_up_practice_share_pct": 70, "marginal_rate_from": "2010-04-01",
          "downside_savings_pct": 50}
VARIABLES = {"doc": SCHEMA, "params": {"type": "object", "properties": {k: {} for k in PARAMS},
                                       "additionalProperties": False}}
ACTIVATION = {"doc": DOC, "params": PARAMS}


def _get(mapping, key, fallback):
    value = mapping.get(key) if type(mapping) is dict else None
    return fallback if value is None else value


def total_investment(a):
    finance = a["doc"]["finance"]
    lines = sum(_get(y, "one_off", 0) + _get(y, "recurring", 0) for y in finance["investment"])
    return abs(finance["total_investment"] - lines) <= a["params"]["sum_tolerance"]


def has_and_filled(a):
    finance = a["doc"].get("finance")
    return (type(finance) is dict and "total_investment" in finance
            and bool(finance.get("investment")))


def do_nothing_costed(a):
    return any(_get(o, "type", "") == "do_nothing" and "total_cost" in o for o in _get(a["doc"], "options", []))


def one_preferred(a):
    return len([o for o in _get(a["doc"], "options", []) if _get(o, "type", "") == "preferred"]) == 1


def practice_share(a):
    return a["doc"]["finance"]["freed_up_resources"]["practice_share_pct"] <= a["params"]["freed_up_practice_share_pct"]


def runs_past(a):
    period = a["doc"]["period"]
    start = datetime.date.fromisoformat(period["start"])
    switch = datetime.date.fromisoformat(a["params"]["marginal_rate_from"])
    return (switch - start).days < 365 * period["years"]


def downside(a):
    cut = a["params"]["downside_savings_pct"] - 100
    return any(_get(s, "savings_change_pct", 0) <= cut for s in _get(a["doc"]["finance"], "sensitivity", []))


CASES = [
    ("sum of yearly lines",
     "abs(doc.finance.total_investment - sum(doc.finance.investment.map(y, get(y.one_off, 0) + get(y.recurring, 0))))"
     " <= params.sum_tolerance", total_investment),
    ("has && filled", "has(doc.finance.total_investment) && filled(doc.finance.investment)", has_and_filled),
    ("exists over get()", 'get(doc.options, []).exists(o, get(o.type, "") == "do_nothing" && has(o.total_cost))',
     do_nothing_costed),
    ("size of filter", 'size(get(doc.options, []).filter(o, get(o.type, "") == "preferred")) == 1', one_preferred),
    ("select <= param", "doc.finance.freed_up_resources.practice_share_pct <= params.freed_up_practice_share_pct",
     practice_share),
    ("dates", "days_between(date(doc.period.start), date(params.marginal_rate_from)) < 365 * doc.period.years",
     runs_past),
    ("exists with arithmetic", "get(doc.finance.sensitivity, []).exists(s, "
     "get(s.savings_change_pct, 0) <= params.downside_savings_pct - 100)", downside),
]


def best(function, number: int, repeat: int) -> float:
    return min(timeit.repeat(lambda: function(ACTIVATION), number=number, repeat=repeat)) / number


def main() -> None:
    quick = "--quick" in sys.argv
    number, repeat = (2_000, 3) if quick else (20_000, 7)
    total_compiled = total_hand = 0.0
    print(f"{'expression':<26} ratio (compiled / hand-written)")
    for name, source, hand in CASES:
        compiled = compile_expression(source, VARIABLES)
        assert compiled(ACTIVATION) == hand(ACTIVATION), name
        t_compiled, t_hand = best(compiled, number, repeat), best(hand, number, repeat)
        total_compiled += t_compiled
        total_hand += t_hand
        print(f"{name:<26} {t_compiled / t_hand:5.2f}x")
    print(f"{'all together':<26} {total_compiled / total_hand:5.2f}x")


if __name__ == "__main__":
    main()
