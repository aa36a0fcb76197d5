"""Write spec tables back as TOML (for ``spec.resolved.toml``).

Only what specs contain is supported: tables, strings, booleans, integers, floats and arrays of
those (arrays of tables are written inline).
"""

from __future__ import annotations

import json
import math
import re

_BARE = re.compile(r"^[A-Za-z0-9_\-]+$")


def _key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_scalar(v)}" for k, v in value.items()) + " }"
    if value is None:
        raise ValueError("TOML has no null value")
    return json.dumps(str(value))


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
                lines.append(f"{_key(key)} = {_scalar(value)}")
        for key, value in tables.items():
            emit(value, path + [key])

    emit(data, [])
    return "\n".join(lines).lstrip("\n") + "\n"
