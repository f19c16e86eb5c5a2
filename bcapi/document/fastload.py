"""A fast path for loading a valid document with a marshmallow schema, same result guaranteed.

`Schema.load` of a ~10 KB business case costs milliseconds: marshmallow walks every field
through several layers of generic machinery (error stores, getters, `And` validators built per
value). Almost every body a service sees is valid, so `compile_loader` turns a schema into
plain nested closures that do the same checks with the schema's own field objects and
validators, and build the same output (the same dicts, keys in the schema's field order). At the
first thing they are not sure of, they stop (`Unsure`) and the caller lets marshmallow load the
document itself: so the answer for an invalid document, its error messages and their pointers,
is always marshmallow's own, and a valid document gives exactly what marshmallow would return.

What it compiles: `Nested` (one object), `List`, `String` and `Email` inline; any other field
through its own `_deserialize` and validators, which is all that `Field.deserialize` does once
missing values and nulls are dealt with, as they are here. A field's validators become one
expression when each is one it knows (`Length`, `OneOf` and `Equal` on strings, and this
package's `Pattern` and `no_nul`); otherwise each is called in turn. A schema with hooks (pre/post load,
`validates`, `validates_schema`), field-level pre/post load functions, load defaults, dotted
attributes or any `unknown` other than RAISE is not compiled at all (marshmallow loads it).
"""
from __future__ import annotations

from typing import Any, Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate
from marshmallow.utils import missing

from .fields import Pattern, no_nul

Loader = Callable[..., Any]


class Unsure(Exception):
    """The fast path cannot vouch for this value; let marshmallow decide."""


class NotCompilable(Exception):
    """The schema uses something the fast path does not reproduce exactly."""


def _check_schema(schema: Schema) -> None:
    if any(schema._hooks.values()):
        raise NotCompilable(f"{type(schema).__name__} has hooks")
    if schema.many or schema.partial or schema.unknown != RAISE:
        raise NotCompilable(f"{type(schema).__name__}: many, partial or unknown != RAISE")


def _validated(output: Any, validators: tuple) -> Any:
    """`output` if every validator accepts it; Unsure (marshmallow decides) otherwise."""
    try:
        for validator in validators:
            validator(output)
    except ValidationError:
        raise Unsure from None
    return output


def _accepts(validators: tuple, strings: bool) -> Callable[[Any], bool] | None:
    """One function true exactly where every validator would pass `v` (a str if `strings`, else
    a list), built as a single expression; None if a validator is not one of those it knows."""
    terms: list[str] = []
    names: dict[str, Any] = {}
    for i, validator in enumerate(validators):
        kind = type(validator)
        if kind is validate.Length:  # Length.__call__: equal, then min, then max, on len(v)
            terms += [f"len(v) {op} {bound!r}" for op, bound in (
                ("==", validator.equal), (">=", validator.min), ("<=", validator.max))
                if type(bound) is int]
            if any(bound is not None and type(bound) is not int
                   for bound in (validator.equal, validator.min, validator.max)):
                return None
        elif validator is no_nul and strings:
            terms.append("'\\x00' not in v")
        elif kind is Pattern and strings:
            names[f"match{i}"] = validator.regex.fullmatch
            terms.append(f"match{i}(v) is not None")
        elif kind is validate.OneOf and strings and all(type(c) is str for c in validator.choices):
            names[f"choices{i}"] = frozenset(validator.choices)  # a str is in the list iff in the set
            terms.append(f"v in choices{i}")
        elif kind is validate.Equal and strings and type(validator.comparable) is str:
            names[f"equal{i}"] = validator.comparable
            terms.append(f"v == equal{i}")
        else:
            return None
    return eval(f"lambda v: {' and '.join(terms) or 'True'}", {"__builtins__": {"len": len}, **names})


