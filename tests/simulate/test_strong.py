"""The strong_lensing and galaxy kinds: shapes, units, determinism, and agreement of the two backends."""

import numpy as np
import pytest

from lensbench.simulate import galaxy, noise, strong
from lensbench.simulate.priors import Prior
from lensbench.simulate.substructure import POPULATION_KEYS, PopulationConfig


@pytest.fixture(autouse=True)
def eager_torch(monkeypatch):
    """Tests render a few tiny batches: skip torch.compile's seconds of compilation per shape."""
    monkeypatch.setenv("LENSBENCH_NO_COMPILE", "1")


def _small(survey: strong.StrongLensingSurvey, npix: int = 32) -> strong.StrongLensingSurvey:
    return strong.StrongLensingSurvey(**{**survey.__dict__, "npix": npix})


def _fixed(value):
    return Prior("fixed", value=value)


def brehmer_config(backend="torch") -> strong.StrongLensingConfig:
    """Brehmer+19: SIS from sigma_v ~ N(225, 50), z_l = 10^N(-0.25, 0.25) < 1, NFW subhalos by f_sub."""
    ln10 = np.log(10.0)
    priors = {
        "z_lens": Prior("lognormal", mu=-0.25 * ln10, sigma=0.25 * ln10, high=1.0),
        "z_source": _fixed(1.5),
        "lens_sigma_v": Prior("normal", mu=225.0, sigma=50.0, low=100.0),
        "source_magnitude": _fixed(23.0), "source_R_sersic": _fixed(0.2), "source_n_sersic": _fixed(1.0),
        "source_center_x": Prior("normal", mu=0.0, sigma=0.2), "source_center_y": Prior("normal", mu=0.0, sigma=0.2),
    }
    population = PopulationConfig(kind="cdm", profile="nfw", count_mode="f_sub",
                                  f_sub=Prior("uniform", low=0.001, high=0.2), slope=Prior("uniform", low=-2.5, high=-1.5),
                                  m_min=1e7, m_max_host_fraction=0.01, radius_unit="theta_E", r_min=0.0, r_max=2.0)
    return strong.StrongLensingConfig(backend=backend, lens_profile="sis", shear=False, priors=priors, h0=67.7,
                                      omega_m=0.307, classes={"cdm": population}, regression=population, max_subhalos=1500)


def ko_config(backend="torch") -> strong.StrongLensingConfig:
    """Ko (2024) Table I: EPL + polar shear + lens light, source amplitude = lens amplitude x U(0, 1)."""
    normal = lambda sigma: Prior("normal", mu=0.0, sigma=sigma)  # noqa: E731
    priors = {
        "lens_theta_E": _fixed(1.0), "lens_gamma": Prior("lognormal", mu=0.7, sigma=0.1),
        "lens_center_x": normal(0.102), "lens_center_y": normal(0.102), "lens_e1": normal(0.2), "lens_e2": normal(0.2),
        "shear_gamma_ext": Prior("lognormal", mu=-2.73, sigma=1.05),
        "shear_phi_ext": Prior("uniform", low=-np.pi / 2, high=np.pi / 2),
        "lens_light_amp": Prior("uniform", low=1.0, high=15.0),
        "lens_light_R_sersic": Prior("lognormal", mu=-0.7, sigma=0.4), "lens_light_n_sersic": Prior("lognormal", mu=0.7, sigma=0.4),
        "source_amp_ratio": Prior("uniform", low=0.0, high=1.0),
        "source_R_sersic": Prior("lognormal", mu=-0.7, sigma=0.4), "source_n_sersic": Prior("lognormal", mu=0.7, sigma=0.4),
        "source_center_x": normal(0.102), "source_center_y": normal(0.102), "source_e1": normal(0.2), "source_e2": normal(0.2),
    }
    classes = {"no_halo": PopulationConfig(kind="none"), "halo": PopulationConfig(kind="halo")}
    return strong.StrongLensingConfig(backend=backend, lens_profile="epl", shear=True, lens_light=True, priors=priors,
                                      classes=classes, regression=PopulationConfig(kind="halo"), max_subhalos=1)


