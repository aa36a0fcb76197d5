"""Substructure populations and noise, checked against lenstronomy, analytic limits and sampling statistics
(the lensing scales they use: tests/physics/test_cosmology.py)."""

import numpy as np
import pytest
from lenstronomy.LightModel.light_model import LightModel
from lenstronomy.Util import data_util
from scipy.optimize import minimize_scalar

from lensbench.physics.cosmology import (
    concentration_scp14,
    lensing_distances,
    nfw_projected_mass_fraction,
    point_mass_einstein_radius,
)
from lensbench.simulate import noise
from lensbench.simulate.priors import Prior
from lensbench.simulate.substructure import (
    POPULATION_KEYS,
    HostLenses,
    PopulationConfig,
    draw_population,
    sample_annulus,
    sample_power_law,
    vortex_length,
)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _hosts(n, theta_e=1.0, m200=None, z_lens=0.5, convention="angular_diameter"):
    distances = lensing_distances(np.full(n, z_lens), 1.0)
    einstein = lensing_distances(np.full(n, z_lens), 1.0, convention=convention)
    m200 = None if m200 is None else np.full(n, m200)
    return HostLenses(np.full(n, theta_e), np.zeros(n), np.zeros(n), m200, distances, einstein)


@pytest.mark.parametrize("slope", [-1.9, -1.0, -0.9])
def test_power_law_slope_recovered(rng, slope):
    low, high = 1e6, 1e10
    masses = sample_power_law(rng.random(20000), slope, low, high)
    assert masses.min() >= low and masses.max() <= high

    def negative_log_likelihood(b):
        a = b + 1.0
        norm = np.log(high / low) if abs(a) < 1e-9 else (high**a - low**a) / a
        return -(b * np.log(masses).sum() - masses.size * np.log(norm))

    fit = minimize_scalar(negative_log_likelihood, bounds=(-3.0, 0.5), method="bounded").x
    assert fit == pytest.approx(slope, abs=0.03)


def test_annulus_positions(rng):
    x, y = sample_annulus(rng, np.full(40000, 0.5), np.full(40000, 2.0), "area")
    r = np.hypot(x, y)
    assert r.min() >= 0.5 and r.max() < 2.0
    # uniform per area: P(r < 1.25) = (1.25^2 - 0.5^2) / (2^2 - 0.5^2) = 0.35
    assert np.mean(r < 1.25) == pytest.approx(0.35, abs=0.01)
    x, y = sample_annulus(rng, np.full(40000, 0.5), np.full(40000, 2.0), "radius")
    assert np.mean(np.hypot(x, y) < 1.25) == pytest.approx(0.5, abs=0.01)


def test_fixed_cdm_population_deeplense(rng):
    config = PopulationConfig(kind="cdm", profile="point_mass", count=25, m_min=1e6, m_max=1e10, r_min=0.25, r_max=2.0)
    drawn = draw_population(config, _hosts(50), rng, max_count=32)
    labels = drawn.labels
    assert set(labels) == set(POPULATION_KEYS)
    assert np.all(labels["subhalo_count"] == 25)
    assert np.all(np.isfinite(labels["subhalo_mass"][:, :25])) and np.all(np.isnan(labels["subhalo_mass"][:, 25:]))
    r = np.hypot(labels["subhalo_x"][:, :25], labels["subhalo_y"][:, :25])
    assert r.min() >= 0.25 and r.max() < 2.0
    (plane,) = drawn.planes
    assert plane.profile == "point_mass" and plane.params["theta_E"].shape == (50, 32)  # padded to 2^k
    assert np.all(plane.mask[:, :25]) and not np.any(plane.mask[:, 25:])
    # the Scene's Einstein radii are the labels' masses converted with the same distances
    expected = point_mass_einstein_radius(labels["subhalo_mass"][:, :25], _hosts(50).einstein_distances)
    np.testing.assert_allclose(plane.params["theta_E"][:, :25], expected)


def test_poisson_count_and_padding(rng):
    config = PopulationConfig(kind="cdm", profile="nfw", count_mode="poisson", count=8.0, m_min=1e7, m_max=1e9)
    drawn = draw_population(config, _hosts(4000), rng, max_count=40)
    counts = drawn.labels["subhalo_count"]
    assert counts.mean() == pytest.approx(8.0, abs=0.15)
    assert counts.var() == pytest.approx(8.0, rel=0.1)
    present = np.isfinite(drawn.labels["subhalo_Rs"])
    np.testing.assert_array_equal(present.sum(axis=1), counts)
    (plane,) = drawn.planes
    np.testing.assert_array_equal(plane.mask.sum(axis=1), counts)
    assert np.all(np.isfinite(plane.params["Rs"])) and np.all(plane.params["Rs"] > 0)


def test_too_many_subhalos_is_an_error(rng):
    config = PopulationConfig(kind="cdm", count_mode="poisson", count=50.0)
    with pytest.raises(ValueError, match="raise max_subhalos"):
        draw_population(config, _hosts(10), rng, max_count=20)


