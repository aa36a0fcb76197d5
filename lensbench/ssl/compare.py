"""Seed-to-seed statistics of a self-supervised row against its supervised baseline.

The paper reports one number per row (Deshmukh+23 Tables 1-2) and differences of 0.001-0.01;
here every quantity is a mean over training seeds with its sample standard deviation, and the
SSL - supervised difference of the means is called resolved only when it exceeds
:data:`RESOLVING_SIGMAS` times its standard error sqrt(s_ssl^2 / n_ssl + s_sup^2 / n_sup).
"""

from __future__ import annotations

import math

import numpy as np

RESOLVING_SIGMAS = 2.0
"""A difference is 'beyond the seed spread' when |difference| > this many standard errors."""


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof 1; None for fewer than two values)."""
    x = np.asarray(values, dtype=np.float64)
    return float(x.mean()), (float(x.std(ddof=1)) if x.size > 1 else None)


def difference(ssl_values, supervised_values) -> dict:
    """``difference`` (mean SSL - mean supervised), its standard ``error`` (None with fewer than two
    seeds on either side) and ``resolved`` (True, False, or None when the error is unknown)."""
    a, b = np.asarray(ssl_values, float), np.asarray(supervised_values, float)
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return {"difference": diff, "error": None, "resolved": None}
    error = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return {"difference": diff, "error": error, "resolved": bool(abs(diff) > RESOLVING_SIGMAS * error)}


def verdict(comparison: dict) -> str:
    """Words for a :func:`difference`: which side wins and whether beyond the seed spread."""
    if comparison["resolved"] is None:
        return "not resolved (one seed: no spread)"
    if not comparison["resolved"]:
        return "not resolved (within the seed spread)"
    side = "SSL better" if comparison["difference"] > 0 else "supervised better"
    return f"{side}, beyond the seed spread"