def test_deeplense_classes_shapes_and_labels():
    config = strong.StrongLensingConfig()
    survey = _small(strong.SURVEY_PRESETS["euclid"])
    assert strong.class_names(config) == ["no_sub", "cdm", "vortex"]
    keys = None
    for class_name in strong.class_names(config) + [None]:
        images, params = strong.simulate_batch(config, survey, class_name, 3, np.random.default_rng(0))
        assert images.dtype == np.float32 and images.shape == (3, 1, 32, 32)
        assert np.all(np.isfinite(images))
        assert all(value.shape[0] == 3 for value in params.values())
        assert set(POPULATION_KEYS) <= set(params)
        keys = keys or set(params)
        assert set(params) == keys  # same schema for every class: shards stack
    assert np.all(params["axion_mass"] > 0) and np.all(params["subhalo_count"] == 100)


def test_same_seed_same_bytes_and_parameters_first():
    config = strong.StrongLensingConfig()
    survey = _small(strong.SURVEY_PRESETS["hst"])
    first = strong.simulate_batch(config, survey, "cdm", 4, np.random.default_rng(11))
    second = strong.simulate_batch(config, survey, "cdm", 4, np.random.default_rng(11))
    assert first[0].tobytes() == second[0].tobytes()
    for key in first[1]:
        assert first[1][key].tobytes() == second[1][key].tobytes()
    other = strong.simulate_batch(config, survey, "cdm", 4, np.random.default_rng(12))
    assert first[0].tobytes() != other[0].tobytes()
    # parameters are drawn before the noise: draw_scene alone consumes the same stream prefix
    _, params = strong.draw_scene(config, survey, "cdm", 4, np.random.default_rng(11))
    np.testing.assert_array_equal(params["subhalo_mass"], first[1]["subhalo_mass"])


@pytest.mark.parametrize("make_config,class_name", [(strong.StrongLensingConfig, "cdm"), (strong.StrongLensingConfig, "vortex"),
                                                    (brehmer_config, "cdm"), (ko_config, "halo")])
def test_backends_agree_on_the_same_parameters(make_config, class_name):
    survey = _small(strong.SURVEY_PRESETS["hst"])
    scenes = {}
    for backend in ("torch", "lenstronomy"):
        config = make_config(backend=backend)
        scenes[backend], params = strong.draw_scene(config, survey, class_name, 3, np.random.default_rng(5))
        scenes[backend + "_params"] = params
    for key, value in scenes["torch_params"].items():
        assert value.tobytes() == scenes["lenstronomy_params"][key].tobytes()
    torch_images = strong.render(scenes["torch"], survey.observation(), "torch")
    reference = strong.render(scenes["lenstronomy"], survey.observation(), "lenstronomy")
    scale = reference.max(axis=(1, 2), keepdims=True)
    assert np.max(np.abs(torch_images - reference) / scale) < 2e-3


def test_brehmer_population_and_sky():
    config = brehmer_config()
    survey = _small(strong.SURVEY_PRESETS["brehmer"])
    images, params = strong.simulate_batch(config, survey, None, 6, np.random.default_rng(2))
    assert np.all(params["z_lens"] < 1.0)
    # theta_E = 4 pi (sigma_v / c)^2 D_ls / D_s < 4 pi (sigma_v / c)^2 (radians -> arcsec)
    assert np.all(params["lens_theta_E"] < 4 * np.pi * (params["lens_sigma_v"] / 299792.458) ** 2 * 206264.8)
    assert np.all(params["lens_theta_E"] > 0.1)
    assert np.all(params["host_m200"] > 1e11)
    assert np.all(params["subhalo_count"] > 0)
    r = np.hypot(params["subhalo_x"], params["subhalo_y"])
    assert np.all(np.nanmax(r, axis=1) < 2 * params["lens_theta_E"])
    # the sky stays in the image (Brehmer+19): noisy minus noiseless averages to the sky level
    sky = survey.sky_level()
    assert sky == pytest.approx(noise.magnitude_to_counts(22.8, 25.5) * 0.01)
    scene, _ = strong.draw_scene(config, survey, None, 6, np.random.default_rng(2))
    noiseless = strong.render(scene, survey.observation(), "torch")
    assert (images[:, 0] - noiseless).mean() == pytest.approx(sky, rel=0.02)


