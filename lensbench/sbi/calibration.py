"""Histogram calibration of an estimated likelihood ratio (Brehmer+19 sec. 3.3).

For a parameter point theta, r_cal(x|theta) = p_hat(r_hat | theta) / p_hat_ref(r_hat): the
densities of the network output r_hat(x|theta) over images drawn at theta and over images
drawn from the reference, estimated with one-dimensional histograms (50 bins, edges at
quantiles of the pooled outputs: "bin boundaries determined automatically").

The images at theta are either

- simulated at the grid points (the paper), and pooled across points by multiple importance
  sampling: an image drawn at theta_k with latent population z enters the histogram of theta_g
  with the weight p(z|theta_g) / ((1/G) sum_k p(z|theta_k)) (the balance heuristic, Veach &
  Guibas 1995; exact for a sample drawn in equal numbers at the G points, since only the
  population's part of p(x, z|theta) depends on theta); an image counts fully at its own point
  when the populations at neighbouring points are distinguishable, and is shared when they are
  not, so each point's histogram is worth more images than were simulated there; or
- the reference sample itself, reweighted by the joint likelihood ratio w_i = r(x_i, z_i|theta):
  since p(x, z|theta) = r(x, z|theta) p_ref(x, z), the weighted reference is a sample of p(x|theta)
  (cheaper, but a population of hundreds of subhalos makes the joint ratio so sharp that a few
  images carry all the weight).

Either way the effective sample size (sum w)^2 / sum w^2 says how many images a point's
histogram is worth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from lensbench.sbi.normalized_calibration import NormalizedCalibration

PSEUDO_COUNT = 0.5
"""Counts added to every bin of both histograms (in units of one unweighted image), so an empty
bin gives a finite calibrated ratio."""


@dataclass(frozen=True)
class HistogramCalibration:
    """Calibration tables of G parameter points.

    Attributes
    ----------
    edges : numpy.ndarray
        (G, B + 1) bin edges in ln r_hat; the outer edges are -inf and +inf.
    log_ratio : numpy.ndarray
        (G, B) calibrated ln r in each bin: ln p_hat(bin|theta) - ln p_hat_ref(bin).
    effective_size : numpy.ndarray
        (G,) effective sample size of the numerator sample (its size when unweighted).
    """

    edges: np.ndarray
    log_ratio: np.ndarray
    effective_size: np.ndarray

    def apply(self, log_r_hat: np.ndarray) -> np.ndarray:
        """Calibrated ln r of network outputs ``log_r_hat`` (N, G) at the G points: (N, G)."""
        log_r_hat = np.asarray(log_r_hat, dtype=np.float64)
        out = np.empty_like(log_r_hat)
        for g in range(self.edges.shape[0]):  # one searchsorted per parameter point, vectorised over images
            index = np.clip(np.searchsorted(self.edges[g], log_r_hat[:, g], side="right") - 1,
                            0, self.log_ratio.shape[1] - 1)
            out[:, g] = self.log_ratio[g, index]
        return out

    def to_arrays(self) -> dict:
        """The arrays :func:`load_calibration` reads back."""
        return {"method": np.array("histogram"), "edges": self.edges, "log_ratio": self.log_ratio,
                "effective_size": self.effective_size}

    @property
    def point_count(self) -> int:
        """Grid points G the tables are for."""
        return self.edges.shape[0]


def effective_sample_size(weights: np.ndarray) -> np.ndarray:
    """(sum w)^2 / sum w^2 along the first axis."""
    weights = np.asarray(weights, dtype=np.float64)
    return weights.sum(axis=0) ** 2 / np.maximum((weights**2).sum(axis=0), np.finfo(float).tiny)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Quantiles at ``levels`` of the distribution putting weight ``weights`` on ``values``."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    positions = np.searchsorted(cumulative, levels * cumulative[-1], side="left")
    return values[order][np.clip(positions, 0, len(values) - 1)]


def _one_point(numerator, weights, reference, bins: int) -> np.ndarray:
    # edges at quantiles of an equal mixture of the two samples (the numerator's weights scaled
    # to the reference's count), so both histograms fill the bins evenly
    pooled = np.concatenate([numerator, reference])
    pooled_weights = np.concatenate([weights * len(reference) / max(weights.sum(), np.finfo(float).tiny),
                                     np.ones(len(reference))])
    inner = np.unique(_weighted_quantiles(pooled, pooled_weights, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    edges = np.concatenate([edges, np.full(bins + 1 - len(edges), np.inf)])  # repeated quantiles: empty bins
    num, _ = np.histogram(numerator, bins=edges[: len(inner) + 2], weights=weights)
    ref, _ = np.histogram(reference, bins=edges[: len(inner) + 2])
    num = np.concatenate([num, np.zeros(bins - len(num))])
    ref = np.concatenate([ref, np.zeros(bins - len(ref))]).astype(np.float64)
    pseudo_num = PSEUDO_COUNT * weights.sum() / max(len(numerator), 1)
    log_num = np.log(num + pseudo_num) - np.log(weights.sum() + bins * pseudo_num)
    log_ref = np.log(ref + PSEUDO_COUNT) - np.log(ref.sum() + bins * PSEUDO_COUNT)
    return edges, log_num - log_ref


def calibrate(numerator: np.ndarray, reference: np.ndarray, numerator_weights: np.ndarray | None = None,
              bins: int = 50) -> HistogramCalibration:
    """Histogram calibration at G points (Brehmer+19 sec. 3.3, 50 adaptive bins).

    Parameters
    ----------
    numerator : numpy.ndarray
        (N, G) ln r_hat(x_i|theta_g) of images drawn at theta_g (or of the reference sample,
        with ``numerator_weights``).
    reference : numpy.ndarray
        (M, G) ln r_hat(x_j|theta_g) of images drawn from the reference p_ref.
    numerator_weights : numpy.ndarray or None
        (N, G) weights of the numerator images: the mixture weights of :func:`mixture_weights`
        when the images were simulated at the grid points, the joint ratio r(x_i, z_i|theta_g)
        when the numerator is the reweighted reference; None: 1.
    bins : int
        Histogram bins (edges at quantiles of the pooled ln r_hat).
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    weights = np.ones_like(numerator) if numerator_weights is None else np.asarray(numerator_weights, dtype=np.float64)
    if numerator.shape != weights.shape or numerator.shape[1] != reference.shape[1]:
        raise ValueError(f"shapes do not match: numerator {numerator.shape}, weights {weights.shape}, "
                         f"reference {reference.shape}")
    edges = np.empty((numerator.shape[1], bins + 1))
    log_ratio = np.empty((numerator.shape[1], bins))
    for g in range(numerator.shape[1]):  # one histogram pair per parameter point
        edges[g], log_ratio[g] = _one_point(numerator[:, g], weights[:, g], reference[:, g], bins)
    return HistogramCalibration(edges, log_ratio, effective_sample_size(weights))


