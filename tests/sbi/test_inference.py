"""Grid inference: limits of an analytic test statistic, and coverage of a Gaussian toy whose q is chi^2."""

import numpy as np
import pytest

from lensbench.sbi.inference import (ParameterGrid, coverage, expected_statistic, limits, log_prior, posterior,
                                     threshold)
from lensbench.sbi.population import ProposalBox

BOX = ProposalBox()


def _gaussian_maps(grid, centres, sigma):
    """ln r = -|theta - c|^2 / 2 sigma^2 per lens, theta in units of the box's (f_sub, beta) scales sigma."""
    points = grid.points
    return -0.5 * np.sum(((points[None, :, :] - centres[:, None, :]) / sigma) ** 2, axis=2)


def test_limits_of_an_analytic_statistic():
    grid = ParameterGrid.over(BOX, 201)
    sigma = np.array([0.01, 0.1])
    per_lens = _gaussian_maps(grid, np.array([[0.05, -0.9]]), sigma * np.sqrt(5.0))  # 5 lenses make sigma
    found = limits(grid, expected_statistic(per_lens, 5), beta_slice=-0.9)
    half = 0.01 * np.sqrt(threshold(0.95))
    assert found.f_sub_low == pytest.approx(0.05 - half, abs=2e-4)
    assert found.f_sub_high == pytest.approx(0.05 + half, abs=2e-4)
    assert found.region_beta[0] == pytest.approx(-0.9 - 0.1 * np.sqrt(threshold(0.95)), abs=0.006)
    assert not found.at_edge
    wider = limits(grid, expected_statistic(per_lens, 1), beta_slice=-0.9)
    assert wider.f_sub_low < found.f_sub_low and wider.f_sub_high > found.f_sub_high  # fewer lenses, wider


def test_coverage_of_a_gaussian_toy_is_nominal():
    rng = np.random.default_rng(0)
    grid = ParameterGrid.over(BOX, 81)
    sigma = np.array([0.03, 0.15])
    truths = np.stack([rng.uniform(0.06, 0.14, 400), rng.uniform(-1.2, -0.8, 400)], axis=1)
    n = 4
    observed = truths[:, None, :] + rng.normal(size=(400, n, 2)) * sigma
    maps = np.stack([_gaussian_maps(grid, observed[k], sigma).sum(axis=0) for k in range(400)])
    found = coverage(grid, maps, truths)
    # q at the truth is chi^2 with 2 dof (up to the grid's bilinear interpolation)
    assert found["0.68"] == pytest.approx(0.68, abs=0.06)
    assert found["0.95"] == pytest.approx(0.95, abs=0.04)


def test_posterior_is_normalised_and_follows_the_prior():
    grid = ParameterGrid.over(BOX, 25)
    flat = posterior(grid, np.zeros(len(grid.points)), log_prior(grid, -0.9, 0.1))
    assert flat.sum() == pytest.approx(1.0)
    by_beta = grid.as_map(flat).sum(axis=1)
    assert grid.beta[np.argmax(by_beta)] == pytest.approx(-0.9, abs=grid.beta[1] - grid.beta[0])
