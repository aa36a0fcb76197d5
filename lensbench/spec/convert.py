"""Turn TOML tables into frozen dataclasses, collecting every problem with its position.

One converter serves every section: it reads a dataclass's fields and type hints and checks
each value against them. Supported field types: ``bool``, ``int``, ``float``, ``str``,
``Literal[...]``, ``tuple[T, ...]``, ``tuple[A, B]``, ``dict[str, T]``,
:class:`~lensbench.simulate.priors.Prior`, nested dataclasses, ``X | None`` and ``Any``
(free-form, used for option tables checked elsewhere). Field metadata may hold ``min``,
``max`` (inclusive bounds; for a prior, bounds its support, the parameter's physical range) and
``choices`` (a callable returning a :class:`~lensbench.registry.Registry`); a ``dict`` field may
declare ``keys`` (a callable returning the allowed names, each unknown one reported at its own
line, ``what`` naming them in messages) and ``ranges`` (name -> (min, max) of its values).
``__post_init__`` may raise ``ValueError`` for checks across fields (a message ``"field: ..."``
is reported at that field's line). Every number must be finite: TOML's ``nan`` and ``inf`` are
refused everywhere, free-form tables included.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal, Union

from lensbench.errors import SpecIssue
from lensbench.simulate.priors import Prior
from lensbench.spec.load import RawSpec

_MISSING = dataclasses.MISSING


def type_name(tp) -> str:
    """A short readable name of a type hint, for messages."""
    origin = typing.get_origin(tp)
    if tp is float:
        return "a number"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if tp is bool:
        return "true or false"
    if tp is Prior:
        return "a prior (a number or a table with 'dist')"
    if origin in (tuple, list):
        return "an array"
    if origin is dict or (dataclasses.is_dataclass(tp)):
        return "a table"
    if origin is Literal:
        return "one of: " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(tp) if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _describe(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


class Converter:
    """Convert tables of a :class:`RawSpec` and record :class:`SpecIssue` objects.

    Parameters
    ----------
    raw : RawSpec
        Supplies each key's file and line.
    """

    def __init__(self, raw: RawSpec):
        self.raw = raw
        self.issues: list[SpecIssue] = []

    def error(self, key: str, message: str) -> None:
        """Record a problem at dotted ``key``."""
        origin = self.raw.origin(key)
        self.issues.append(SpecIssue(origin.file, origin.line, key, message))

    # ----------------------------------------------------------------------------- values
    def value(self, tp, value, key: str, meta=None):
        """Convert ``value`` to type ``tp``; returns ``_MISSING`` after recording an error."""
        meta = meta or {}
        origin = typing.get_origin(tp)
        if tp is Any:
            bad = _non_finite(value)
            if bad is not None:
                self.error(key, f"{bad} must be a finite number")
                return _MISSING
            return value
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                return self.value(args[0], value, key, meta)
            for arg in args:  # first type that accepts the value without errors
                trial = Converter(self.raw)
                out = trial.value(arg, value, key, meta)
                if out is not _MISSING and not trial.issues:
                    return out
            self.error(key, f"expected {type_name(tp)}, got {_describe(value)}")
            return _MISSING
        if origin is Literal:
            allowed = typing.get_args(tp)
            if value not in allowed:
                close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.error(key, f"unknown value {value!r}; one of: {', '.join(str(a) for a in allowed)}{hint}")
                return _MISSING
            return value
        if tp is Prior:
            try:
                prior = Prior.from_spec(value)
            except ValueError as err:
                self.error(key, f"bad prior: {err}")
                return _MISSING
            problem = _outside_range(prior, meta)
            if problem:
                self.error(key, problem)
                return _MISSING
            return prior
        if dataclasses.is_dataclass(tp):
            if not isinstance(value, dict):
                self.error(key, f"expected a table, got {_describe(value)}")
                return _MISSING
            return self.dataclass(tp, value, key)
        if origin is dict:
            if not isinstance(value, dict):
                self.error(key, f"expected a table, got {_describe(value)}")
                return _MISSING
            _, vtype = typing.get_args(tp)
            known = meta["keys"]() if "keys" in meta else None
            ranges = meta.get("ranges", {})
            out = {}
            for name, item in value.items():
                if known is not None and name not in known:
                    close = difflib.get_close_matches(name, list(known), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else f"; one of: {', '.join(known)}"
                    self.error(f"{key}.{name}", f"unknown {meta.get('what', 'key')} '{name}'{hint}")
                    out[name] = _MISSING
                    continue
                bounds = ranges.get(name)
                out[name] = self.value(vtype, item, f"{key}.{name}", {"min": bounds[0], "max": bounds[1]} if bounds else {})
            return _MISSING if any(v is _MISSING for v in out.values()) else out
        if origin in (tuple, list):
            if not isinstance(value, list):
                self.error(key, f"expected an array, got {_describe(value)}")
                return _MISSING
            args = typing.get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis or origin is list:
                item_types = [args[0]] * len(value)
            else:
                if len(value) != len(args):
                    self.error(key, f"expected an array of {len(args)} values, got {len(value)}")
                    return _MISSING
                item_types = list(args)
            items = [self.value(t, v, f"{key}[{i}]", {}) for i, (t, v) in enumerate(zip(item_types, value))]
            if any(item is _MISSING for item in items):
                return _MISSING
            return tuple(items)
        if tp is bool:
            if not isinstance(value, bool):
                self.error(key, f"expected true or false, got {_describe(value)}")
                return _MISSING
            return value
        if tp in (int, float):
            ok = isinstance(value, int) and not isinstance(value, bool)
            if tp is float:
                ok = ok or isinstance(value, float)
            elif isinstance(value, float) and value.is_integer():
                ok, value = True, int(value)
            if not ok:
                self.error(key, f"expected {type_name(tp)}, got {_describe(value)}")
                return _MISSING
            value = tp(value)
            if tp is float and not math.isfinite(value):
                self.error(key, f"must be a finite number, got {value}")
                return _MISSING
            if "min" in meta and value < meta["min"]:
                self.error(key, f"must be >= {meta['min']}, got {value}")
                return _MISSING
            if "max" in meta and value > meta["max"]:
                self.error(key, f"must be <= {meta['max']}, got {value}")
                return _MISSING
            return value
        if tp is str:
            if not isinstance(value, str):
                self.error(key, f"expected a string, got {_describe(value)}")
                return _MISSING
            if "choices" in meta:
                registry = meta["choices"]()
                if value not in registry:
                    self.error(key, registry.unknown_message(value))
                    return _MISSING
            return value
        raise TypeError(f"lensbench: unsupported field type {tp!r} at {key}")  # a programming error

    # ------------------------------------------------------------------------ dataclasses
    def dataclass(self, cls, table: dict, key: str):
        """Build dataclass ``cls`` from ``table`` (at dotted ``key``); ``_MISSING`` on error."""
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        prefix = f"{key}." if key else ""
        kwargs, failed = {}, False
        for name in table:
            if name not in fields:
                close = difflib.get_close_matches(name, list(fields), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f"; allowed keys: {', '.join(fields)}"
                self.error(f"{prefix}{name}", f"unknown key '{name}'{hint}")
                failed = True
        for name, fld in fields.items():
            if name in table:
                converted = self.value(hints[name], table[name], f"{prefix}{name}", fld.metadata)
                if converted is _MISSING:
                    failed = True
                else:
                    kwargs[name] = converted
            elif fld.default is _MISSING and fld.default_factory is _MISSING:
                self.error(f"{prefix}{name}", f"missing required key '{name}' ({type_name(hints[name])})")
                failed = True
        if failed:
            return _MISSING
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as err:
            message = str(err)
            named = next((n for n in fields if message.startswith(n + ": ")), None)
            if named:  # "field: message" names the field the problem is in
                self.error(f"{prefix}{named}", message[len(named) + 2:])
                return _MISSING
            target = next((n for n in fields if message.startswith(n + " ") or f"'{n}'" in message), None)
            self.error(f"{prefix}{target}" if target else key, message)
            return _MISSING


MISSING = _MISSING


def _non_finite(value, where: str = "") -> str | None:
    """The place (``"value"``, ``"dropout"``, ``"[2]"``) of the first NaN or infinity in a
    free-form value, or None; iterative, so any nesting is safe."""
    stack = [(where, value)]
    while stack:
        place, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return place or "value"
        if isinstance(item, dict):
            stack.extend((f"{place}.{k}" if place else str(k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{place}[{i}]", v) for i, v in enumerate(item))
    return None


def _outside_range(prior: Prior, meta) -> str | None:
    """Why ``prior`` can draw values outside the physical range ``meta`` declares (``min``,
    ``max``, inclusive), or None."""
    low, high = meta.get("min", -math.inf), meta.get("max", math.inf)
    support = prior.support()
    if support[0] >= low and support[1] <= high:
        return None
    allowed = f">= {low}" if high == math.inf else f"<= {high}" if low == -math.inf else f"in [{low}, {high}]"
    if prior.dist == "fixed":
        return f"must be {allowed}, got {prior.value}"
    return (f"this {prior.dist} prior can draw values in [{support[0]}, {support[1]}], but the parameter must be "
            f"{allowed}: choose a prior whose support lies there (truncate it with low/high, or use a lognormal)")