def reweighting_weights(log_joint_ratio: np.ndarray) -> np.ndarray:
    """Weights r(x_i, z_i|theta_g) = exp(ln r) (N, G), scaled per point by its largest value
    (the histograms are normalised, so a common factor per column changes nothing)."""
    log_joint_ratio = np.asarray(log_joint_ratio, dtype=np.float64)
    return np.exp(log_joint_ratio - log_joint_ratio.max(axis=0, keepdims=True))


def mixture_weights(log_prob: np.ndarray) -> np.ndarray:
    """Balance-heuristic weights p(z_i|theta_g) / ((1/G) sum_k p(z_i|theta_k)) (N, G) of images
    drawn in equal numbers at the G points, from their ln p(z_i|theta_g) (N, G) (any per-image
    constant cancels: the reference density may be subtracted or not)."""
    log_prob = np.asarray(log_prob, dtype=np.float64)
    top = log_prob.max(axis=1, keepdims=True)
    log_mixture = top + np.log(np.exp(log_prob - top).mean(axis=1, keepdims=True))
    return np.exp(log_prob - log_mixture)


def load_calibration(path) -> "HistogramCalibration | NormalizedCalibration":
    """The calibration saved in ``path`` (a ``calibration.npz``): histogram tables, or the
    temperature-scaled, self-normalised one (:mod:`lensbench.sbi.normalized_calibration`). Both
    have ``apply``, ``point_count`` and ``effective_size``. KeyError / ValueError / OSError when
    the file is not one."""
    from lensbench.sbi.normalized_calibration import NormalizedCalibration

    with np.load(path) as data:
        method = str(data["method"]) if "method" in data.files else "histogram"
        if method == "normalized":
            return NormalizedCalibration(float(data["temperature"]), data["offsets"], data["effective_size"])
        if method != "histogram":
            raise ValueError(f"unknown calibration method {method!r}")
        return HistogramCalibration(data["edges"], data["log_ratio"], data["effective_size"])
