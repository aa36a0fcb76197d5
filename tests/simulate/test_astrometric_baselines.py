"""The physics baselines on maps with a known injected signal: analytic expectations within noise."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from lensbench.simulate.astrometric import SCENARIOS, AstrometricConfig, data_maps
from lensbench.simulate.astrometric_baselines import (
    local_energy_statistic,
    oracle_auc,
    oracle_chi2,
    oracle_statistic,
    pixel_noise,
    plain_energy_statistic,
)

NSIDE = 32
CONFIG = AstrometricConfig(data_nside=NSIDE)
SURVEY = SCENARIOS["C"]
DRAWS = 400


def _injected(chi2: float) -> np.ndarray:
    """(1, 2, npix) a smooth blob (10 deg FWHM) at (l, b) = (30, 20) deg scaled to a known chi^2 [muas/yr]."""
    blob = np.zeros(hp.nside2npix(NSIDE))
    blob[hp.ang2pix(NSIDE, 30.0, 20.0, lonlat=True)] = 1.0
    blob = hp.smoothing(blob, fwhm=np.radians(10.0))
    signal = np.stack([blob, -0.5 * blob])[None]
    sigma = pixel_noise(SURVEY.sigma_u, SURVEY.n_quasars, NSIDE)
    return (signal * np.sqrt(chi2 / oracle_chi2(signal, sigma)[0])).astype(np.float32)


def test_pixel_noise_of_table1():
    assert pixel_noise(1.0, 1e8, NSIDE) == pytest.approx(1.1e-2, rel=0.02)  # A
    assert pixel_noise(0.1, 1e9, NSIDE) == pytest.approx(3.5e-4, rel=0.02)  # D


def test_oracle_statistic_has_its_analytic_distribution():
    chi2 = 9.0
    signal = np.repeat(_injected(chi2), DRAWS, axis=0)
    sigma = pixel_noise(SURVEY.sigma_u, SURVEY.n_quasars, NSIDE)
    assert oracle_chi2(signal[:1], sigma)[0] == pytest.approx(chi2, rel=1e-5)
    rng = np.random.default_rng(0)
    positive = oracle_statistic(data_maps(CONFIG, SURVEY, signal, True, rng), signal, sigma)
    negative = oracle_statistic(data_maps(CONFIG, SURVEY, signal, False, rng), signal, sigma)
    # Normal(+-chi2 / 2, chi2); the Poisson scatter of the quasar counts adds ~1 % to the noise
    error = 4 * np.sqrt(chi2 / DRAWS)
    assert abs(positive.mean() - chi2 / 2) < error and abs(negative.mean() + chi2 / 2) < error
    assert positive.var() == pytest.approx(chi2, rel=0.2) and negative.var() == pytest.approx(chi2, rel=0.2)
    # t is half the chi^2 difference between the noise-only and the signal hypotheses
    data = data_maps(CONFIG, SURVEY, signal[:3], True, rng)
    difference = ((data**2).sum(axis=(1, 2)) - ((data - signal[:3]) ** 2).sum(axis=(1, 2))) / sigma**2
    np.testing.assert_allclose(oracle_statistic(data, signal[:3], sigma), difference / 2, rtol=1e-3)
    labels = np.repeat([0, 1], DRAWS)
    found = roc_auc_score(labels, np.concatenate([negative, positive]))
    assert found == pytest.approx(oracle_auc(np.array([chi2])), abs=0.04)  # Phi(sqrt(4.5)) = 0.983


def test_energy_detectors_are_zero_on_noise_and_see_a_strong_signal():
    sigma = pixel_noise(SURVEY.sigma_u, SURVEY.n_quasars, NSIDE)
    signal = np.repeat(_injected(2000.0), 50, axis=0)
    rng = np.random.default_rng(1)
    noise = data_maps(CONFIG, SURVEY, signal, False, rng)
    with_signal = data_maps(CONFIG, SURVEY, signal, True, rng)
    plain = plain_energy_statistic(noise, sigma)
    assert abs(plain.mean()) < 4 * np.sqrt(2 * noise[0].size / len(noise)) * 1.05
    # the plain excess energy of a known injection is its chi^2
    assert plain_energy_statistic(with_signal, sigma).mean() - plain.mean() == pytest.approx(2000.0, rel=0.1)
    local_noise, local_signal = local_energy_statistic(noise, sigma), local_energy_statistic(with_signal, sigma)
    assert abs(local_noise.mean()) < 5 * local_noise.std() / np.sqrt(len(noise))
    assert local_signal.min() > local_noise.max()
