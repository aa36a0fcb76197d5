"""One canonical JSON form and one hash of it, for cache keys and spec hashes.

:func:`to_jsonable` turns configuration objects (dataclasses, priors, numpy values, paths, enums)
into plain JSON types; :func:`canonical_json` writes them with sorted keys and no whitespace, so
equal content gives equal text whatever order a spec wrote its tables in; :func:`sha256_of` is
the hex digest of that text. The same object hashes the same on every machine and Python run.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from lensbench.simulate.priors import Prior


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON types: dataclasses and priors as dicts, tuples as lists.

    Priors become ``{"prior": <their spec table>}``; dataclasses ``{field: value}`` in field
    order; dict keys strings (in their order: :func:`canonical_json` sorts them); enums their
    value; paths, TOML dates and times their ``str``; numpy scalars and arrays ``tolist()``.
    """
    if isinstance(obj, Prior):
        return {"prior": obj.to_spec()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, (Path, datetime.date, datetime.time)):  # datetime.datetime is a date
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    return obj


def finite_or_none(value) -> float | None:
    """``value`` as a float for JSON; None where it is undefined (NaN, infinite or None)."""
    return None if value is None or not math.isfinite(value) else float(value)


def canonical_json(obj: Any) -> str:
    """``obj`` (through :func:`to_jsonable`) as compact JSON with sorted keys; NaN and infinities
    are written as JavaScript's ``NaN``/``Infinity``, as Python's json module does."""
    return json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=True)


def sha256_of(obj: Any) -> str:
    """sha256 hex digest (64 lower-case hex digits) of :func:`canonical_json` of ``obj``."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()
