"""Physics baselines for the astrometric classifiers: what the data allow, without a network.

Both act on the HEALPix data maps d (n, 2, npix) of :func:`lensbench.simulate.astrometric.data_maps`
(velocity components u_l, u_b in muas/yr), whose noise is, per pixel and component, Gaussian of
standard deviation sigma = sigma_u / sqrt(N_q / npix) (:func:`pixel_noise`; the Poisson scatter of
the quasar counts changes it by ~1 % at Table I's N_q / npix >= 8138 and is neglected).

* The known-template (oracle) test: the signal s of the map is known, and the log-likelihood
  ratio of "d = s + noise" against "d = noise" is
  t = sum_p (d_p . s_p) / sigma^2 - chi2 / 2, with chi2 = sum_p |s_p|^2 / sigma^2
  (:func:`oracle_statistic`, :func:`oracle_chi2`). By the Neyman-Pearson lemma no test of that
  pair of hypotheses does better: an upper bound for any classifier. For a template of
  signal-to-noise chi2 the statistic is Normal(+-chi2 / 2, chi2), so its AUC is
  Phi(sqrt(chi2 / 2)) (:func:`oracle_auc`). A noise-only map is tested against the template of
  another map drawn from the same population.
* The template-free local-energy detector: the excess of the squared velocity over its noise,
  summed over the sky after averaging each pixel with its neighbours,
  T = sum_p (|<u>_p|^2 / sigma_p^2 - 2) with <u>_p the mean of u over pixel p and its
  HEALPix neighbours and sigma_p^2 = sigma^2 / (1 + neighbours) the noise variance of that
  mean (:func:`local_energy_statistic`). Its expectation is 0 for noise alone; the lensing of
  subhalos, coherent over several pixels, raises it. It needs the noise level but no template.
"""

from __future__ import annotations

import functools
import math

import healpy as hp
import numpy as np
import scipy.sparse as sparse
from scipy import special


def pixel_noise(sigma_u: float, n_quasars: float, data_nside: int) -> float:
    """Noise of one velocity component of one data pixel, sigma_u / sqrt(N_q / npix) [muas/yr].

    Parameters
    ----------
    sigma_u : float
        Velocity noise of one quasar, per component [muas/yr] (Vattis+21 Table I).
    n_quasars : float
        Quasars on the whole sky N_q.
    data_nside : int
        HEALPix nside of the data maps.
    """
    return sigma_u / math.sqrt(n_quasars / hp.nside2npix(data_nside))


def oracle_chi2(signal: np.ndarray, sigma: float) -> np.ndarray:
    """Squared signal-to-noise of each known template, sum over pixels and components of s^2 / sigma^2.

    Parameters
    ----------
    signal : np.ndarray
        (n, 2, npix) noise-free signal maps [muas/yr].
    sigma : float
        Pixel noise [muas/yr] (:func:`pixel_noise`).

    Returns
    -------
    np.ndarray
        (n,) chi2 (dimensionless).
    """
    flat = np.asarray(signal, dtype=np.float64).reshape(len(signal), -1)
    return np.einsum("ij,ij->i", flat, flat) / sigma**2


def oracle_statistic(data: np.ndarray, template: np.ndarray, sigma: float) -> np.ndarray:
    """Log-likelihood ratio of "data = template + noise" to "data = noise", per map (module docstring).

    Parameters
    ----------
    data, template : np.ndarray
        (n, 2, npix) data maps and the template each is tested for [muas/yr].
    sigma : float
        Pixel noise [muas/yr].

    Returns
    -------
    np.ndarray
        (n,) t = sum d . s / sigma^2 - chi2 / 2.
    """
    d = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    s = np.asarray(template, dtype=np.float64).reshape(len(template), -1)
    return np.einsum("ij,ij->i", d, s) / sigma**2 - 0.5 * np.einsum("ij,ij->i", s, s) / sigma**2


def oracle_auc(chi2: np.ndarray) -> float:
    """Expected AUC of the oracle test over templates of signal-to-noise ``chi2``.

    For one template the two classes' statistics are Normal(+-chi2/2, chi2) and the AUC is
    Phi(sqrt(chi2 / 2)); with templates that differ between maps this averages that over the
    positive map's template (the negative map is tested with an independent one), a good guide
    when the chi2 of the population is narrow and an approximation otherwise.
    """
    chi2 = np.asarray(chi2, dtype=np.float64)
    return float(np.mean(special.ndtr(np.sqrt(chi2 / 2.0))))


@functools.lru_cache(maxsize=8)
def _neighbour_mean(nside: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Sparse (npix, npix) averaging over each RING pixel and its 7 or 8 neighbours, and the
    variance of each mean of unit white noise (1 / members)."""
    npix = hp.nside2npix(nside)
    neighbours = hp.get_all_neighbours(nside, np.arange(npix))  # (8, npix), -1 where there is none
    rows = np.concatenate([np.arange(npix), np.tile(np.arange(npix), 8)])
    columns = np.concatenate([np.arange(npix), neighbours.ravel()])
    keep = columns >= 0
    members = sparse.csr_matrix((np.ones(keep.sum()), (rows[keep], columns[keep])), shape=(npix, npix))
    count = np.asarray(members.sum(axis=1)).ravel()
    return (sparse.diags(1.0 / count) @ members).tocsr(), 1.0 / count


def local_energy_statistic(data: np.ndarray, sigma: float) -> np.ndarray:
    """Template-free detector T = sum_p (|<u>_p|^2 / sigma_p^2 - 2) per map (module docstring).

    Parameters
    ----------
    data : np.ndarray
        (n, 2, npix) data maps, RING order [muas/yr].
    sigma : float
        Pixel noise [muas/yr] (:func:`pixel_noise`).

    Returns
    -------
    np.ndarray
        (n,) T (dimensionless; expectation 0 without signal). Neighbouring means overlap, so
        the terms are correlated: T's scatter is larger than that of independent pixels.
    """
    n, channels, npix = data.shape
    average, variance = _neighbour_mean(hp.npix2nside(npix))
    flat = np.asarray(data, dtype=np.float64).reshape(n * channels, npix)
    smoothed = (average @ flat.T).T.reshape(n, channels, npix)
    energy = (smoothed**2).sum(axis=1) / (sigma**2 * variance)
    return (energy - channels).sum(axis=1)


def plain_energy_statistic(data: np.ndarray, sigma: float) -> np.ndarray:
    """The unsmoothed excess energy sum_p (|u_p|^2 / sigma^2 - 2) per map (dimensionless)."""
    flat = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    return np.einsum("ij,ij->i", flat, flat) / sigma**2 - flat.shape[1]
