"""The network-input representations of HEALPix maps: pixel coverage, signal power kept, geometry."""

from __future__ import annotations

import healpy as hp
import numpy as np
import pytest

from lensbench.simulate.astrometric import AstrometricConfig, observe, SCENARIOS, signal_part
from lensbench.simulate.sky_projection import (
    PROJECTIONS,
    coverage,
    input_shape,
    kept_power_fraction,
    pixel_directions,
    project,
    projection_matrix,
)

NSIDE = 32  # the paper's data grid: 12,288 pixels


def _smooth_map(seed: int) -> np.ndarray:
    """(2, npix) a smooth random field (4 deg FWHM), like the lensing of a few subhalos."""
    rng = np.random.default_rng(seed)
    return np.stack([hp.smoothing(rng.standard_normal(hp.nside2npix(NSIDE)), fwhm=np.radians(4.0))
                     for _ in range(2)])


def test_nearest_drops_data_pixels_and_area_weighted_uses_every_one():
    assert coverage("nearest", NSIDE, 64, 128).sum() == 6777  # the old 2 x 64 x 128 image
    assert coverage("area_weighted", NSIDE, 80, 160).all()
    assert coverage("healpix_faces", NSIDE, 0, 0).all()


def test_power_kept_by_each_representation():
    maps = np.stack([_smooth_map(1), _smooth_map(2)])
    white = np.random.default_rng(3).standard_normal((2, 2, hp.nside2npix(NSIDE)))
    assert np.all(kept_power_fraction(maps, "area_weighted", 80, 160) >= 0.99)
    assert np.all(kept_power_fraction(white, "area_weighted", 80, 160) >= 0.999)  # even for white noise
    np.testing.assert_allclose(kept_power_fraction(white, "healpix_faces", 0, 0), 1.0, atol=1e-9)
    # nearest keeps exactly the power of the pixels it samples
    sampled = coverage("nearest", NSIDE, 64, 128)
    expected = (white[..., sampled] ** 2).sum(axis=(1, 2)) / (white**2).sum(axis=(1, 2))
    np.testing.assert_allclose(kept_power_fraction(white, "nearest", 64, 128), expected, rtol=1e-6)
    assert np.all(expected < 0.6)


def test_area_weighted_rows_are_means_over_equal_areas():
    matrix = projection_matrix("area_weighted", NSIDE, 80, 160)
    np.testing.assert_allclose(np.asarray(matrix.sum(axis=1)).ravel(), 1.0)
    constant = np.full((2, hp.nside2npix(NSIDE)), 7.0, dtype=np.float32)
    np.testing.assert_allclose(project(constant, "area_weighted", 80, 160), 7.0, rtol=1e-6)
    # a map equal to sin(latitude) at each pixel centre: each row of the equal-area image is close to
    # the middle of its sin b step
    theta, _ = hp.pix2ang(NSIDE, np.arange(hp.nside2npix(NSIDE)))
    rows = project(np.cos(theta), "area_weighted", 80, 160).mean(axis=1)
    np.testing.assert_allclose(rows, -1 + (2 * np.arange(80) + 1) / 80, atol=0.02)


def test_faces_are_a_permutation_and_directions_match_every_projection():
    index = np.arange(hp.nside2npix(NSIDE), dtype=np.float64)
    faces = project(index, "healpix_faces", 0, 0)
    assert faces.shape == input_shape("healpix_faces", NSIDE, 0, 0) == (12 * NSIDE, NSIDE)
    assert np.array_equal(np.sort(faces.ravel()), index)
    # face 0 of the NESTED scheme: the first nside^2 nested pixels
    assert set(hp.ring2nest(NSIDE, faces[:NSIDE].astype(int)).ravel()) == set(range(NSIDE**2))
    for projection, (h, w) in (("nearest", (16, 32)), ("healpix_faces", (0, 0)), ("area_weighted", (80, 160))):
        directions = pixel_directions(projection, NSIDE, h, w)
        np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0, atol=1e-12)
        if projection != "area_weighted":  # these take the value of the pixel at their centre
            seen = project(index, projection, h, w)
            assert np.array_equal(hp.vec2pix(NSIDE, *np.moveaxis(directions, -1, 0)), seen.astype(int))


def test_observe_uses_the_configured_projection_and_the_signal_key_ignores_it():
    signal = np.zeros((1, 2, hp.nside2npix(NSIDE)), dtype=np.float32)
    for projection in PROJECTIONS:
        config = AstrometricConfig(data_nside=NSIDE, projection=projection, image_height=80, image_width=160)
        images = observe(config, SCENARIOS["D"], signal, False, np.random.default_rng(0))
        assert images.shape == (1, 2) + input_shape(projection, NSIDE, 80, 160)
        assert signal_part(config) == AstrometricConfig(data_nside=NSIDE)
    with pytest.raises(ValueError, match="projection"):
        AstrometricConfig(projection="mollweide")
