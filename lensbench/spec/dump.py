"""Write spec tables back as TOML (for ``spec.resolved.toml``).

Only what specs contain is supported: tables, strings, booleans, integers, floats and arrays of
those (arrays of tables are written inline).

:func:`resolved_surveys` writes what each branch observed with (a named survey's pixel scale,
PSF, exposure and noise) as TOML comments below the spec: the spec itself, and so its hash and
what rerunning ``spec.resolved.toml`` gives, stay exactly what the user wrote, and a grid whose
branches use different surveys is shown branch by branch, which one ``[survey]`` table cannot.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re

_BARE = re.compile(r"^[A-Za-z0-9_\-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def toml_value(value) -> str:
    """``value`` as an inline TOML value (arrays and tables inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if value is None:
        raise ValueError("TOML has no null value")
    return json.dumps(str(value))


def _float(value: float) -> str:
    """Shortest text of a finite float that reads back exactly; 1e+08 rather than 100000000.0."""
    text = repr(value)
    if "e" not in text and abs(value) >= 1e6:
        mantissa, exponent = f"{value:.15e}".split("e")
        short = f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
        text = short if float(short) == value else text
    return text


def _is_table(value) -> bool:
    return isinstance(value, dict) and not _is_prior_like(value)


def _is_prior_like(value: dict) -> bool:
    return "dist" in value or not value


def dumps(data: dict, header: str = "") -> str:
    """TOML text for ``data`` (a nested dict); ``header`` becomes leading comment lines."""
    lines = [f"# {line}" for line in header.splitlines()]

    def emit(table: dict, path: list[str]):
        scalars = {k: v for k, v in table.items() if not _is_table(v)}
        tables = {k: v for k, v in table.items() if _is_table(v)}
        if path and (scalars or not tables):
            lines.append("")
            lines.append("[" + ".".join(_key(p) for p in path) + "]")
        for key, value in scalars.items():
            if value is not None:
                lines.append(f"{_key(key)} = {toml_value(value)}")
        for key, value in tables.items():
            emit(value, path + [key])

    emit(data, [])
    return "\n".join(lines).lstrip("\n") + "\n"


def resolved_surveys(specs) -> str:
    """Comment lines giving the resolved ``[survey]`` of every branch of ``specs`` (validated
    :class:`~lensbench.spec.schema.Spec` objects), branches with the same survey together.

    Each block is commented TOML, ready to paste into a spec: every key of the kind's survey
    dataclass with the value simulated (a named scenario's, with the spec's overrides applied);
    keys left unset (None) are named on an ``unset:`` line.
    """
    groups: dict[tuple, list[str]] = {}
    for spec in specs:
        values = tuple((f.name, getattr(spec.survey, f.name)) for f in dataclasses.fields(spec.survey))
        groups.setdefault((spec.survey_scenario, values), []).append(spec.branch_name)
    lines = ["", "# Resolved [survey] of each branch: the values simulated, named scenarios expanded.",
             "# (Comments: not part of the spec above nor of its sha256.)"]
    for (scenario, values), names in groups.items():
        named = f", scenario {json.dumps(scenario)}" if scenario else ""
        lines += ["#", f"# branch{'es' if len(names) > 1 else ''} {', '.join(names)}{named}:", "# [survey]"]
        lines += [f"# {_key(k)} = {toml_value(v)}" for k, v in values if v is not None]
        unset = [k for k, v in values if v is None]
        if unset:
            lines.append(f"# unset: {', '.join(unset)}")
    return "\n".join(lines) + "\n"
