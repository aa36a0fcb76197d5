"""Quantities as a person reads them: ``1.5 GB``, ``12 min`` (for plan estimates and the cache)."""

from __future__ import annotations


def human_bytes(n: float) -> str:
    """``1.5 GB`` style (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def human_seconds(s: float) -> str:
    """``45 s``, ``12 min``, ``3.2 h`` or ``4.0 days``."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
