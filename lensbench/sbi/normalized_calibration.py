"""Temperature-scaled, self-normalised calibration of an estimated likelihood ratio (beyond the paper).

The paper's histograms (:mod:`lensbench.sbi.calibration`) need many images at every grid point:
with tens per point their noise, which does not average out over lenses, swamps a per-lens signal
of a few hundredths of a nat. This calibration has one free number instead of 50 per point:

    ln r_cal(x|theta) = b ln r_hat(x|theta) - ln (1/M) sum_j r_hat(x_j|theta)^b,

1. the offset at each point enforces what every likelihood ratio obeys, E_ref[r(x|theta)] = 1,
   with the M reference images (x_j): an estimator that is too high at some theta for every
   image, the bias that shifts limits summed over many lenses, is brought back;
2. the temperature b maximises the likelihood of a classifier (Platt 1999) whose log-odds is this
   calibrated ln r, separating the pairs (x_k, theta_k) of the reference sample, each image at the
   theta it was simulated at (draws of p(x|theta) pi(theta)), from the pairs (x_j, theta_k),
   j != k (draws of p_ref(x) pi(theta)), the two classes weighted equally: at the optimum the
   log-odds is ln r(x|theta) (Cranmer, Pavez & Louppe 2015, sec. 3), so b rescales ln r_hat to
   the evidence it carries.

It cannot invent information the network did not extract: it only rescales and re-centres it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PAIRS_IMAGES = 2000
"""Most reference images whose (image, theta) pairs fit the temperature (an M x M matrix)."""


@dataclass(frozen=True)
class NormalizedCalibration:
    """ln r_cal = b ln r_hat + offset_g at the G points of a grid.

    Attributes
    ----------
    temperature : float
        b, the factor on ln r_hat (dimensionless).
    offsets : numpy.ndarray
        (G,) -ln mean_j r_hat(x_j|theta_g)^b over the reference images (nats).
    effective_size : numpy.ndarray
        (G,) effective number of reference images in each point's normalisation,
        (sum w)^2 / sum w^2 with w = r_hat^b.
    """

    temperature: float
    offsets: np.ndarray
    effective_size: np.ndarray

    @property
    def point_count(self) -> int:
        """Grid points G the calibration applies at."""
        return len(self.offsets)

    def apply(self, log_r_hat: np.ndarray) -> np.ndarray:
        """Calibrated ln r (N, G) of network outputs ``log_r_hat`` (N, G) at the grid's points."""
        return self.temperature * np.asarray(log_r_hat, dtype=np.float64) + self.offsets[None, :]

    def to_arrays(self) -> dict:
        """The arrays :func:`lensbench.sbi.calibration.load_calibration` reads back."""
        return {"method": np.array("normalized"), "temperature": np.array(self.temperature),
                "offsets": self.offsets, "effective_size": self.effective_size}


def _offsets(scaled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """-ln mean_j exp(scaled[j, k]) per column k, and the weights exp(scaled - column max)."""
    top = scaled.max(axis=0)
    weights = np.exp(scaled - top)
    return -(top + np.log(weights.mean(axis=0))), weights


def temperature(pairs_log_r_hat: np.ndarray, largest: float = 50.0) -> float:
    """b maximising the balanced classifier likelihood of the calibrated log-odds.

    Parameters
    ----------
    pairs_log_r_hat : numpy.ndarray
        (M, M) ln r_hat(x_j|theta_k) of the reference images j at the reference thetas k: the
        diagonal holds the joint pairs, the rest the re-paired ones.
    largest : float
        Upper end of the search interval of b.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import log_expit

    pairs = np.asarray(pairs_log_r_hat, dtype=np.float64)
    m = len(pairs)
    joint = np.eye(m, dtype=bool)

    def loss(b: float) -> float:
        offsets, _ = _offsets(b * pairs)
        logits = b * pairs + offsets[None, :]
        return -(log_expit(logits[joint]).mean() + log_expit(-logits[~joint]).mean())

    return float(minimize_scalar(loss, bounds=(0.0, largest), method="bounded", options={"xatol": 1e-4}).x)


def fit(pairs_log_r_hat: np.ndarray, reference_log_r_hat: np.ndarray) -> NormalizedCalibration:
    """The calibration from the (M', M') pair matrix of :func:`temperature` and the reference
    images' ln r_hat at every grid point (M, G)."""
    b = temperature(pairs_log_r_hat)
    offsets, weights = _offsets(b * np.asarray(reference_log_r_hat, dtype=np.float64))
    effective = weights.sum(axis=0) ** 2 / (weights**2).sum(axis=0)
    return NormalizedCalibration(b, offsets, effective)
