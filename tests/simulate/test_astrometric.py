"""The Milky-Way subhalo population, the HEALPix signal maps and the survey observation stage."""

import math
from dataclasses import replace

import healpy as hp
import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from lensbench.execution import NO_COMPILE_ENV, ExecutionConfig
from lensbench.physics.astrometry import (
    SERIES_MIN_X,
    _arcsin_ratio_coefficients,
    nfw_cylinder_series,
    nfw_projected_mass,
    nfw_projected_mass_far,
)
from lensbench.simulate.astrometric import (
    FAR_MIN_X,
    SCENARIOS,
    AstrometricConfig,
    AstrometricSurvey,
    data_maps,
    mollweide,
    observe,
    pair_field,
    signal_field_nested,
    simulate_signal,
    sky_basis,
    _candidate_pairs,
    _rows_beyond,
    _grid,
    _lens_table,
)
from lensbench.simulate.sky_projection import project
from lensbench.simulate.milky_way import (
    MilkyWayPopulation,
    concentration,
    expected_subhalo_count,
    sample_halo_velocities,
    sample_masses,
    sample_population,
    sample_radii,
)

PAPER = MilkyWayPopulation()
FEW_SUBHALOS = MilkyWayPopulation(mass_min=1e9)  # ~19 subhalos: fast maps
EAGER_BLOCKS_8 = ExecutionConfig(compile=False, block_nside=8)
"""Engine options of most tests: no compilation, blocks of nside 8."""


def test_subhalo_count_follows_eq9_normalisation():
    expected = 150 * (1e7**-0.9 - 1e10**-0.9) / (1e8**-0.9 - 1e10**-0.9)
    assert expected_subhalo_count(PAPER) == pytest.approx(expected, rel=1e-12)
    assert 1150 < expected < 1250
    counts = [len(sample_population(PAPER, np.random.default_rng(seed))["m200"]) for seed in range(3)]
    assert all(abs(n - expected) < 5 * math.sqrt(expected) for n in counts)
    fixed = replace(PAPER, poisson_count=False)
    assert len(sample_population(fixed, np.random.default_rng(0))["m200"]) == round(expected)


def test_mass_function_slope_and_range():
    masses = sample_masses(PAPER, 20000, np.random.default_rng(1))
    assert masses.min() >= 1e7 and masses.max() <= 1e10
    cdf = lambda m: (1e7**-0.9 - m**-0.9) / (1e7**-0.9 - 1e10**-0.9)
    assert stats.kstest(masses, cdf).pvalue > 1e-3
    # Maximum-likelihood slope of a power law truncated at [1e7, 1e10], by a 1-D scan.
    slopes = np.linspace(1.7, 2.1, 401)
    log_likelihood = [
        -a * np.log(masses).sum() - len(masses) * np.log((1e7 ** (1 - a) - 1e10 ** (1 - a)) / (a - 1)) for a in slopes
    ]
    assert slopes[int(np.argmax(log_likelihood))] == pytest.approx(1.9, abs=0.03)


def test_einasto_radii_match_numerical_cdf():
    radii = sample_radii(PAPER, 5000, np.random.default_rng(2))
    assert radii.min() >= 0 and radii.max() <= 260
    density = lambda r: r**2 * np.exp(-2 / 0.678 * ((r / 199.0) ** 0.678 - 1))
    norm = integrate.quad(density, 0, 260)[0]
    cdf = np.vectorize(lambda r: integrate.quad(density, 0, r)[0] / norm)
    grid = np.linspace(0, 260, 1001)
    table = cdf(grid)
    assert stats.kstest(radii, lambda r: np.interp(r, grid, table)).pvalue > 1e-3


def test_halo_speeds_are_truncated_3d_maxwellian():
    velocities = sample_halo_velocities(PAPER, 20000, np.random.default_rng(3))
    speeds = np.linalg.norm(velocities, axis=1)
    assert speeds.max() < 550.0
    x_esc = 550.0 / 220.0
    norm = special.erf(x_esc) - 2 / np.sqrt(np.pi) * x_esc * np.exp(-(x_esc**2))
    cdf = lambda v: (special.erf(v / 220.0) - 2 / np.sqrt(np.pi) * (v / 220.0) * np.exp(-((v / 220.0) ** 2))) / norm
    assert stats.kstest(speeds, cdf).pvalue > 1e-3
    assert np.all(np.abs(velocities.mean(axis=0)) < 5 * 220 / math.sqrt(2 * 20000))


def test_population_geometry_and_sun_frame():
    population = sample_population(PAPER, np.random.default_rng(4))
    galactocentric = population["position"] - np.array([8.3, 0.0, 0.0])
    np.testing.assert_allclose(np.linalg.norm(galactocentric, axis=1), population["galactocentric_radius"], rtol=1e-12)
    np.testing.assert_allclose(population["velocity"], population["galactic_velocity"] - [11.0, 232.0, 7.0])
    direction = hp.ang2vec(population["l_deg"], population["b_deg"], lonlat=True)
    np.testing.assert_allclose(direction * population["distance"][:, None], population["position"], atol=1e-9)


