"""Half-light radius and flux (:mod:`lensbench.scoring.measure`) against analytic profiles."""

from __future__ import annotations

import numpy as np
import pytest

from lensbench.scoring.measure import half_light_radius_and_flux


def gaussian(sigma_px: float, amplitude: float, centre=(31.5, 31.5), size=64) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    return amplitude * np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2 * sigma_px**2))


@pytest.mark.parametrize("sigma", [2.0, 4.0, 6.0])
def test_gaussian_half_light_radius_and_flux_are_the_analytic_ones(sigma):
    """A circular Gaussian encloses half its light within sigma sqrt(2 ln 2) and holds
    2 pi sigma^2 A in all."""
    radius, flux = half_light_radius_and_flux(gaussian(sigma, 3.0)[None])
    assert radius[0] == pytest.approx(sigma * np.sqrt(2 * np.log(2)), rel=0.03)
    assert flux[0] == pytest.approx(2 * np.pi * sigma**2 * 3.0, rel=0.01)


def test_sky_level_and_noise_do_not_bias_the_measurement():
    rng = np.random.default_rng(0)
    image = gaussian(4.0, 3.0, centre=(30.0, 34.0)) + 0.2 + rng.normal(0.0, 0.01, (64, 64))
    radius, flux = half_light_radius_and_flux(image[None])
    assert radius[0] == pytest.approx(4.0 * np.sqrt(2 * np.log(2)), rel=0.05)
    assert flux[0] == pytest.approx(2 * np.pi * 16 * 3.0, rel=0.03)


def test_an_empty_image_has_no_radius():
    radius, flux = half_light_radius_and_flux(np.zeros((1, 32, 32)))
    assert np.isnan(radius[0]) and flux[0] == 0
