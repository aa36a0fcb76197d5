"""What one dataclass field means, for the spec reference and the reports: meaning, unit, type,
default and allowed values, read from the dataclass itself (:func:`key_docs`).

A field's meaning is, first found: its metadata ``"help"``; its entry in the ``Parameters`` or
``Attributes`` section of the class's numpy-style docstring; the string literal written right
below the field (an attribute docstring); else :data:`UNDOCUMENTED`. Its unit is the metadata
``"unit"``, else the one known unit its meaning names in brackets, ``(arcsec)`` or ``[kpc]``.
Allowed values come from ``Literal`` types, metadata ``choices`` (a function returning a
:class:`~lensbench.registry.Registry`, called only when asked, since some import torch) and
``min``/``max``. It imports no registry itself, so any layer may use it.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import re
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

UNDOCUMENTED = "(undocumented)"
"""The meaning shown for a key nobody documented (a test keeps shipped sections free of it)."""

KNOWN_UNITS = frozenset({
    "arcsec", "deg", "rad", "s", "pixels", "Msun", "kpc", "Mpc", "km/s", "km/s/Mpc", "eV", "muas", "muas/yr",
    "muas/yr^2", "mag/arcsec^2", "electrons", "counts/s", "counts/s/arcsec^2",
})
"""Bracketed words in a meaning that are read as the key's unit."""


@dataclass(frozen=True)
class KeyDoc:
    """One key of a section, as the reference shows it.

    Attributes
    ----------
    key : str
        Dotted within its section (``lr``, ``paper.citation``, ``classes.<name>.kind``).
    type : str
        Readable type (``number``, ``array of string``, ``table``).
    default : str
        Default as TOML, ``unset`` (may be omitted) or ``required``.
    allowed : str
        Allowed values (``one of: adam, adamw, sgd``, ``>= 1``), or empty.
    unit : str
        Physical unit, or empty.
    meaning : str
        One line; :data:`UNDOCUMENTED` when nobody documented the key.
    """

    key: str
    type: str
    default: str
    allowed: str = ""
    unit: str = ""
    meaning: str = UNDOCUMENTED


# ------------------------------------------------------------------------------ meanings
@functools.lru_cache(maxsize=None)  # once per class, not once per field
def docstring_entries(cls) -> dict[str, str]:
    """Name -> description from the ``Parameters``/``Attributes`` sections of ``cls``'s numpy-style
    docstring (``a, b : float`` entries give both names), each joined into one line."""
    lines = inspect.cleandoc(cls.__doc__ or "").splitlines()
    entries: dict[str, str] = {}
    inside, names, text = False, [], []

    def close():
        for name in names:
            entries.setdefault(name, " ".join(text))

    for i, line in enumerate(lines):
        underline = i + 1 < len(lines) and lines[i + 1].strip() and set(lines[i + 1].strip()) == {"-"}
        if underline or (line.strip() and set(line.strip()) == {"-"}):
            if underline:
                close()
                names, text = [], []
                inside = line.strip() in ("Parameters", "Attributes")
            continue
        if not inside or not line.strip():
            continue
        if not line.startswith(" "):
            close()
            names = [n.strip() for n in line.split(" : ")[0].split(",")]
            text = []
        else:
            text.append(line.strip())
    close()
    return entries


@functools.lru_cache(maxsize=None)
def attribute_docs(cls) -> dict[str, str]:
    """Name -> the string literal written right below each field of ``cls`` (attribute docstrings)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            out[node.target.id] = " ".join(after.value.value.split())
    return out


def meaning(cls, field: dataclasses.Field) -> str:
    """The one-line meaning of ``field`` of ``cls`` (see the module docstring for the order), in
    Markdown (:func:`plain_markup`)."""
    if field.metadata.get("help"):
        return plain_markup(str(field.metadata["help"]))
    for klass in cls.__mro__:
        if dataclasses.is_dataclass(klass):
            found = docstring_entries(klass).get(field.name) or attribute_docs(klass).get(field.name)
            if found:
                return plain_markup(found)
    return UNDOCUMENTED


def plain_markup(text: str) -> str:
    """reStructuredText of docstrings as Markdown: ````x```` -> ```x```, ``:data:`~a.b.C``` -> ```C```."""
    text = re.sub(r":\w+:`~[\w.]*?\.?(\w+)`", r"`\1`", text)
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def unit_of(field: dataclasses.Field, text: str) -> str:
    """Metadata ``unit``, else the single known unit named in brackets in ``text``, else empty."""
    if field.metadata.get("unit"):
        return str(field.metadata["unit"])
    found = {re.split(r"[,;]", inner)[0].strip() for inner in re.findall(r"[(\[]([^()\[\]]+)[)\]]", text)}
    units = found & KNOWN_UNITS
    return units.pop() if len(units) == 1 else ""


def summary_of(cls) -> str:
    """The first paragraph of ``cls``'s docstring in one line, without a leading ````[section]``:````."""
    text = plain_markup(" ".join(inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].split()))
    text = re.sub(r"^`\[[\w.]+\]`:\s*", "", text)
    return text[:1].upper() + text[1:]