def test_concentration_is_eq14_polynomial():
    masses = np.array([1e7, 1e8, 1e9, 1e10])
    x = np.log(masses * 0.7)
    coefficients = [37.5153, -1.5093, 1.636e-2, 3.66e-4, -2.89237e-5, 5.32e-7]
    expected = sum(c * x**i for i, c in enumerate(coefficients))
    np.testing.assert_allclose(concentration(masses, PAPER), expected, rtol=1e-12)
    assert np.all(np.diff(expected) < 0) and 10 < expected.min() and expected.max() < 30


@pytest.mark.parametrize("bad", [{"v0": 600.0}, {"radius_max": -1.0}, {"mass_min": 1e11}, {"sun_velocity": (1.0, 2.0)}])
def test_population_options_are_checked(bad):
    with pytest.raises(ValueError):
        MilkyWayPopulation(**bad)


def brute_force_map(config, population):
    """Every pixel against every subhalo with healpy.query_disc selecting the pixels (NESTED, 3-D)."""
    direction, _, _ = sky_basis(config.nside, nest=True)
    total = np.zeros_like(direction)
    for index in range(len(population["m200"])):
        position = population["position"][index]
        pixels = hp.query_disc(config.nside, position, math.radians(config.truncation_deg), nest=True)
        source = tuple(torch.from_numpy(direction[pixels, axis]) for axis in range(3))
        lens = tuple(torch.tensor(position[axis]) for axis in range(3))
        velocity = tuple(torch.tensor(population["velocity"][index, axis]) for axis in range(3))
        field = pair_field(
            config.field, source, lens, velocity, torch.tensor(population["rho_s"][index]), torch.tensor(population["r_s"][index])
        )
        total[pixels] += torch.stack(field, dim=-1).numpy()
    return total


@pytest.mark.parametrize("field", ["deflection", "velocity", "acceleration"])
def test_engine_matches_query_disc_brute_force(field):
    config = AstrometricConfig(population=FEW_SUBHALOS, nside=32, data_nside=16, field=field)
    population = sample_population(FEW_SUBHALOS, np.random.default_rng(5))
    engine, power = signal_field_nested(config, population, ExecutionConfig(compile=False, block_nside=4, chunk_pairs=3000))
    reference = brute_force_map(config, population)
    assert np.array_equal(np.linalg.norm(engine, axis=1) > 0, np.linalg.norm(reference, axis=1) > 0)
    np.testing.assert_allclose(engine, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())
    assert power.shape == (len(population["m200"]),) and np.all(power > 0)


def test_velocity_amplitudes_in_expected_range():
    """NOTES: at nside 32, one population: |u| median ~3e-5, 99th percentile ~5e-4 muas/yr."""
    config = AstrometricConfig(nside=32, data_nside=32)
    population = sample_population(PAPER, np.random.default_rng(6))
    field, _ = signal_field_nested(config, population, EAGER_BLOCKS_8)
    speed = np.linalg.norm(field, axis=1)
    assert 1e-5 < np.median(speed) < 1e-4
    assert 1e-4 < np.percentile(speed, 99) < 3e-3


def test_simulate_signal_shapes_params_and_determinism():
    config = AstrometricConfig(population=FEW_SUBHALOS, nside=32, data_nside=16)
    signal, params = simulate_signal(config, 2, np.random.default_rng(7), execution=EAGER_BLOCKS_8)
    again, params_again = simulate_signal(config, 2, np.random.default_rng(7), execution=EAGER_BLOCKS_8)
    assert signal.shape == (2, 2, hp.nside2npix(16)) and signal.dtype == np.float32
    assert signal.tobytes() == again.tobytes()
    assert set(params) == {"n_subhalos", "top_l_deg", "top_b_deg", "top_m200", "top_distance_kpc", "top_signal_power"}
    assert params["top_l_deg"].shape == (2, 10)
    for key in params:
        np.testing.assert_array_equal(params[key], params_again[key])
    power = params["top_signal_power"]
    finite = np.isfinite(power)
    assert finite.sum(axis=1).tolist() == np.minimum(params["n_subhalos"], 10).tolist()
    assert np.all(np.diff(np.where(finite, power, -np.inf), axis=1)[finite[:, 1:]] <= 0)
    assert not np.array_equal(signal[0], signal[1])  # each map draws a new population


