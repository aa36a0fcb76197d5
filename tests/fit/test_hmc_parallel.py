"""NUTS chains in worker processes give the same draws as in this process; the compiled
potential equals the eager one (value and gradient) up to float rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lensbench.fit import (
    ImagePosterior,
    LensImageModel,
    NoiseModel,
    Parameter,
    ParameterSpace,
    make_prior,
)
from lensbench.fit.hmc import run_nuts
from lensbench.fit.likelihood import CompiledPotential
from lensbench.simulate.scene import Observation

PRIORS = {
    "lens_theta_E": ("uniform", 0.5, 0.8), "lens_e1": ("uniform", -0.2, 0.2), "lens_e2": ("uniform", -0.2, 0.2),
    "lens_center_x": ("uniform", -0.1, 0.1), "lens_center_y": ("uniform", -0.1, 0.1),
    "shear_gamma1": ("uniform", -0.05, 0.05), "shear_gamma2": ("uniform", -0.05, 0.05),
    "source_amp": ("lognormal", 10.0, 0.5), "source_R_sersic": ("uniform", 0.1, 0.3),
    "source_n_sersic": ("uniform", 0.8, 3.0), "source_e1": ("uniform", -0.3, 0.3), "source_e2": ("uniform", -0.3, 0.3),
    "source_center_x": ("uniform", -0.1, 0.1), "source_center_y": ("uniform", -0.1, 0.1),
}
TRUTH = [0.65, 0.1, -0.05, 0.02, -0.01, 0.02, -0.015, 12.0, 0.2, 1.5, 0.15, -0.1, 0.04, -0.03]


def tiny_posterior(free) -> ImagePosterior:
    """A 24 x 24 SIE + shear + Sersic mock at SNR 50 with the ``free`` parameters left to fit."""
    model = LensImageModel("sie", Observation(npix=24, pixel_scale=0.08, supersampling=1, psf_fwhm=0.1), 0.3)
    space = ParameterSpace([Parameter(n, make_prior(*PRIORS[n])) for n in model.names])
    truth = torch.tensor([TRUTH], dtype=torch.float64)
    with torch.no_grad():
        clean = model.render(truth)
    sigma = clean.pow(2).sum().sqrt()[None] / 50.0
    data = clean + sigma * torch.as_tensor(np.random.default_rng(3).standard_normal(clean.shape))
    return ImagePosterior(model, space.subset(free), data, NoiseModel("gaussian", sigma), truth)


def test_chains_in_two_processes_give_the_draws_of_one():
    posterior = tiny_posterior(["lens_theta_E", "source_center_x", "source_center_y"])
    potential = CompiledPotential(posterior, compile=False)
    u_truth = posterior.space.to_unconstrained(posterior.fixed[:, posterior.free])[0]
    settings = {"warmup": 10, "draws": 12, "chains": 2, "seed": 7, "max_tree_depth": 3}
    here = run_nuts(potential, u_truth, posterior.space.to_constrained, processes=1, **settings)
    spread = run_nuts(potential, u_truth, posterior.space.to_constrained, processes=2, **settings)
    assert here.samples.shape == (2, 12, 3)
    assert np.array_equal(here.samples, spread.samples)
    assert not np.array_equal(here.samples[0], here.samples[1])  # the chains are seeded apart
    assert np.array_equal(here.rhat, spread.rhat) and here.divergences == spread.divergences


def test_an_unpicklable_potential_runs_its_chains_here_with_a_warning():
    def potential(u):
        return 0.5 * (u * u).sum()

    with pytest.warns(RuntimeWarning, match="cannot be pickled"):
        result = run_nuts(potential, torch.zeros(2, dtype=torch.float64), lambda u: u, warmup=5, draws=5, chains=2,
                          seed=0, max_tree_depth=2, processes=2)
    assert result.samples.shape == (2, 5, 2)


@pytest.mark.slow
def test_compiled_potential_matches_the_eager_one_value_and_gradient():
    posterior = tiny_posterior(list(PRIORS))
    compiled = CompiledPotential(posterior, compile=True)
    rng = np.random.default_rng(5)
    u_truth = posterior.space.to_unconstrained(posterior.fixed[:, posterior.free])[0]
    for _ in range(3):
        u = (u_truth + 0.1 * torch.as_tensor(rng.standard_normal(u_truth.shape))).requires_grad_(True)
        value = compiled(u)
        (gradient,) = torch.autograd.grad(value, u)
        reference = compiled.eager(u)
        (expected,) = torch.autograd.grad(reference, u)
        assert value.shape == () and compiled.compile  # it compiled, no eager fallback
        assert torch.allclose(value, reference, rtol=1e-10, atol=0)
        assert torch.allclose(gradient, expected, rtol=1e-8, atol=1e-8 * expected.abs().max().item())
    with pytest.raises(RuntimeError):  # differentiable once: a Hessian needs .eager
        torch.autograd.functional.hessian(compiled, u_truth)
    other = CompiledPotential(tiny_posterior(list(PRIORS)), compile=True)
    other(u_truth)
    assert other._graph is compiled._graph  # same problem, same shapes: the graph is reused
