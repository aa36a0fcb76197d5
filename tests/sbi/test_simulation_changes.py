"""The simulation changes the likelihood_ratio task relies on: the f_sub definition range, the
sufficient statistics instead of per-subhalo labels, and rendering in count buckets."""

import dataclasses

import numpy as np
import pytest

from lensbench.simulate import strong
from lensbench.simulate.buckets import count_buckets
from lensbench.simulate.priors import Prior
from lensbench.simulate.substructure import PopulationConfig, _power_integral


@pytest.fixture(autouse=True)
def eager_torch(monkeypatch):
    monkeypatch.setenv("LENSBENCH_NO_COMPILE", "1")


def _config(**population) -> strong.StrongLensingConfig:
    """The quick preset's "fix" host with a Brehmer population (point masses: fast to render)."""
    priors = {"z_lens": Prior("fixed", value=0.5623), "z_source": Prior("fixed", value=1.5),
              "lens_sigma_v": Prior("fixed", value=225.0), "source_magnitude": Prior("fixed", value=23.0),
              "source_R_sersic": Prior("fixed", value=0.2), "source_n_sersic": Prior("fixed", value=1.0)}
    base = dict(kind="cdm", profile="point_mass", count_mode="f_sub", f_sub=Prior("uniform", low=0.001, high=0.2),
                slope=Prior("uniform", low=-2.5, high=-1.5), m_min=1e7, m_max_host_fraction=0.01,
                radius_unit="theta_E", r_min=0.0, r_max=2.0)
    population = PopulationConfig(**(base | population))
    return strong.StrongLensingConfig(lens_profile="sis", shear=False, priors=priors, h0=67.7, omega_m=0.307,
                                      regression=population, max_subhalos=8, subhalo_labels=False)


def _survey():
    return dataclasses.replace(strong.SURVEY_PRESETS["brehmer"], npix=24)


def test_definition_range_scales_the_expected_count():
    _, wide = strong.draw_scene(_config(f_sub_m_min=1e6), _survey(), None, 5, np.random.default_rng(0))
    _, code = strong.draw_scene(_config(), _survey(), None, 5, np.random.default_rng(0))
    beta = code["slope"] + 1.0
    # same f_sub over a wider definition range: fewer subhalos in the drawn range, by I(beta; 1e7) / I(beta; 1e6)
    ratio = _power_integral(beta, 1e7, code["subhalo_m_max"]) / _power_integral(beta, 1e6, code["subhalo_m_max"])
    np.testing.assert_allclose(wide["expected_count"], code["expected_count"] * ratio, rtol=1e-12)


def test_sufficient_statistics_without_per_subhalo_labels_and_no_truncation():
    config = _config()
    scene, params = strong.draw_scene(config, _survey(), None, 6, np.random.default_rng(1))
    assert params["subhalo_count"].max() > config.max_subhalos  # no error, no truncation
    assert params["subhalo_mass"].shape == (6, 0)
    assert np.array_equal(scene.subhalos[0].mask.sum(axis=1), params["subhalo_count"])  # every subhalo rendered
    labelled = dataclasses.replace(config, subhalo_labels=True, max_subhalos=4096)
    _, full = strong.draw_scene(labelled, _survey(), None, 6, np.random.default_rng(1))
    np.testing.assert_allclose(params["subhalo_log_mass_sum"], np.nansum(np.log(full["subhalo_mass"]), axis=1))
    np.testing.assert_allclose(params["subhalo_m_max"], 0.01 * params["host_m200"])
    assert np.all((0 < params["host_roi_mass"]) & (params["host_roi_mass"] < params["host_m200"]))


def test_bucketed_rendering_matches_one_padded_batch():
    scene, params = strong.draw_scene(_config(), _survey(), None, 12, np.random.default_rng(2))
    buckets = count_buckets(scene)
    assert len(buckets) > 1 and sorted(np.concatenate([i for i, _ in buckets]).tolist()) == list(range(12))
    for idx, (width,) in buckets:
        assert np.all(params["subhalo_count"][idx] <= width) and width % 4 == 0
    observation = _survey().observation()
    bucketed = strong.render(scene, observation, "torch")
    whole = np.asarray(strong.renderers().get("torch")(scene, observation, compile=False))
    np.testing.assert_allclose(bucketed, whole, rtol=0, atol=1e-5 * whole.max())


def test_bucket_widths_climb_a_sqrt2_ladder_at_or_above_the_count():
    from lensbench.simulate.buckets import _bucket_width, bucket_ladder

    counts = np.array([0, 16, 17, 64, 65, 256, 1024, 1025, 5000])
    assert _bucket_width(counts, 4096).tolist() == [16, 16, 24, 64, 96, 256, 1024, 1456, 4096]
    ladder = bucket_ladder(5000)
    assert ladder[0] == 16 and ladder[-1] >= 5000 and np.all(ladder % 8 == 0)
    assert np.all(ladder[1:] / ladder[:-1] <= np.sqrt(2) + 0.3)  # at most ~1.41x padding (plus rounding to 8)
