"""The neural (VAE) source: training galaxies, the VAE, COSMOS resampling, and the VAE source in
the lens model (flux conservation, the scale parameter against the renderer's fixed-scale path,
likelihood gradients w.r.t. the latent against finite differences, MAP recovery of the lens)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lensbench.fit import ImagePosterior, LensImageModel, NoiseModel
from lensbench.fit.galaxy_images import sersic_mixture_images, stamps_on_grid
from lensbench.fit.map import fit_map
from lensbench.fit.parameters import model_prior
from lensbench.fit.source_vae import (
    SourceVAE,
    VaeConfig,
    load_source_model,
    reconstruction_errors,
    residual_flux_fraction,
    train_vae,
)
from lensbench.simulate.backends.torch_renderer import render_tensors
from lensbench.simulate.scene import Observation
from lensbench.training import save_weights

CONFIG = VaeConfig(npix=16, pixel_scale=0.06, latent_dim=4, width=4)
OBSERVATION = Observation(npix=24, pixel_scale=0.08, psf_fwhm=0.1, supersampling=1)
PRIORS = {"lens_theta_E": ("uniform", 0.5, 0.8), "lens_e1": ("uniform", -0.2, 0.2), "lens_e2": ("uniform", -0.2, 0.2),
          "lens_center_x": ("uniform", -0.1, 0.1), "lens_center_y": ("uniform", -0.1, 0.1),
          "shear_gamma1": ("uniform", -0.05, 0.05), "shear_gamma2": ("uniform", -0.05, 0.05),
          "source_flux": ("lognormal", 5.0, 0.5), "source_scale": ("uniform", 0.8, 1.25),
          "source_center_x": ("uniform", -0.1, 0.1), "source_center_y": ("uniform", -0.1, 0.1)}
TRUTH = {"lens_theta_E": 0.65, "lens_e1": 0.08, "lens_e2": -0.05, "lens_center_x": 0.02, "lens_center_y": -0.01,
         "shear_gamma1": 0.02, "shear_gamma2": -0.01, "source_z0": 0.5, "source_z1": -0.8, "source_z2": 0.3,
         "source_z3": 1.1, "source_flux": 5.0, "source_scale": 1.1, "source_center_x": 0.04, "source_center_y": -0.03}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread, as the fit steps run (many small ops: faster on a shared CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(one_thread):
    """A tiny VAE trained for a few seconds on simulated galaxies (float32, CPU)."""
    torch.manual_seed(0)
    model = SourceVAE(CONFIG)
    images = sersic_mixture_images(256, CONFIG.npix, CONFIG.pixel_scale, seed=1)
    log = train_vae(model, images, steps=150, batch_size=32, lr=3e-3, sigma=1.0, beta=1.0, seed=2, record_every=25)
    return model, log


@pytest.fixture(scope="module")
def decoder(trained, tmp_path_factory):
    """The trained VAE saved and reloaded the way a fit loads it (float64, frozen)."""
    folder = tmp_path_factory.mktemp("vae")
    save_weights(trained[0], folder / "model.pt")
    (folder / "vae.json").write_text('{"config": {"npix": 16, "pixel_scale": 0.06, "latent_dim": 4, "width": 4}}')
    return load_source_model(folder)


def _theta(model: LensImageModel, values: dict) -> torch.Tensor:
    return torch.tensor([[values[n] for n in model.names]], dtype=torch.float64)


def test_training_galaxies_have_unit_flux_and_are_reproducible():
    a = sersic_mixture_images(40, 16, 0.06, seed=5)
    assert a.shape == (40, 16, 16) and (a >= 0).all()
    np.testing.assert_allclose(a.sum((1, 2)).numpy(), 1.0, rtol=1e-5)
    assert torch.equal(a, sersic_mixture_images(40, 16, 0.06, seed=5))
    assert not torch.equal(a, sersic_mixture_images(40, 16, 0.06, seed=6))


def test_decoded_images_have_unit_flux_and_training_lowers_the_loss(trained):
    model, log = trained
    decoded = model.decode(torch.randn(8, CONFIG.latent_dim))
    assert (decoded >= 0).all()
    np.testing.assert_allclose(decoded.sum((1, 2)).detach().numpy(), 1.0, rtol=1e-5)
    assert log.loss[-1] < 0.5 * log.loss[0]
    held_out = sersic_mixture_images(64, CONFIG.npix, CONFIG.pixel_scale, seed=9)
    errors = reconstruction_errors(model, held_out)
    assert errors.shape == (64,) and float(errors.median()) < 1.0  # below an all-wrong (disjoint) reconstruction: 2


def test_residual_flux_fraction_by_hand():
    image = torch.tensor([[[0.5, 0.5], [0.0, 0.0]]])
    reconstruction = torch.tensor([[[0.25, 0.5], [0.25, 0.0]]])
    assert float(residual_flux_fraction(image, reconstruction)[0]) == pytest.approx(0.5)


def test_stamps_on_grid_keep_a_gaussian_centroid_and_width():
    sigma, scale = 0.12, 0.03  # arcsec
    axis = (np.arange(61) - 30) * scale
    x, y = np.meshgrid(axis, axis)
    stamp = np.exp(-((x - 0.05) ** 2 + (y + 0.04) ** 2) / (2 * sigma**2))
    image = stamps_on_grid([stamp, stamp[5:-5, 5:-5]], scale, npix=32, pixel_scale=0.04)
    grid = (np.arange(32) - 15.5) * 0.04
    gx, gy = np.meshgrid(grid, grid)
    for one in image.numpy():
        assert one.sum() == pytest.approx(1.0, rel=1e-5)
        cx, cy = (one * gx).sum(), (one * gy).sum()
        assert cx == pytest.approx(0.05, abs=2e-3) and cy == pytest.approx(-0.04, abs=2e-3)
        # second moment: sigma^2 + the area-averaging of bilinear samples (pixel^2 / 12 each)
        width = math.sqrt((one * (gx - cx) ** 2).sum())
        assert width == pytest.approx(math.sqrt(sigma**2 + (0.03**2 + 0.04**2) / 12), rel=0.02)


def test_vae_source_conserves_flux_without_a_lens(decoder):
    model = LensImageModel("sie", Observation(npix=40, pixel_scale=0.08, psf_fwhm=0.1, supersampling=3),
                           source_decoder=decoder)
    unlensed = {**TRUTH, "lens_theta_E": 1e-6, "shear_gamma1": 0.0, "shear_gamma2": 0.0}
    assert float(model.render(_theta(model, unlensed)).sum()) == pytest.approx(5.0, rel=0.01)


def test_source_scale_matches_the_renderers_fixed_scale_path(decoder):
    model = LensImageModel("sie", OBSERVATION, source_decoder=decoder)
    theta = _theta(model, TRUTH)
    columns = dict(zip(model.names, theta[0]))
    pixel = CONFIG.pixel_scale * TRUTH["source_scale"]
    latent = torch.tensor([[TRUTH[f"source_z{i}"] for i in range(4)]], dtype=torch.float64)
    tensors = {"lens": {k: columns[f"lens_{k}"][None] for k in ("theta_E", "e1", "e2", "center_x", "center_y")},
               "shear": {k: columns[f"shear_{k}"][None] for k in ("gamma1", "gamma2")}, "subhalos": [],
               "source": {"center_x": columns["source_center_x"][None], "center_y": columns["source_center_y"][None],
                          "amp": torch.tensor([5.0 / pixel**2], dtype=torch.float64)},
               "source_image": decoder.decode(latent)}
    layout = model.layout.__class__(**{**model.layout.__dict__, "source_image_scale": pixel})
    np.testing.assert_allclose(model.render(theta).numpy(), render_tensors(tensors, layout).numpy(), rtol=1e-12, atol=1e-14)


def test_likelihood_gradient_in_the_latent_matches_finite_differences(decoder):
    model = LensImageModel("sie", OBSERVATION, source_decoder=decoder)
    space = model_prior(model.names, PRIORS)
    truth = _theta(model, TRUTH)
    clean = model.render(truth).detach()
    data = clean + 0.05 * torch.as_tensor(np.random.default_rng(3).standard_normal(clean.shape))
    posterior = ImagePosterior(model, space, data, NoiseModel("gaussian", torch.tensor([0.05], dtype=torch.float64)), truth)
    u = space.to_unconstrained(truth).clone().requires_grad_(True)
    posterior.log_likelihood(u).sum().backward()
    step = 1e-5
    for name in ("source_z0", "source_z1", "source_z2", "source_z3", "source_scale", "lens_theta_E"):
        i = space.index(name)
        shift = torch.zeros_like(u)
        shift[0, i] = step
        with torch.no_grad():
            numeric = (posterior.log_likelihood(u + shift) - posterior.log_likelihood(u - shift)) / (2 * step)
        assert float(u.grad[0, i]) == pytest.approx(float(numeric), rel=1e-5, abs=1e-6), name
    assert float(u.grad[0, space.index("source_z0")]) != 0.0


def test_map_on_a_noiseless_vae_mock_recovers_the_lens(decoder):
    model = LensImageModel("sie", OBSERVATION, source_decoder=decoder)
    space = model_prior(model.names, PRIORS)
    truth = _theta(model, TRUTH)
    data = model.render(truth).detach()
    sigma = float(data.pow(2).sum().sqrt()) / 1000.0  # SNR 1000: the likelihood dominates the prior
    posterior = ImagePosterior(model, space, data, NoiseModel("gaussian", torch.tensor([sigma], dtype=torch.float64)), truth)
    rng = np.random.default_rng(4)
    start = space.to_unconstrained(truth)[None] + torch.as_tensor(rng.normal(0, 0.3, (1, 3, len(space))))
    result = fit_map(posterior, 3, rng, adam_steps=150, adam_lr=0.03, lbfgs_steps=150, initial_u=start)
    fitted = dict(zip(space.names, result.theta[0].tolist()))
    assert fitted["lens_theta_E"] == pytest.approx(TRUTH["lens_theta_E"], rel=2e-3)
    for name in ("lens_e1", "lens_e2", "lens_center_x", "lens_center_y"):
        assert fitted[name] == pytest.approx(TRUTH[name], abs=5e-3), name


def test_training_is_reproducible_from_its_seeds():
    images = sersic_mixture_images(32, 8, 0.1, seed=7)
    weights = []
    for _ in range(2):
        torch.manual_seed(11)
        model = SourceVAE(VaeConfig(npix=8, pixel_scale=0.1, latent_dim=2, width=2))
        train_vae(model, images, steps=5, batch_size=8, lr=1e-3, sigma=1.0, beta=1.0, seed=3)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