def test_degraded_signal_is_the_mean_of_subpixels():
    config = AstrometricConfig(population=FEW_SUBHALOS, nside=32, data_nside=16)
    population = sample_population(FEW_SUBHALOS, np.random.default_rng(8))
    fine, _ = signal_field_nested(config, population, EAGER_BLOCKS_8)
    signal, _ = simulate_signal(config, 1, np.random.default_rng(8), execution=EAGER_BLOCKS_8)
    npix = hp.nside2npix(16)
    ring_of_nested = hp.nest2ring(16, np.arange(npix))
    mean_vectors = fine.reshape(npix, 4, 3).mean(axis=1)
    _, e_l, _ = sky_basis(16)
    expected_l = np.empty(npix)
    expected_l[ring_of_nested] = np.sum(mean_vectors * e_l[ring_of_nested], axis=1)
    np.testing.assert_allclose(signal[0, 0], expected_l, rtol=1e-5, atol=1e-7 * np.abs(expected_l).max())


def test_observation_noise_model_and_negative_class():
    config = AstrometricConfig(data_nside=32)
    npix = hp.nside2npix(32)
    signal = np.random.default_rng(9).normal(size=(3, 2, npix)).astype(np.float32)
    survey = SCENARIOS["C"]
    noise_only = data_maps(config, survey, signal, False, np.random.default_rng(10))
    with_signal = data_maps(config, survey, signal, True, np.random.default_rng(10))
    expected_sigma = 1.0 / math.sqrt(1e9 / npix)
    assert np.std(noise_only) == pytest.approx(expected_sigma, rel=0.02)
    np.testing.assert_allclose(with_signal - signal, noise_only, atol=1e-6)
    images = observe(config, survey, signal, True, np.random.default_rng(10))
    assert images.shape == (3, 2, 64, 128) and images.dtype == np.float32
    again = observe(config, survey, signal, True, np.random.default_rng(10))
    assert images.tobytes() == again.tobytes()


def test_empty_pixels_hold_zero():
    config = AstrometricConfig(data_nside=32)
    signal = np.ones((1, 2, hp.nside2npix(32)), dtype=np.float32)
    sparse = AstrometricSurvey(n_quasars=3000, sigma_u=1.0)
    maps = data_maps(config, sparse, signal, True, np.random.default_rng(11))
    empty = np.all(maps == 0, axis=1)
    assert 0.7 < empty.mean() < 0.85  # P(n_q = 0) = exp(-3000/12288) = 0.78
    assert np.all(maps[:, :, ~empty[0]] != 0)


def test_scenarios_table1_and_per_pixel_noise():
    assert {name: (s.n_quasars, s.sigma_u) for name, s in SCENARIOS.items()} == {
        "A": (1e8, 1.0), "B": (1e8, 0.1), "C": (1e9, 1.0), "D": (1e9, 0.1), "E": (3e9, 1.0)
    }
    per_pixel = {name: s.sigma_u / math.sqrt(s.n_quasars / 12288) for name, s in SCENARIOS.items()}
    assert per_pixel["A"] == pytest.approx(1.1e-2, rel=0.03) and per_pixel["E"] == pytest.approx(2.0e-3, rel=0.03)
    with pytest.raises(ValueError):
        AstrometricSurvey(n_quasars=0)
    with pytest.raises(ValueError):
        AstrometricConfig(nside=100)
    with pytest.raises(ValueError):
        AstrometricConfig(field="shear")


def test_projection_geometry():
    nside = 16
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)))
    latitude = 90 - np.degrees(theta)
    longitude = np.degrees(phi)
    images = project(np.stack([latitude, longitude]), "nearest", 32, 64)
    assert images.shape == (2, 32, 64)
    assert np.all(np.diff(images[0].mean(axis=1)) > 0)  # row 0 south, rows go north
    assert images[0, 0].max() < -80 and images[0, -1].min() > 80
    equator = images[1, 16]  # longitude decreases to the right: 180 .. 0 | 360 .. 180
    assert np.all(np.diff(equator[:32]) < 0) and np.all(np.diff(equator[32:]) < 0)
    assert equator[31] < 10 and equator[32] > 350 and abs(equator[0] - 180) < 10
    sky = mollweide(latitude, width=200)
    assert sky.shape == (100, 200) and np.isnan(sky[0, 0]) and np.isfinite(sky[50, 100])


def test_far_field_mass_matches_full_nfw_expression():
    """The x > 1 branch used by the engine equals the physics module's eq 2 closed form for x >= FAR_MIN_X."""
    x = torch.from_numpy(np.geomspace(FAR_MIN_X, 1e4, 2000))
    rho_s, r_s = torch.tensor(3e7), torch.tensor(0.7)
    far = nfw_projected_mass_far(x * r_s, rho_s, r_s)
    full = nfw_projected_mass(x * r_s, rho_s, r_s)
    for got, expected in zip(far, full):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10)  # cancellation near x = 1 in both


