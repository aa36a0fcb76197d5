"""Inference on a (f_sub, beta) grid from per-lens log-ratio maps (Brehmer+19 sec. 3.4, 4).

Lenses are independent given theta, so ln r of a set of lenses is the sum of the per-lens maps
(sec. 3.4). The expected test statistic for n lenses at a true point (Fig. 3) is
q(theta) = -2 n (E[ln r(x|theta)] - max_theta' E[ln r(x|theta')]), the expectation a mean over
lenses simulated at the true point; 95 % CL regions keep q below the chi^2 quantile with 2
degrees of freedom (Wilks; 5.99). The posterior on the
grid is prior x prod_i r(x_i|theta), normalised (sec. 3.4, Bayes' theorem in ratios).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import RegularGridInterpolator
from scipy.stats import chi2, norm

from lensbench.sbi.population import ProposalBox


@dataclass(frozen=True)
class ParameterGrid:
    """A regular grid over the proposal box: ``f_sub`` (F,), ``beta`` (B,); points in row-major
    order with beta as the row: point g = (f_sub[g % F], beta[g // F])."""

    f_sub: np.ndarray
    beta: np.ndarray

    @classmethod
    def over(cls, box: ProposalBox, size: int = 25) -> "ParameterGrid":
        """``size`` x ``size`` points spanning the box, edges included (the paper: 25 x 25)."""
        return cls(np.linspace(box.f_sub_low, box.f_sub_high, size), np.linspace(box.beta_low, box.beta_high, size))

    @property
    def points(self) -> np.ndarray:
        """(B * F, 2) points (f_sub, beta)."""
        f, b = np.meshgrid(self.f_sub, self.beta)
        return np.stack([f.ravel(), b.ravel()], axis=1)

    def as_map(self, values: np.ndarray) -> np.ndarray:
        """(..., G) -> (..., B, F)."""
        return np.asarray(values).reshape(np.shape(values)[:-1] + (len(self.beta), len(self.f_sub)))

    def interpolate(self, value_map: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Bilinear value of a (B, F) map at points theta (K, 2)."""
        return RegularGridInterpolator((self.beta, self.f_sub), value_map)(np.asarray(theta)[:, ::-1])


def threshold(level: float, dof: int = 2) -> float:
    """The q below which a point is inside the ``level`` CL region (Wilks, chi^2 with ``dof``)."""
    return float(chi2.ppf(level, dof))


def test_statistic(total_log_ratio: np.ndarray) -> np.ndarray:
    """q = -2 (ln r - max ln r) of a summed map (..., G)."""
    return -2.0 * (total_log_ratio - np.max(total_log_ratio, axis=-1, keepdims=True))


def expected_statistic(per_lens: np.ndarray, n_lenses: int) -> np.ndarray:
    """Expected q for ``n_lenses`` lenses from per-lens maps (N, G) at one true point: -2 n (E - max E)."""
    return test_statistic(n_lenses * np.mean(per_lens, axis=0))


@dataclass(frozen=True)
class Limits:
    """A 95 % CL region and its f_sub interval at one beta.

    Attributes
    ----------
    f_sub_low, f_sub_high : float
        The interval in f_sub at ``beta_slice`` (linear interpolation of q between grid points);
        NaN when the slice has no point inside.
    region_f_sub, region_beta : tuple of float
        Extent of the 2-D region over the grid points inside it.
    at_edge : bool
        Whether the region touches the grid's edge (the interval is then cut by the box).
    """

    f_sub_low: float
    f_sub_high: float
    region_f_sub: tuple[float, float]
    region_beta: tuple[float, float]
    at_edge: bool


def limits(grid: ParameterGrid, q: np.ndarray, beta_slice: float, level: float = 0.95) -> Limits:
    """The ``level`` CL region of q (G,) (2 dof) and its f_sub interval at ``beta_slice``."""
    cut = threshold(level)
    q_map = grid.as_map(q)
    inside = q_map <= cut
    rows, cols = np.nonzero(inside)
    f_low, f_high = _slice_interval(grid, q_map, beta_slice, cut)
    edge = bool(inside[0].any() or inside[-1].any() or inside[:, 0].any() or inside[:, -1].any())
    return Limits(f_low, f_high, (float(grid.f_sub[cols].min()), float(grid.f_sub[cols].max())),
                  (float(grid.beta[rows].min()), float(grid.beta[rows].max())), edge)


def _slice_interval(grid: ParameterGrid, q_map: np.ndarray, beta_slice: float, cut: float) -> tuple[float, float]:
    """The f_sub interval around the slice's minimum where q <= cut (q linear in beta between
    rows and in f_sub between columns)."""
    j = int(np.clip(np.searchsorted(grid.beta, beta_slice) - 1, 0, len(grid.beta) - 2))
    t = (beta_slice - grid.beta[j]) / (grid.beta[j + 1] - grid.beta[j])
    row = (1.0 - t) * q_map[j] + t * q_map[j + 1]
    best = int(np.argmin(row))
    if row[best] > cut:
        return float("nan"), float("nan")
    lo = best
    while lo > 0 and row[lo - 1] <= cut:
        lo -= 1
    hi = best
    while hi < len(row) - 1 and row[hi + 1] <= cut:
        hi += 1
    f = grid.f_sub
    low = f[lo] if lo == 0 else f[lo - 1] + (cut - row[lo - 1]) / (row[lo] - row[lo - 1]) * (f[lo] - f[lo - 1])
    high = f[hi] if hi == len(row) - 1 else f[hi] + (cut - row[hi]) / (row[hi + 1] - row[hi]) * (f[hi + 1] - f[hi])
    return float(low), float(high)


def log_prior(grid: ParameterGrid, beta_mean: float = -0.9, beta_sigma: float = 0.1) -> np.ndarray:
    """ln prior (G,) of Fig. 5: uniform in f_sub, N(beta_mean, beta_sigma) in beta (up to a constant)."""
    return norm.logpdf(grid.points[:, 1], beta_mean, beta_sigma)


def posterior(grid: ParameterGrid, total_log_ratio: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Posterior probabilities (G,) on the grid: prior x r, normalised to sum 1 (cells of equal area)."""
    log_post = total_log_ratio + prior
    weights = np.exp(log_post - log_post.max())
    return weights / weights.sum()


def coverage(grid: ParameterGrid, ensemble_maps: np.ndarray, truths: np.ndarray, levels=(0.68, 0.95)) -> dict:
    """Fraction of ensembles whose ``level`` region (2 dof) contains the true point.

    Parameters
    ----------
    ensemble_maps : numpy.ndarray
        (K, G) summed ln r of each ensemble's lenses.
    truths : numpy.ndarray
        (K, 2) the true (f_sub, beta) of each ensemble.

    Returns
    -------
    dict
        level (str) -> empirical coverage; q at the truths by bilinear interpolation.
    """
    q = test_statistic(ensemble_maps)
    q_true = np.array([grid.interpolate(grid.as_map(q[k]), truths[k:k + 1])[0] for k in range(len(truths))])
    return {f"{level:g}": float(np.mean(q_true <= threshold(level))) for level in levels}


def marginal_pit(grid: ParameterGrid, maps: np.ndarray, truths: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Probability integral transforms of the truths under their grid posteriors, for
    simulation-based calibration (SBC; Talts et al. 2018): uniform on [0, 1] when the posteriors
    are calibrated.

    Parameters
    ----------
    maps : numpy.ndarray
        (K, G) ln r of each simulated data set (one or more lenses summed).
    truths : numpy.ndarray
        (K, 2) the (f_sub, beta) each was simulated at, drawn from the prior ``prior`` (G,).

    Returns
    -------
    numpy.ndarray
        (K, 2) the marginal posterior CDF of f_sub and of beta at the truth. Each grid point
        carries its cell's mass; the CDF rises linearly across the cell around each point.
    """
    out = np.empty((len(truths), 2))
    for k, (total, truth) in enumerate(zip(maps, truths)):
        probabilities = grid.as_map(posterior(grid, total, prior))  # (B, F)
        for axis, (values, marginal) in enumerate(((grid.f_sub, probabilities.sum(axis=0)),
                                                   (grid.beta, probabilities.sum(axis=1)))):
            edges = np.concatenate([[values[0]], 0.5 * (values[1:] + values[:-1]), [values[-1]]])
            cdf = np.concatenate([[0.0], np.cumsum(marginal)])
            out[k, axis] = np.interp(truth[axis], edges, cdf)
    return out


def mass_function_band(grid: ParameterGrid, probabilities: np.ndarray, masses: np.ndarray, m_def: float,
                       m_max: float, quantiles=(0.025, 0.16, 0.5, 0.84, 0.975)) -> np.ndarray:
    """Posterior quantiles of the SHMF per host mass, m dn/dm / M200 = f_sub m^beta / I(beta) (eq. 15).

    I(beta) = int_{m_def}^{m_max} m^beta dm normalises f_sub. Returns (len(quantiles), len(masses)),
    the quantiles of the grid posterior ``probabilities`` (G,) at each mass (Msun).
    """
    f, beta = grid.points[:, 0], grid.points[:, 1]
    a = beta + 1.0
    norm_integral = np.where(np.abs(a) < 1e-12, np.log(m_max / m_def), (m_max**a - m_def**a) / np.where(np.abs(a) < 1e-12, 1.0, a))
    shmf = f[:, None] * np.asarray(masses)[None, :] ** beta[:, None] / norm_integral[:, None]
    order = np.argsort(shmf, axis=0)
    cumulative = np.cumsum(probabilities[order], axis=0)
    out = np.empty((len(quantiles), len(masses)))
    for k, level in enumerate(quantiles):
        index = np.argmax(cumulative >= level, axis=0)
        out[k] = np.take_along_axis(shmf, np.take_along_axis(order, index[None, :], axis=0), axis=0)[0]
    return out
