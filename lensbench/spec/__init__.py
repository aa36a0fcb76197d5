"""Experiment specs: TOML in, validated frozen dataclasses out.

>>> from lensbench.spec import load_spec
>>> specs = load_spec("specs/examples/nfw_detection.toml", preset="smoke")  # one Spec per grid variant
"""

from __future__ import annotations

from lensbench.spec.load import load_raw
from lensbench.spec.schema import Spec, validate


def load_spec(path, preset: str | None = None, overrides=()) -> list[Spec]:
    """Read, merge and validate the spec at ``path``; one :class:`Spec` per grid variant.

    Raises
    ------
    lensbench.errors.SpecError
        Listing every problem as ``file:line: key: message``.
    """
    return validate(load_raw(path, preset=preset, overrides=overrides))


__all__ = ["Spec", "load_spec", "load_raw", "validate"]
