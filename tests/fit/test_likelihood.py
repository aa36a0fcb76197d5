"""Likelihood and posterior: gradients against central finite differences for every parameter
(elliptical and exactly round lenses and sources, EPL and SIE, Gaussian and Poisson noise), the
SNR definition, and the Gaussian likelihood against a hand computation."""

from __future__ import annotations

import math

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
from lensbench.fit.likelihood import (
    gaussian_log_likelihood,
    gaussian_sigma_for_snr,
    poisson_exposure_for_snr,
)
from lensbench.simulate.scene import Observation

PRIORS = {
    "lens_theta_E": ("uniform", 0.5, 1.0), "lens_gamma": ("uniform", 1.8, 2.2), "lens_e1": ("uniform", -0.2, 0.2),
    "lens_e2": ("uniform", -0.2, 0.2), "lens_center_x": ("normal", 0.0, 0.1), "lens_center_y": ("normal", 0.0, 0.1),
    "shear_gamma1": ("uniform", -0.05, 0.05), "shear_gamma2": ("uniform", -0.05, 0.05),
    "source_amp": ("lognormal", 10.0, 0.5), "source_R_sersic": ("uniform", 0.1, 0.4),
    "source_n_sersic": ("uniform", 0.8, 3.0), "source_e1": ("uniform", -0.3, 0.3), "source_e2": ("uniform", -0.3, 0.3),
    "source_center_x": ("normal", 0.0, 0.2), "source_center_y": ("normal", 0.0, 0.2),
}
ELLIPTICAL = {"lens_theta_E": 0.75, "lens_gamma": 2.1, "lens_e1": 0.08, "lens_e2": -0.05, "lens_center_x": 0.03,
              "lens_center_y": -0.02, "shear_gamma1": 0.02, "shear_gamma2": -0.01, "source_amp": 12.0,
              "source_R_sersic": 0.2, "source_n_sersic": 1.5, "source_e1": 0.1, "source_e2": 0.05,
              "source_center_x": 0.05, "source_center_y": -0.04}
ROUND = {**ELLIPTICAL, "lens_e1": 0.0, "lens_e2": 0.0, "source_e1": 0.0, "source_e2": 0.0}


def make_posterior(profile, values, noise_kind):
    model = LensImageModel(profile, Observation(npix=16, pixel_scale=0.12, supersampling=1, psf_fwhm=0.15), 0.3)
    space = ParameterSpace([Parameter(n, make_prior(*PRIORS[n])) for n in model.names])
    truth = torch.tensor([[values[n] for n in model.names]], dtype=torch.float64)
    with torch.no_grad():
        clean = model.render(truth)
    rng = np.random.default_rng(0)
    if noise_kind == "gaussian":
        sigma = gaussian_sigma_for_snr(clean, 50.0)
        data = clean + sigma[:, None, None] * torch.as_tensor(rng.standard_normal(clean.shape))
        noise = NoiseModel("gaussian", sigma)
    else:
        exposure = poisson_exposure_for_snr(clean[0], 0.05, 50.0)[None]
        data = torch.as_tensor(rng.poisson(((clean + 0.05) * exposure).numpy()), dtype=torch.float64)
        noise = NoiseModel("poisson", exposure, sky=0.05)
    # evaluate away from the truth so no gradient vanishes by symmetry
    return ImagePosterior(model, space, data, noise, truth), space.to_unconstrained(truth * 1.01 + 0.002)


@pytest.mark.parametrize("profile", ["epl", "sie"])
@pytest.mark.parametrize("values", [ELLIPTICAL, ROUND], ids=["elliptical", "round"])
@pytest.mark.parametrize("noise_kind", ["gaussian", "poisson"])
def test_log_posterior_gradient_matches_finite_differences(profile, values, noise_kind):
    posterior, u0 = make_posterior(profile, values, noise_kind)
    if values is ROUND:  # exactly round lens and source
        theta = posterior.space.to_constrained(u0)
        for name in ("lens_e1", "lens_e2", "source_e1", "source_e2"):
            theta[0, posterior.space.index(name)] = 0.0
        u0 = posterior.space.to_unconstrained(theta)
    u = u0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(posterior.log_posterior(u).sum(), u)
    assert torch.isfinite(grad).all()
    h = 1e-6
    for k, name in enumerate(posterior.space.names):
        step = torch.zeros_like(u0)
        step[0, k] = h
        numeric = float((posterior.log_posterior(u0 + step) - posterior.log_posterior(u0 - step))[0]) / (2 * h)
        assert abs(float(grad[0, k]) - numeric) <= 1e-5 * max(1.0, abs(numeric)) + 1e-4, (name, float(grad[0, k]), numeric)


def test_snr_definition_holds_for_both_noise_models():
    image = torch.rand(3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    sigma = gaussian_sigma_for_snr(image, 30.0)
    assert torch.allclose((image.pow(2).sum((-2, -1)) / sigma**2).sqrt(), torch.full((3,), 30.0, dtype=torch.float64))
    t = poisson_exposure_for_snr(image, 0.2, 30.0)
    variance = (image + 0.2) / t[:, None, None]
    assert torch.allclose((image.pow(2) / variance).sum((-2, -1)).sqrt(), torch.full((3,), 30.0, dtype=torch.float64))


def test_gaussian_log_likelihood_by_hand():
    model = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)
    data = model + torch.tensor([[[0.5, -0.5], [0.0, 1.0]]], dtype=torch.float64)
    sigma = torch.tensor([0.5], dtype=torch.float64)
    expected = -0.5 * (1.0 + 1.0 + 0.0 + 4.0) - 4 * math.log(0.5 * math.sqrt(2 * math.pi))
    assert float(gaussian_log_likelihood(model, data, sigma)[0]) == pytest.approx(expected, rel=1e-14)