def test_f_sub_normalisation_brehmer(rng):
    """Mean subhalo mass in the ROI over the host's projected mass there equals f_sub (Brehmer+19)."""
    f_sub, n = 0.05, 400
    config = PopulationConfig(kind="cdm", profile="nfw", count_mode="f_sub", f_sub=Prior("fixed", value=f_sub),
                              slope=Prior("fixed", value=-1.9), m_min=1e7, m_max_host_fraction=0.01,
                              radius_unit="theta_E", r_min=0.0, r_max=2.0)
    hosts = _hosts(n, theta_e=0.759, m200=2.07e13, z_lens=10**-0.25)
    drawn = draw_population(config, hosts, rng, max_count=400)
    labels = drawn.labels
    c_host = concentration_scp14(hosts.m200, 0.7)
    roi_mass = hosts.m200 * nfw_projected_mass_fraction(2 * hosts.theta_E, hosts.m200, c_host, hosts.distances)
    realised = np.nansum(labels["subhalo_mass"], axis=1) / roi_mass
    assert realised.mean() == pytest.approx(f_sub, rel=0.1)  # heavy-tailed: ~3 % standard error of the mean
    assert labels["subhalo_count"].mean() == pytest.approx(labels["expected_count"][0], rel=0.02)
    # NOTES: with the host fixed, ~100 subhalos in the disc
    assert 50 < labels["expected_count"][0] < 150
    assert np.nanmax(labels["subhalo_mass"]) <= 0.01 * 2.07e13
    assert np.nanmax(np.hypot(labels["subhalo_x"], labels["subhalo_y"])) < 2 * 0.759


def test_vortex_line_length_scales_with_axion_mass(rng):
    assert vortex_length(1e-24) == pytest.approx(6.0)
    assert vortex_length(1e-22) == pytest.approx(0.06)
    config = PopulationConfig(kind="vortex")
    drawn = draw_population(config, _hosts(200), rng, max_count=100)
    labels = drawn.labels
    m_a = labels["axion_mass"]
    assert m_a.min() >= 1e-24 and m_a.max() <= 1e-22
    x, y = labels["subhalo_x"], labels["subhalo_y"]
    measured = np.hypot(x[:, -1] - x[:, 0], y[:, -1] - y[:, 0])
    np.testing.assert_allclose(measured, 0.06 * 1e-22 / m_a, rtol=1e-10)
    # points are collinear through the lens centre, mass conserved
    np.testing.assert_allclose(x * np.sin(labels["vortex_angle"])[:, None], y * np.cos(labels["vortex_angle"])[:, None], atol=1e-12)
    np.testing.assert_allclose(labels["subhalo_mass"].sum(axis=1), 3e10)


def test_halo_population_ko(rng):
    drawn = draw_population(PopulationConfig(kind="halo"), _hosts(3000), rng, max_count=1)
    labels = drawn.labels
    assert labels["halo_Rs"].min() >= 10 and labels["halo_Rs"].max() <= 100
    assert np.log(labels["halo_alpha_Rs"]).std() == pytest.approx(0.1, rel=0.1)
    assert labels["halo_center_x"].std() == pytest.approx(0.102, rel=0.1)
    (plane,) = drawn.planes
    np.testing.assert_array_equal(plane.params["Rs"][:, 0], labels["halo_Rs"])


def test_none_population_has_full_schema(rng):
    drawn = draw_population(PopulationConfig(kind="none"), _hosts(5), rng, max_count=7)
    assert drawn.planes == ()
    assert set(drawn.labels) == set(POPULATION_KEYS)
    assert drawn.labels["subhalo_mass"].shape == (5, 7) and np.all(drawn.labels["subhalo_count"] == 0)


def test_population_determinism():
    config = PopulationConfig(kind="cdm", count_mode="poisson", count=10.0)
    first = draw_population(config, _hosts(20), np.random.default_rng(7), max_count=40).labels
    second = draw_population(config, _hosts(20), np.random.default_rng(7), max_count=40).labels
    for key in POPULATION_KEYS:
        assert first[key].tobytes() == second[key].tobytes()


def test_population_config_checks():
    with pytest.raises(ValueError, match="unknown kind 'cmd'"):
        PopulationConfig(kind="cmd")
    with pytest.raises(ValueError, match="m_min < m_max"):
        PopulationConfig(kind="cdm", m_min=1e10, m_max=1e6)


def test_photometry_matches_lenstronomy():
    assert noise.magnitude_to_counts(23.0, 25.5) == pytest.approx(data_util.magnitude2cps(23.0, 25.5))
    assert noise.counts_to_magnitude(noise.magnitude_to_counts(21.3, 25.9), 25.9) == pytest.approx(21.3)
    kwargs = {"R_sersic": 0.3, "n_sersic": 2.5, "e1": 0.2, "e2": -0.1, "center_x": 0.0, "center_y": 0.0}
    amp = noise.sersic_amplitude(10.0, kwargs["R_sersic"], kwargs["n_sersic"])
    total = LightModel(["SERSIC_ELLIPSE"]).total_flux([kwargs | {"amp": float(amp)}])[0]
    assert total == pytest.approx(10.0, rel=1e-6)
    ours = noise.background_rms(566.0, 0.101, 4.2, 22.3, 25.72, 4)
    reference = data_util.bkg_noise(4.2, 566.0, data_util.magnitude2cps(22.3, 25.72), 0.101, num_exposures=4)
    assert ours == pytest.approx(reference)


def test_noise_statistics_and_determinism():
    image = np.full((200, 32, 32), 2.0)
    noisy = noise.add_noise(image, 100.0, 0.05, np.random.default_rng(3))
    # variance = image / t + sigma^2
    assert noisy.mean() == pytest.approx(2.0, abs=0.002)
    assert noisy.var() == pytest.approx(2.0 / 100.0 + 0.05**2, rel=0.03)
    again = noise.add_noise(image, 100.0, 0.05, np.random.default_rng(3))
    assert noisy.tobytes() == again.tobytes()
    with_sky = noise.add_noise(np.zeros((100, 16, 16)), 10.0, 0.0, np.random.default_rng(4), sky_level=3.0)
    assert with_sky.mean() == pytest.approx(3.0, abs=0.02)
