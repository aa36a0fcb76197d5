"""How well fits recover the true parameters: errors and bias against SNR, interval coverage.

Errors are relative, ``(estimate - truth) / truth``, for parameters that are positive by nature
(Einstein radius, slope, amplitude, Sersic radius and index, a neural source's flux and size) and absolute, ``estimate - truth``
(in the parameter's unit), for those scattered about zero (ellipticities, shear, positions).
"""

from __future__ import annotations

import numpy as np

RELATIVE = ("lens_theta_E", "lens_gamma", "source_amp", "source_R_sersic", "source_n_sersic", "source_flux",
            "source_scale")
"""Parameters whose error is quoted relative to the truth."""


def is_relative(name: str) -> bool:
    """Whether ``name``'s error is relative (else absolute)."""
    return name in RELATIVE


def errors(truth: np.ndarray, estimate: np.ndarray, names) -> np.ndarray:
    """Signed errors (N, P): relative for :data:`RELATIVE` parameters, absolute otherwise."""
    diff = estimate - truth
    relative = np.array([is_relative(n) for n in names])
    return np.where(relative, diff / np.where(relative, truth, 1.0), diff)


def by_snr(snr: np.ndarray, err: np.ndarray) -> dict[float, dict[str, np.ndarray]]:
    """Per SNR: ``median_abs`` (median |error|, per parameter), ``bias`` (mean error) and ``n``."""
    out = {}
    for level in np.unique(snr):
        rows = err[snr == level]
        out[float(level)] = {"median_abs": np.median(np.abs(rows), axis=0), "bias": rows.mean(axis=0),
                             "n": np.array(len(rows))}
    return out


def coverage(samples: np.ndarray, truth: np.ndarray, level: float) -> np.ndarray:
    """Fraction of images whose central ``level`` interval contains the truth, per parameter.

    Parameters
    ----------
    samples : numpy.ndarray
        ``(K, D, P)`` posterior draws of K images.
    truth : numpy.ndarray
        ``(K, P)`` true values.
    level : float
        Interval probability (0.68, 0.95).
    """
    low, high = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return ((truth >= low) & (truth <= high)).mean(axis=0)
