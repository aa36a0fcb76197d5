"""The MAP recovers a noiseless mock; NUTS recovers a known Gaussian and reports R-hat and ESS;
recovery statistics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import torch

from lensbench.fit import (
    ImagePosterior,
    LensImageModel,
    NoiseModel,
    Parameter,
    ParameterSpace,
    make_prior,
    recovery,
)
from lensbench.fit.hmc import run_nuts
from lensbench.fit.map import fit_map, tempering
from lensbench.simulate.scene import Observation

PRIORS = {
    "lens_theta_E": ("uniform", 0.5, 1.0), "lens_e1": ("uniform", -0.2, 0.2), "lens_e2": ("uniform", -0.2, 0.2),
    "lens_center_x": ("uniform", -0.1, 0.1), "lens_center_y": ("uniform", -0.1, 0.1),
    "shear_gamma1": ("uniform", -0.05, 0.05), "shear_gamma2": ("uniform", -0.05, 0.05),
    "source_amp": ("lognormal", 10.0, 0.5), "source_R_sersic": ("uniform", 0.1, 0.4),
    "source_n_sersic": ("uniform", 0.8, 3.0), "source_e1": ("uniform", -0.3, 0.3), "source_e2": ("uniform", -0.3, 0.3),
    "source_center_x": ("uniform", -0.15, 0.15), "source_center_y": ("uniform", -0.15, 0.15),
}


def test_map_recovers_a_noiseless_mock_to_1e_3():
    model = LensImageModel("sie", Observation(npix=24, pixel_scale=0.08, supersampling=1, psf_fwhm=0.1), 0.3)
    space = ParameterSpace([Parameter(n, make_prior(*PRIORS[n])) for n in model.names])
    truth = torch.tensor([[0.7, 0.1, -0.05, 0.02, -0.01, 0.02, -0.015, 12.0, 0.2, 1.5, 0.15, -0.1, 0.04, -0.03]],
                         dtype=torch.float64)
    with torch.no_grad():
        data = model.render(truth)  # noiseless; sigma only sets the weight of the prior (SNR 1e5)
    sigma = data.pow(2).sum().sqrt()[None] / 1e5
    posterior = ImagePosterior(model, space, data, NoiseModel("gaussian", sigma), truth.clone())
    rng = np.random.default_rng(0)
    u_true = space.to_unconstrained(truth)
    starts = (u_true + 0.2 * torch.as_tensor(rng.standard_normal((2, len(space))))).reshape(1, 2, -1)
    result = fit_map(posterior, 2, rng, adam_steps=60, adam_lr=0.02, lbfgs_steps=200, initial_u=starts)
    error = recovery.errors(truth.numpy(), result.theta.numpy(), model.names)
    assert np.abs(error).max() < 1e-3, dict(zip(model.names, error[0]))
    assert result.success.shape == (1, 2) and result.success[0, result.potentials[0].argmin()]


def test_tempering_ramps_geometrically_to_one():
    assert tempering(0, 100) == 1e-3 and tempering(50, 100) == 1.0 and tempering(99, 100) == 1.0
    assert abs(tempering(25, 100) - 1e-3 ** 0.5) < 1e-12


def test_nuts_samples_a_known_gaussian():
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    sd = torch.tensor([0.5, 2.0], dtype=torch.float64)

    def potential(u):
        return 0.5 * (((u - mean) / sd) ** 2).sum()

    result = run_nuts(potential, mean.clone(), lambda u: u, warmup=60, draws=300, chains=2, seed=0, max_tree_depth=3)
    draws = result.samples.reshape(-1, 2)
    assert result.samples.shape == (2, 300, 2)
    assert np.allclose(draws.mean(0), mean.numpy(), atol=0.25 * sd.numpy())
    assert np.allclose(draws.std(0), sd.numpy(), rtol=0.2)
    assert result.rhat.max() < 1.05 and result.ess.min() > 100


def test_errors_are_relative_for_positive_parameters_only():
    err = recovery.errors(np.array([[2.0, 0.1]]), np.array([[2.2, 0.3]]), ["lens_theta_E", "lens_center_x"])
    assert np.allclose(err, [[0.1, 0.2]])


def test_coverage_counts_intervals_holding_the_truth():
    draws = np.tile(np.linspace(0.0, 1.0, 1001)[None, :, None], (3, 1, 1))  # uniform on [0, 1]
    truth = np.array([[0.5], [0.1], [0.99]])
    assert np.allclose(recovery.coverage(draws, truth, 0.68), [1 / 3])  # [0.16, 0.84] holds only 0.5
    assert np.allclose(recovery.coverage(draws, truth, 0.95), [2 / 3])  # [0.025, 0.975] misses 0.99
