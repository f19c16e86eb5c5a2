"""The compiled loader (bcapi.document.fastload) agrees with marshmallow, value for value.

The service loads every request body through it, so a difference would mean a document stored
in a form marshmallow would not give, or (worse) a document marshmallow refuses being accepted.
Documents are drawn from the published JSON Schema and then damaged at a random place.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import marshmallow
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from bcapi.document import loads
from bcapi.document.fastload import NotCompilable, Unsure, _accepts, compile_loader
from bcapi.document.fields import Pattern, no_nul
from bcapi.document.schema import BusinessCaseDocument

from .factories import sample

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "business-case.v1.schema.json").read_text())
DOCUMENT = BusinessCaseDocument()
FAST = compile_loader(DOCUMENT)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12)
    | st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**7, max_value=10**7),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)


def _marshmallow(document):
    """What marshmallow itself says: (True, result) or (False, its error messages)."""
    try:
        return True, marshmallow.Schema.load(DOCUMENT, document)
    except marshmallow.ValidationError as exc:
        return False, exc.messages


def _fast(document):
    try:
        return True, FAST(document)
    except Unsure:
        return False, None


def _places(value, path=()):
    """Every (path, container) in a JSON value, for picking somewhere to damage."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, path + (index,))


@st.composite
def damaged(draw, documents):
    document = loads(json.dumps(draw(documents)))
    places = list(_places(document))[1:]
    if not places:
        return document
    path = draw(st.sampled_from(places))
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    how = draw(st.sampled_from(["replace", "delete", "add"]))
    if how == "replace":
        parent[path[-1]] = draw(json_values)
    elif how == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    return document


def _same(a, b) -> bool:
    """Equal values of equal types, all the way down (Decimal('1') is not 1 here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    return a == b


def test_the_business_case_schema_is_compiled():
    assert DOCUMENT._fast_loader() is not None


@pytest.mark.parametrize("name", ["copd-community-service", "dermatology-gpwsi", "msk-triage"])
def test_samples_load_the_same_both_ways(name):
    document = sample(name)
    ok, expected = _marshmallow(document)
    assert ok
    assert _same(FAST(document), expected)
    assert _same(DOCUMENT.load(document), expected)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(damaged(from_schema(SCHEMA)))
def test_compiled_loader_never_accepts_what_marshmallow_refuses(document):
    fast_ok, fast_value = _fast(document)
    ok, expected = _marshmallow(document)
    if fast_ok:
        assert ok, f"the fast path accepted a document marshmallow refuses: {expected}"
        assert _same(fast_value, expected)
    # Whatever the fast path said, the schema's own load answers exactly as marshmallow does.
    try:
        value = DOCUMENT.load(document)
    except marshmallow.ValidationError as exc:
        assert not ok and exc.messages == expected
    else:
        assert ok and _same(value, expected)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(from_schema(SCHEMA))
def test_valid_documents_take_the_fast_path(document):
    document = loads(json.dumps(document))
    ok, expected = _marshmallow(document)
    if ok:  # the JSON Schema cannot say everything the code checks (cross-field rules)
        assert _same(FAST(document), expected)


def test_schemas_with_hooks_are_left_to_marshmallow():
    class Hooked(marshmallow.Schema):
        name = marshmallow.fields.String()

        @marshmallow.post_load
        def shout(self, data, **kwargs):
            return {"name": data["name"].upper()}

    with pytest.raises(NotCompilable):
        compile_loader(Hooked())


def _passes(validators, value) -> bool:
    try:
        for validator in validators:
            validator(value)
    except marshmallow.ValidationError:
        return False
    return True


@pytest.mark.parametrize("validators, values", [
    ((marshmallow.validate.Length(min=2, max=4),), ["", "a", "ab", "abcd", "abcde"]),
    ((marshmallow.validate.Length(equal=3),), ["ab", "abc", "abcd"]),
    ((marshmallow.validate.Length(max=3), no_nul), ["abc", "abcd", "a\x00", "\x00bcd", ""]),
    ((Pattern(r"[A-Z]{3}"),), ["EAS", "EAS\n", "eas", "EASX", ""]),
    ((marshmallow.validate.OneOf(["low", "high"]),), ["low", "high", "LOW", "", "medium"]),
    ((marshmallow.validate.Equal("yes"),), ["yes", "no", "yes "]),
    ((marshmallow.validate.Length(min=1), marshmallow.validate.OneOf(["a", "bb"]), no_nul), ["", "a", "bb", "c"]),
])
def test_known_validators_become_one_expression_with_the_same_verdicts(validators, values):
    """The compiled check is right at every boundary (the random documents rarely reach them)."""
    accepts = _accepts(validators, strings=True)
    assert accepts is not None
    assert [accepts(v) for v in values] == [_passes(validators, v) for v in values]


def test_validators_it_does_not_know_are_called_as_they_are():
    lists = (marshmallow.validate.Length(min=1, max=2),)
    assert [_accepts(lists, strings=False)(v) for v in ([], [1], [1, 2], [1, 2, 3])] == [False, True, True, False]
    assert _accepts((marshmallow.validate.Email(),), strings=True) is None
    assert _accepts((no_nul,), strings=False) is None  # on a list, `"\x00" in v` would mean another thing
    assert _accepts((marshmallow.validate.OneOf([1, 2]),), strings=True) is None
