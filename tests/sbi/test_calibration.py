"""Histogram calibration recovers the exact log ratio of two Gaussians from a miscalibrated estimate."""

import numpy as np

from scipy.special import logsumexp
from scipy.stats import norm

from lensbench.sbi.calibration import calibrate, effective_sample_size, mixture_weights, reweighting_weights


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


def test_images_simulated_at_the_grid_points_calibrate_each_point_with_mixture_weights():
    """The paper's calibration, pooled: a unit Gaussian 'population' z ~ N(theta_k, 1) drawn in equal
    numbers at 9 grid points (x = z), the reference drawn from the grid uniformly; the balance-heuristic
    weights turn all images into a sample at each point."""
    rng = np.random.default_rng(2)
    points = np.linspace(-1.0, 1.0, 9)
    per_point = 5000
    drawn = (points[:, None] + rng.normal(size=(len(points), per_point))).reshape(-1)
    reference = points[rng.integers(0, len(points), 40000)] + rng.normal(size=40000)

    def exact(x):  # ln p(x|theta_g) / p_ref(x), (N, G)
        log_p = norm.logpdf(np.asarray(x)[:, None], points[None, :])
        return log_p - (logsumexp(log_p, axis=1, keepdims=True) - np.log(len(points)))

    distort = lambda x: 0.4 * exact(x) - 0.2  # noqa: E731  (monotone, wrong scale and offset)
    weights = mixture_weights(norm.logpdf(drawn[:, None], points[None, :]))
    table = calibrate(distort(drawn), distort(reference), numerator_weights=weights, bins=50)
    probe = np.linspace(-1.0, 1.0, 5)  # inside the outermost (widest) bins
    # a bin's calibrated value is the bin average: within a bin's spread of the exact value
    np.testing.assert_allclose(table.apply(distort(probe)), exact(probe), atol=0.1)
    # every image counts at the points it resembles: worth far more than the 5,000 drawn at a point
    assert np.all(table.effective_size > 3 * per_point)


def test_normalized_calibration_undoes_a_temperature_and_a_theta_dependent_offset():
    """x ~ N(2u, 1) with u uniform in [-1, 1] (theta scaled); the network's ln r_hat is half the true
    ln r plus an offset growing with u: the temperature restores the scale, the normalisation the offset."""
    from lensbench.sbi.normalized_calibration import fit

    rng = np.random.default_rng(4)
    n = 2000
    u = rng.uniform(-1.0, 1.0, n)
    x = rng.normal(2.0 * u, 1.0)

    def exact(x, u):  # ln N(x; 2u, 1) - ln p_ref(x), p_ref(x) = (Phi(x + 2) - Phi(x - 2)) / 4
        return norm.logpdf(x, 2.0 * u) - np.log((norm.cdf(x + 2.0) - norm.cdf(x - 2.0)) / 4.0)

    distort = lambda x, u: 0.5 * exact(x, u) + 0.4 * u - 0.1  # noqa: E731
    points = np.array([-0.5, 0.0, 0.6])
    table = fit(distort(x[:, None], u[None, :]), distort(x[:, None], points[None, :]))
    assert abs(table.temperature - 2.0) < 0.1
    probe = np.linspace(-1.5, 1.5, 7)[:, None]
    calibrated = table.apply(distort(probe, points[None, :]))
    np.testing.assert_allclose(calibrated, exact(probe, points[None, :]), rtol=0.05, atol=0.05)
    assert np.abs(distort(probe, points[None, :]) - exact(probe, points[None, :])).max() > 0.5  # worth correcting