def _field_loader(field: fields.Field, name: str | None) -> Callable[[Any, Any], Any]:
    """fn(value, data) -> output for a value that is present (not missing), as
    `field.deserialize(value, name, data)` would give it; raises Unsure where that would fail.
    One closure per field, checks inline: this runs for every value of every document."""
    if getattr(field, "pre_load", None) or getattr(field, "post_load", None):
        raise NotCompilable(f"{name}: field-level pre/post load functions")
    allow_none = field.allow_none
    validators = tuple(field.validators)
    kind = type(field)

    if kind is fields.Nested:
        if field.many or field.unknown not in (None, RAISE) or field.only or field.exclude:
            raise NotCompilable(f"{name}: Nested with many, unknown, only or exclude")
        inner = compile_loader(field.schema)
        if not validators and not allow_none:
            return inner  # it refuses None (not a dict) itself

        def load_nested(value, data):
            if value is None:
                if allow_none:
                    return None
                raise Unsure
            return _validated(inner(value, data), validators)
        return load_nested

    if kind is fields.List:
        item = _field_loader(field.inner, None)  # List passes neither attr nor data to its items
        accepts = _accepts(validators, strings=False)

        def load_list(value, data):
            if type(value) is not list:
                if value is None and allow_none:
                    return None
                raise Unsure
            output = [item(each, None) for each in value]
            if accepts is None:
                return _validated(output, validators)
            if accepts(output):
                return output
            raise Unsure
        return load_list

    if kind in (fields.String, fields.Email):  # String._deserialize: a str is returned as it is
        accepts = _accepts(validators, strings=True)

        def load_string(value, data):
            if type(value) is not str:
                if value is None and allow_none:
                    return None
                raise Unsure
            if accepts is None:
                return _validated(value, validators)
            if accepts(value):
                return value
            raise Unsure
        return load_string

    deserialize = field._deserialize

    def load_other(value, data):  # the field's own conversion and validators: Field.deserialize
        if value is None:
            if allow_none:
                return None
            raise Unsure
        try:
            output = deserialize(value, name, data)
        except ValidationError:
            raise Unsure from None
        return _validated(output, validators)
    return load_other


def compile_loader(schema: Schema) -> Loader:
    """A function doing `schema.load(data)` for valid data, raising `Unsure` otherwise."""
    _check_schema(schema)
    plan = []
    for attr_name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        attribute = field.attribute or attr_name
        if "." in attribute:
            raise NotCompilable(f"{attr_name}: dotted attribute")
        if field.load_default is not missing:
            raise NotCompilable(f"{attr_name}: load_default")
        plan.append((key, attribute, field.required, _field_loader(field, attr_name)))
    plan = tuple(plan)
    dict_class = schema.dict_class

    def load(data, _parent=None):
        if type(data) is not dict:
            raise Unsure
        out = dict_class()
        found = 0
        for key, attribute, required, loader in plan:
            value = data.get(key, missing)
            if value is missing:
                if required:
                    raise Unsure
                continue
            found += 1
            out[attribute] = loader(value, data)  # Schema._deserialize passes (value, key, data)
        if found != len(data):
            raise Unsure  # a key that is not a field: unknown (RAISE)
        return out

    return load


class FastLoadMixin:
    """Give a marshmallow Schema the fast path: `load` and `validate` try the compiled loader
    first (plain calls only: no many, partial or unknown given) and fall back to marshmallow."""

    def _fast_loader(self) -> Loader | None:
        loader = self.__dict__.get("_fast_loader_instance", missing)
        if loader is not missing:
            return loader
        plain = self.only is None and not self.exclude and not self.load_only and not self.dump_only
        cache = type(self).__dict__.get("_fast_loader_cache")
        if cache is None:
            cache = {}
            setattr(type(self), "_fast_loader_cache", cache)  # one per class, not inherited
        if plain and "loader" in cache:
            loader = cache["loader"]
        else:
            try:
                loader = compile_loader(self)
            except NotCompilable:
                loader = None
            if plain:
                cache["loader"] = loader
        self.__dict__["_fast_loader_instance"] = loader
        return loader

    def load(self, data, *, many=None, partial=None, unknown=None):
        if many is None and partial is None and unknown is None:
            loader = self._fast_loader()
            if loader is not None:
                try:
                    return loader(data)
                except Unsure:
                    pass
        return super().load(data, many=many, partial=partial, unknown=unknown)

    def validate(self, data, *, many=None, partial=None):
        if many is None and partial is None:
            loader = self._fast_loader()
            if loader is not None:
                try:
                    loader(data)
                    return {}
                except Unsure:
                    pass
        return super().validate(data, many=many, partial=partial)
