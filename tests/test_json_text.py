"""JSON out is exact: what bcapi writes reads back as the same value, digit for digit."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bcapi.document import dumps, loads


@pytest.mark.parametrize("number", ["1.50", "0.035", "-0.00", "1E+3", "123456789012345678901234567.89"])
def test_decimals_are_written_as_they_were_read(number):
    assert dumps({"n": Decimal(number)}) == '{"n":' + number + "}"
    assert str(loads(dumps({"n": Decimal(number)}))["n"]) == number


def test_integers_beyond_64_bits_are_written_whole():
    assert dumps([2**64, -(2**70)]) == f"[{2**64},{-(2**70)}]"


def test_text_is_written_as_utf8_not_escaped():
    assert dumps({"name": "Ōtautahi — £1,000"}) == '{"name":"Ōtautahi — £1,000"}'


def test_values_json_does_not_have_are_refused_not_guessed():
    with pytest.raises(TypeError):
        dumps({"at": dt.datetime(2026, 11, 24)})


def test_options_are_honoured():
    assert dumps({"b": 1, "a": Decimal("2.0")}, sort_keys=True, separators=(",", ":")) == '{"a":2.0,"b":1}'
