"""Histogram calibration recovers the exact log ratio of two Gaussians from a miscalibrated estimate."""

import numpy as np

from lensbench.sbi.calibration import calibrate, effective_sample_size, reweighting_weights


def _true_log_ratio(x, mu):
    """ln N(x; mu, 1) / N(x; 0, 1)."""
    return mu * x - 0.5 * mu**2


def test_calibration_recovers_the_exact_log_ratio_of_two_gaussians():
    rng = np.random.default_rng(0)
    mus = np.array([0.5, 1.0])
    numerator = rng.normal(mus, 1.0, size=(200000, 2))
    reference = rng.normal(0.0, 1.0, size=(200000, 2))
    distort = lambda x: 0.3 * _true_log_ratio(x, mus) + 1.0  # noqa: E731  (monotone, wrong scale and offset)
    table = calibrate(distort(numerator), distort(reference), bins=50)
    probe = np.stack([np.linspace(-1.0, 2.0, 7)] * 2, axis=1)
    calibrated = table.apply(distort(probe))
    # a bin's calibrated value is the bin average: within half a bin's spread of the exact value
    np.testing.assert_allclose(calibrated, _true_log_ratio(probe, mus), atol=0.06)
    np.testing.assert_allclose(table.effective_size, 200000)


def test_reweighted_reference_calibrates_as_a_sample_at_theta():
    rng = np.random.default_rng(1)
    mus = np.array([0.5, 1.0])
    reference = rng.normal(0.0, 1.0, size=(200000, 2))
    distort = lambda x: 0.3 * _true_log_ratio(x, mus) + 1.0  # noqa: E731
    weights = reweighting_weights(_true_log_ratio(reference, mus))
    table = calibrate(distort(reference), distort(reference), numerator_weights=weights, bins=50)
    probe = np.stack([np.linspace(-1.0, 1.5, 6)] * 2, axis=1)  # the weighted tail has wide bins
    np.testing.assert_allclose(table.apply(distort(probe)), _true_log_ratio(probe, mus), atol=0.08)
    ess = effective_sample_size(weights)
    assert np.all(ess < 200000) and np.all(ess > 0.3 * 200000)  # e^(-mu^2): 78 % and 37 %