# ------------------------------------------------------------------------ types, values
def type_label(tp) -> str:
    """A short readable type: ``number``, ``array of string``, ``table of prior``, ``string (optional)``."""
    from lensbench.simulate.priors import Prior

    origin = typing.get_origin(tp)
    if tp is Any:
        return "any"
    if origin is Literal:
        return "string" if all(isinstance(a, str) for a in typing.get_args(tp)) else "value"
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        label = " or ".join(type_label(a) for a in args)
        return f"{label} (optional)" if len(args) < len(typing.get_args(tp)) else label
    if origin in (tuple, list):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis or origin is list:
            return f"array of {type_label(args[0])}"
        return f"array of {len(args)} {type_label(args[0])}" if len(set(args)) == 1 else "array"
    if origin is dict:
        return f"table of {type_label(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp) and tp is not Prior:
        return "table"
    return {int: "integer", float: "number", str: "string", bool: "boolean", Prior: "prior"}.get(tp, str(tp))


def toml_text(value) -> str:
    """``value`` as inline TOML: priors in their spec form, dataclasses as tables, None as ``unset``."""
    from lensbench.spec.dump import toml_value

    plain = _plain(value)
    return "unset" if plain is None else toml_value(plain)


def _plain(value):
    from lensbench.simulate.priors import Prior

    if isinstance(value, Prior):
        return value.to_spec()
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if getattr(value, f.name) is not None}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def allowed_values(tp, meta) -> str:
    """``one of: ...`` from a Literal or a ``choices`` registry, and ``>= min``/``<= max`` bounds."""
    parts = []
    args = [a for a in typing.get_args(tp) if a is not type(None)] if typing.get_origin(tp) is not Literal else [tp]
    for arg in args:
        if typing.get_origin(arg) is Literal:
            parts.append("one of: " + ", ".join(str(a) for a in typing.get_args(arg)))
    if "choices" in meta:
        each = "each " if typing.get_origin(tp) in (tuple, list) else ""
        parts.append(f"{each}one of: " + ", ".join(meta["choices"]().names()))
    if "min" in meta:
        parts.append(f">= {meta['min']}")
    if "max" in meta:
        parts.append(f"<= {meta['max']}")
    return "; ".join(parts)


def _default(field: dataclasses.Field, parent_default):
    if parent_default is not None:
        return getattr(parent_default, field.name)
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING


def key_docs(cls, prefix: str = "", default=None) -> list[KeyDoc]:
    """A :class:`KeyDoc` for every field of dataclass ``cls``, nested dataclasses expanded.

    ``default`` is an instance whose values are the defaults (a nested table whose parent sets
    its own default, ``regression = PopulationConfig(kind="vortex")``).
    """
    from lensbench.simulate.priors import Prior

    hints = typing.get_type_hints(cls)
    docs = []
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        tp, value = hints[field.name], _default(field, default)
        text = meaning(cls, field)
        nested = tp if dataclasses.is_dataclass(tp) and tp is not Prior else None
        item = typing.get_args(tp)[1] if typing.get_origin(tp) is dict else None
        item = item if dataclasses.is_dataclass(item) and item is not Prior else None
        if value is dataclasses.MISSING:
            shown = "required"
        elif nested is not None:
            shown = "(keys below)"
        elif item is not None:  # each entry as what differs from the entry type's defaults
            shown = toml_text({name: _changed(entry) for name, entry in value.items()})
        else:
            shown = toml_text(value)
        docs.append(KeyDoc(prefix + field.name, type_label(tp), shown, allowed_values(tp, field.metadata),
                           unit_of(field, text), text))
        if nested is not None:
            docs += key_docs(nested, f"{prefix}{field.name}.", value if dataclasses.is_dataclass(value) else None)
        elif item is not None:
            docs += key_docs(item, f"{prefix}{field.name}.<name>.")
    return docs


def _changed(instance) -> dict:
    """The fields of dataclass ``instance`` that differ from its class's defaults (all of them for a
    class without defaults)."""
    try:
        base = type(instance)()
    except TypeError:
        return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)
            if getattr(instance, f.name) != getattr(base, f.name)}