@pytest.mark.parametrize("min_x", [FAR_MIN_X, SERIES_MIN_X])
def test_rows_beyond_never_hold_a_pixel_inside_min_x(min_x):
    """Every pixel within the truncation of a pair classified beyond min_x has b >= min_x r_s."""
    config = AstrometricConfig(population=MilkyWayPopulation(mass_min=1e8), nside=32)
    population = sample_population(config.population, np.random.default_rng(3))
    grid = _grid(config.nside, 4)
    truncation = math.radians(config.truncation_deg)
    table = _lens_table(population, truncation).numpy()[:-1]
    position = table[:, :3]
    lens, block, cosine = _candidate_pairs(grid, position / np.linalg.norm(position, axis=1, keepdims=True), truncation)
    beyond = _rows_beyond(grid, table, lens, block, cosine, min_x)
    pixels = torch.stack(grid.pixel_vectors, dim=-1).numpy()[block]  # (pairs, P, 3)
    lens_position = position[lens][:, None, :]
    along = (pixels * lens_position).sum(-1)
    inside = along >= math.cos(truncation) * np.linalg.norm(lens_position, axis=-1)
    b = np.linalg.norm(lens_position - along[..., None] * pixels, axis=-1)
    close = inside & (b < min_x * population["r_s"][lens, None])
    assert 0 < (~beyond).sum() < 0.3 * len(beyond)  # both kinds occur, the closer kind is the exception
    assert not close[beyond].any()
    assert close[~beyond].any()


def test_candidate_pairs_hold_every_pixel_inside_the_truncation():
    """The banded float32 block search keeps every (subhalo, pixel) pair that healpy.query_disc finds."""
    config, block_nside = AstrometricConfig(population=PAPER, nside=32), 8
    population = sample_population(PAPER, np.random.default_rng(4))
    grid = _grid(config.nside, block_nside)
    position = population["position"]
    lens, block, _ = _candidate_pairs(grid, position / np.linalg.norm(position, axis=1, keepdims=True), math.radians(20))
    per_block = (config.nside // block_nside) ** 2
    found = set(zip(lens.tolist(), block.tolist()))
    for index, vector in enumerate(position):
        for pixel in hp.query_disc(config.nside, vector, math.radians(20), nest=True):
            assert (index, pixel // per_block) in found
    starts = np.flatnonzero(np.diff(block)) + 1
    assert len(np.unique(block)) == len(starts) + 1  # each block's pairs are consecutive


def test_series_cylinder_terms_match_closed_form():
    """nfw_cylinder_series (no arctangent) equals eq 2's closed form for x >= SERIES_MIN_X."""
    x = torch.from_numpy(np.geomspace(SERIES_MIN_X, 1e6, 5000))
    rho_s, r_s = torch.tensor(3e7, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64)
    full = nfw_projected_mass(x * r_s, rho_s, r_s)
    m0 = 4 * math.pi * rho_s * r_s**3
    terms = nfw_cylinder_series(x * x)
    np.testing.assert_allclose(terms.mass.numpy(), (full.mass / m0).numpy(), rtol=1e-14)
    np.testing.assert_allclose(terms.slope.numpy(), (x * r_s * full.slope / m0).numpy(), rtol=1e-13)
    np.testing.assert_allclose(terms.inverse_x_squared.numpy(), (1 / x**2).numpy(), rtol=1e-15)
    w = np.linspace(0.0, 1 / SERIES_MIN_X, 1001)  # the series itself: arcsin(w)/sqrt(1 - w^2)
    series = sum(a * w ** (2 * k + 1) for k, a in enumerate(_arcsin_ratio_coefficients(12)))
    np.testing.assert_allclose(series, np.arcsin(w) / np.sqrt(1 - w * w), rtol=1e-15, atol=1e-300)


def test_compiled_engine_matches_eager_and_is_reproducible(monkeypatch):
    """The compiled loop (kernel and scatter fused, dynamic shapes) gives the eager result, byte-identical on repeat."""
    monkeypatch.delenv(NO_COMPILE_ENV)  # the test suite renders eagerly; this test is about compiling
    config = AstrometricConfig(population=FEW_SUBHALOS, nside=32, data_nside=16)
    population = sample_population(FEW_SUBHALOS, np.random.default_rng(11))
    eager_options = ExecutionConfig(compile=False, block_nside=4, chunk_pairs=4096)
    eager, eager_power = signal_field_nested(config, population, eager_options)
    compiled = replace(eager_options, compile=True)
    first, first_power = signal_field_nested(config, population, compiled)
    second, second_power = signal_field_nested(config, population, compiled)
    np.testing.assert_allclose(first, eager, rtol=1e-12, atol=1e-14 * np.abs(eager).max())
    np.testing.assert_allclose(first_power, eager_power, rtol=1e-12)
    assert first.tobytes() == second.tobytes() and first_power.tobytes() == second_power.tobytes()