def test_ko_halo_and_shear_polar():
    config = ko_config()
    survey = _small(strong.SURVEY_PRESETS["hst"])
    _, params = strong.draw_scene(config, survey, "halo", 200, np.random.default_rng(4))
    np.testing.assert_allclose(np.hypot(params["shear_gamma1"], params["shear_gamma2"]), params["shear_gamma_ext"])
    np.testing.assert_allclose(params["source_amp"], params["source_amp_ratio"] * params["lens_light_amp"])
    assert np.all(params["halo_Rs"] >= 10)
    _, params = strong.draw_scene(config, survey, "no_halo", 5, np.random.default_rng(4))
    assert np.all(np.isnan(params["halo_Rs"])) and np.all(params["subhalo_count"] == 0)


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="unknown prior 'lens_thetaE'"):
        strong.StrongLensingConfig(priors={**strong.StrongLensingConfig().priors, "lens_thetaE": _fixed(1.0)})
    with pytest.raises(ValueError, match="exactly one of lens_theta_E"):
        strong.StrongLensingConfig(priors={**strong.StrongLensingConfig().priors, "lens_theta_E": _fixed(1.0)})
    with pytest.raises(ValueError, match="exceed max_subhalos"):
        strong.StrongLensingConfig(max_subhalos=50)
    with pytest.raises(ValueError, match="needs the host's M200"):
        strong.StrongLensingConfig(classes={"cdm": PopulationConfig(kind="cdm", count_mode="f_sub")})
    with pytest.raises(ValueError, match="unknown class 'axion'"):
        strong.simulate_batch(strong.StrongLensingConfig(), strong.SURVEY_PRESETS["hst"], "axion", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="pixel_scale must be > 0"):
        strong.StrongLensingSurvey(pixel_scale=0.0)


def test_survey_background_matches_lenstronomy_presets():
    from lenstronomy.SimulationAPI.ObservationConfig.Euclid import Euclid
    from lenstronomy.SimulationAPI.ObservationConfig.HST import HST
    from lenstronomy.SimulationAPI.observation_api import SingleBand

    for name, reference in (("hst", HST(band="WFC3_F160W", psf_type="GAUSSIAN")), ("euclid", Euclid(band="VIS"))):
        band = SingleBand(**reference.kwargs_single_band())
        survey = strong.SURVEY_PRESETS[name]
        assert survey.background_sigma() == pytest.approx(band.background_noise)
        assert survey.total_exposure == pytest.approx(band.exposure_time)
        assert survey.pixel_scale == band.pixel_scale


def test_galaxy_kind_shapes_units_and_classes():
    config = galaxy.GalaxyConfig(priors={"galaxy_magnitude": _fixed(21.0), "galaxy_R_sersic": _fixed(0.15),
                                         "galaxy_n_sersic": _fixed(1.0)})
    survey = galaxy.SURVEY_PRESETS["cosmos"]
    assert galaxy.class_names(config) == ["no_halo", "halo"]
    scenes = {name: galaxy.draw_scene(config, survey, name, 4, np.random.default_rng(9)) for name in ("no_halo", "halo")}
    plain = strong.render(scenes["no_halo"][0], survey.observation(), "torch")
    # units: a 21 mag galaxy gives 10^(-0.4 (21 - 25.94)) counts/s, nearly all inside the 1.9" stamp
    assert plain.sum(axis=(1, 2)) == pytest.approx(np.full(4, noise.magnitude_to_counts(21.0, 25.94)), rel=0.03)
    lensed = strong.render(scenes["halo"][0], survey.observation(), "torch")
    assert not np.allclose(lensed, plain)  # the halo magnifies and shifts the light
    assert np.all(np.isnan(scenes["no_halo"][1]["halo_Rs"]))
    assert np.all(scenes["halo"][1]["halo_Rs"] >= 10)
    images, params = galaxy.simulate_batch(galaxy.GalaxyConfig(), survey, None, 3, np.random.default_rng(1))
    assert images.shape == (3, 1, 64, 64) and images.dtype == np.float32
    assert np.all(params["subhalo_count"] == 1)
    again, _ = galaxy.simulate_batch(galaxy.GalaxyConfig(), survey, None, 3, np.random.default_rng(1))
    assert images.tobytes() == again.tobytes()
