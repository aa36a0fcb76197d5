"""Light profiles against lenstronomy, optics against scipy and analytic limits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lenstronomy.LightModel.light_model import LightModel
from scipy import ndimage, signal

from lensbench.physics import light, optics


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(11)
    return rng.uniform(-2, 2, 3000), rng.uniform(-2, 2, 3000)


def as_tensors(kwargs, dtype=torch.float64):
    return {key: torch.tensor([value], dtype=dtype) for key, value in kwargs.items()}


@pytest.mark.parametrize("n_sersic", [0.5, 1.0, 4.0])
@pytest.mark.parametrize("e1e2", [(0.0, 0.0), (0.3, -0.2), (-0.15, 0.4)])
def test_sersic_matches_lenstronomy(points, n_sersic, e1e2):
    x, y = points
    kwargs = dict(amp=12.0, R_sersic=0.3, n_sersic=n_sersic, e1=e1e2[0], e2=e1e2[1], center_x=0.1, center_y=-0.2)
    reference = LightModel(["SERSIC_ELLIPSE"]).surface_brightness(x, y, [kwargs])
    ours = light.sersic_ellipse(torch.tensor(x)[None], torch.tensor(y)[None], **as_tensors(kwargs))[0].numpy()
    positive = reference > 1e-250
    assert np.max(np.abs(ours[positive] - reference[positive]) / reference[positive]) < 1e-10
    ours32 = light.sersic_ellipse(
        torch.tensor(x, dtype=torch.float32)[None], torch.tensor(y, dtype=torch.float32)[None], **as_tensors(kwargs, torch.float32)
    )[0].double().numpy()
    assert np.max(np.abs(ours32 - reference)) < 1e-5 * reference.max()  # float32, relative to the peak


def test_sersic_amplitude_is_the_brightness_at_the_half_light_radius():
    radius = torch.tensor([[0.37]], dtype=torch.float64)
    value = light.sersic_ellipse(radius, torch.zeros_like(radius), 5.0, 0.37, 2.5, 0.0, 0.0)
    assert value.item() == pytest.approx(5.0, rel=1e-14)


def test_gaussian_matches_lenstronomy_and_integrates_to_amp(points):
    x, y = points
    kwargs = dict(amp=3.0, sigma=0.25, center_x=0.2, center_y=0.1)
    reference = LightModel(["GAUSSIAN"]).surface_brightness(x, y, [kwargs])
    ours = light.gaussian(torch.tensor(x)[None], torch.tensor(y)[None], **as_tensors(kwargs))[0].numpy()
    assert np.allclose(ours, reference, rtol=1e-12, atol=0)
    gx, gy = optics.pixel_grid(200, 0.02)
    total = light.gaussian(gx[None], gy[None], 3.0, 0.25, 0.0, 0.0).sum().item() * 0.02**2
    assert total == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("shape,scale", [((20, 20), 0.05), ((15, 24), 0.03)])
def test_interpolated_image_matches_lenstronomy_interpol(shape, scale):
    rng = np.random.default_rng(5)
    image = rng.random(shape)
    kwargs = dict(image=image, amp=1.7, center_x=0.05, center_y=-0.03, phi_G=0.0, scale=scale)
    x, y = rng.uniform(-0.8, 0.8, 4000), rng.uniform(-0.8, 0.8, 4000)  # inside, at the edge and outside
    reference = LightModel(["INTERPOL"]).surface_brightness(x, y, [kwargs])
    ours = light.interpolated_image(
        torch.tensor(x)[None], torch.tensor(y)[None], torch.tensor(image)[None], scale, 0.05, -0.03, 1.7
    )[0].numpy()
    assert np.max(np.abs(ours - reference)) < 1e-12 * np.abs(reference).max()
    assert np.any(reference == 0) and np.any(reference > 0)  # the points did cover both regions


def test_pixel_grid_is_centred_and_supersampled_consistently():
    x, y = optics.pixel_grid(4, 0.5)
    assert torch.allclose(x[0], torch.tensor([-0.75, -0.25, 0.25, 0.75], dtype=torch.float64))
    assert torch.allclose(y[:, 0], x[0]) and torch.all(y[0] == y[0, 0])  # rows are y
    xs, _ = optics.pixel_grid(4, 0.5, supersampling=3)
    binned = optics.bin_supersampled(xs[None], 3)[0]
    assert torch.allclose(binned, x)  # sub-pixel centres average to the pixel centre


@pytest.mark.parametrize("fwhm,pixel_scale", [(0.1, 0.08), (0.16, 0.101), (0.3, 0.05)])
def test_gaussian_psf_matches_scipy_gaussian_filter(fwhm, pixel_scale):
    """lenstronomy's GAUSSIAN PSF is scipy's gaussian_filter(mode='nearest', truncate=5)."""
    rng = np.random.default_rng(2)
    images = rng.random((3, 33, 40))
    sigma = fwhm / optics.FWHM_PER_SIGMA / pixel_scale
    reference = np.stack([ndimage.gaussian_filter(im, sigma, mode="nearest", truncate=5.0) for im in images])
    ours = optics.convolve_gaussian(torch.tensor(images), fwhm, pixel_scale).numpy()
    assert np.max(np.abs(ours - reference)) < 1e-13
    assert ours.sum() == pytest.approx(images.sum(), rel=0.05)  # nearly flux-conserving


def test_pixel_psf_fft_matches_scipy_fftconvolve():
    rng = np.random.default_rng(4)
    images = rng.random((2, 30, 30))
    kernel = rng.random((7, 7))
    kernel /= kernel.sum()
    reference = np.stack([signal.fftconvolve(im, kernel, mode="same") for im in images])
    ours = optics.convolve_kernel_fft(torch.tensor(images), torch.tensor(kernel)).numpy()
    assert np.max(np.abs(ours - reference)) < 1e-13


def test_point_source_through_pixel_psf_reproduces_the_kernel():
    kernel = torch.zeros(5, 5, dtype=torch.float64)
    kernel[1, 3], kernel[2, 2], kernel[4, 0] = 0.2, 0.5, 0.3  # asymmetric: catches flips
    image = torch.zeros(1, 11, 11, dtype=torch.float64)
    image[0, 5, 5] = 1.0
    out = optics.convolve_kernel_fft(image, kernel)[0]
    assert torch.allclose(out[3:8, 3:8], kernel, atol=1e-14)


def test_apply_psf_prefers_the_pixel_kernel():
    image = torch.zeros(1, 9, 9, dtype=torch.float64)
    image[0, 4, 4] = 1.0
    delta = torch.zeros(3, 3, dtype=torch.float64)
    delta[1, 1] = 1.0
    assert torch.allclose(optics.apply_psf(image, 0.1, psf_fwhm=0.3, psf_kernel=delta), image)
    assert not torch.allclose(optics.apply_psf(image, 0.1, psf_fwhm=0.3), image)
    assert torch.equal(optics.apply_psf(image, 0.1), image)


def test_gaussian_kernel_width_follows_scipy_radius_rule():
    kernel = optics.gaussian_kernel_1d(0.1, 0.08)
    sigma = 0.1 / optics.FWHM_PER_SIGMA / 0.08
    assert kernel.numel() == 2 * int(5 * sigma + 0.5) + 1
    assert kernel.sum().item() == pytest.approx(1.0, abs=1e-15)
