"""The latent population's joint log ratio and joint score (Brehmer+19 eq. 18) against finite
differences, a direct Monte Carlo of the simulator's own population draws and brute-force quadrature."""

import numpy as np
import pytest
import torch

from lensbench.physics.cosmology import lensing_distances
from lensbench.sbi.population import (LatentStats, MassRange, ProposalBox, expected_count, joint_log_ratio,
                                      joint_score, log_power_integral, log_prob, log_reference)
from lensbench.simulate.priors import Prior
from lensbench.simulate.substructure import HostLenses, PopulationConfig, draw_population

MASSES = MassRange(m_draw=1e7, m_def=1e6)
BOX = ProposalBox()


def _hosts(n):
    d = lensing_distances(np.full(n, 0.5), np.full(n, 1.5), 67.7, 0.307)
    return HostLenses(theta_E=np.full(n, 0.75), center_x=np.zeros(n), center_y=np.zeros(n), m200=np.full(n, 2e13),
                      distances=d, einstein_distances=d)


def _draw(f_sub, beta, n, seed, r_max=0.5):
    """Sufficient statistics of n lenses drawn by the simulator (f_sub, beta: priors or numbers)."""
    as_prior = lambda v: v if isinstance(v, Prior) else Prior("fixed", value=v)  # noqa: E731
    slope = Prior("uniform", low=beta.low - 1, high=beta.high - 1) if isinstance(beta, Prior) else Prior("fixed", value=beta - 1)
    population = PopulationConfig(kind="cdm", profile="point_mass", count_mode="f_sub", f_sub=as_prior(f_sub),
                                  slope=slope, m_min=MASSES.m_draw, f_sub_m_min=MASSES.m_def,
                                  m_max_host_fraction=0.01, radius_unit="theta_E", r_min=0.0, r_max=r_max)
    labels = draw_population(population, _hosts(n), np.random.default_rng(seed), 0).labels
    stats = LatentStats.from_arrays(labels["subhalo_count"], labels["subhalo_log_mass_sum"], labels["host_roi_mass"],
                                    labels["subhalo_m_max"])
    return stats, labels


def test_power_integral_matches_quadrature_and_the_log_case():
    for a in (-2.5, -1.0, -0.5, 0.3):
        m = np.geomspace(1e6, 2e11, 400001)
        reference = np.trapezoid(m**a, m) if hasattr(np, "trapezoid") else np.trapz(m**a, m)
        value = float(log_power_integral(torch.tensor(a, dtype=torch.float64), 1e6, torch.tensor(2e11)))
        assert value == pytest.approx(np.log(reference), abs=1e-6)


def test_expected_count_is_the_simulators():
    stats, labels = _draw(0.07, -0.8, 4, 0, r_max=2.0)
    theta = torch.tensor([0.07, -0.8], dtype=torch.float64)
    np.testing.assert_allclose(expected_count(theta, stats, MASSES).numpy(), labels["expected_count"], rtol=1e-10)


def test_joint_score_matches_finite_differences():
    stats, _ = _draw(0.05, -0.9, 6, 1, r_max=2.0)
    theta = torch.tensor([[0.04, -1.1]] * 6, dtype=torch.float64)
    score = joint_score(theta, stats, MASSES)
    for k, h in ((0, 1e-6), (1, 1e-5)):
        step = torch.zeros(2, dtype=torch.float64)
        step[k] = h
        numeric = (log_prob(theta + step, stats, MASSES) - log_prob(theta - step, stats, MASSES)) / (2 * h)
        np.testing.assert_allclose(score[:, k].numpy(), numeric.numpy(), rtol=1e-6, atol=1e-6)


def test_monte_carlo_of_the_simulator_population():
    """z ~ p(z|theta0) from the simulator: E[t(z|theta0)] = 0 and E[p(z|theta1)/p(z|theta0)] = 1."""
    stats, _ = _draw(0.05, -0.9, 20000, 2)
    theta0 = torch.tensor([0.05, -0.9], dtype=torch.float64)
    theta1 = torch.tensor([0.06, -0.85], dtype=torch.float64)
    score = joint_score(theta0.expand(20000, 2), stats, MASSES).numpy()
    error = score.std(axis=0) / np.sqrt(len(score))
    assert np.all(np.abs(score.mean(axis=0)) < 4 * error)
    ratio = torch.exp(log_prob(theta1, stats, MASSES) - log_prob(theta0, stats, MASSES)).numpy()
    assert ratio.mean() == pytest.approx(1.0, abs=4 * ratio.std() / np.sqrt(len(ratio)))


def test_reference_density_matches_brute_force_quadrature():
    stats, _ = _draw(0.05, -0.9, 3, 3, r_max=2.0)
    log_ref = log_reference(stats, MASSES, BOX)
    f = np.linspace(BOX.f_sub_low, BOX.f_sub_high, 2001)
    b = np.linspace(BOX.beta_low, BOX.beta_high, 801)
    grid = torch.tensor(np.stack(np.meshgrid(f, b, indexing="ij"), axis=-1).reshape(-1, 2))
    for i in range(3):
        one = LatentStats(*(t[i:i + 1].expand(len(grid)) for t in (stats.count, stats.log_mass_sum, stats.roi_mass,
                                                                   stats.m_max)))
        values = log_prob(grid, one, MASSES).numpy().reshape(len(f), len(b))
        top = values.max()
        integral = np.trapezoid(np.trapezoid(np.exp(values - top), b, axis=1), f) if hasattr(np, "trapezoid") else \
            np.trapz(np.trapz(np.exp(values - top), b, axis=1), f)
        brute = top + np.log(integral) + BOX.log_density()
        assert log_ref[i] == pytest.approx(brute, abs=2e-3)


def test_joint_ratio_has_unit_mean_over_the_reference():
    """z ~ p_ref (theta from the proposal, then the simulator): E[r(z|theta)] = 1 for any theta."""
    stats, _ = _draw(Prior("uniform", low=BOX.f_sub_low, high=BOX.f_sub_high),
                     Prior("uniform", low=BOX.beta_low, high=BOX.beta_high), 20000, 4)
    log_ref = log_reference(stats, MASSES, BOX)
    for theta in ((0.05, -0.9), (0.15, -0.7)):
        r = torch.exp(joint_log_ratio(torch.tensor(theta, dtype=torch.float64), stats, MASSES, log_ref)).numpy()
        assert r.mean() == pytest.approx(1.0, abs=4 * r.std() / np.sqrt(len(r)))
