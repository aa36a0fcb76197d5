"""The Brehmer-population case of ``bench/strong_lensing.py`` (issue 11): its lenses come from the
simulator's own proposal, and the bucketed torch path it times renders what lenstronomy renders."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from lensbench.execution import ExecutionConfig
from lensbench.simulate import strong
from lensbench.simulate.backends import render_lenstronomy

BENCH = Path(__file__).resolve().parents[2] / "bench" / "strong_lensing.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("strong_lensing_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_brehmer_scenes_follow_the_proposal_counts(bench):
    """The proposal (f_sub ~ U(0.001, 0.2), slope ~ U(-2.5, -1.5), from 1e7 Msun) gives hundreds of
    subhalos per lens on average with a heavy tail (max well above the mean), drawn reproducibly."""
    scene, survey = bench.brehmer_scenes(48)
    counts = scene.subhalos[0].mask.sum(axis=1)
    assert 100 < counts.mean() < 2000
    assert counts.max() > 2 * counts.mean()
    assert counts.min() < counts.mean() / 4
    again, _ = bench.brehmer_scenes(48)
    np.testing.assert_array_equal(again.subhalos[0].params["Rs"], scene.subhalos[0].params["Rs"])
    assert survey.observation().npix == 64 and survey.pixel_scale == 0.1


def test_bucketed_torch_matches_lenstronomy_on_proposal_lenses(bench):
    """The path the benchmark times (strong.render: buckets, here eager float32) agrees with one
    lenstronomy ImageModel per image to float32 precision on lenses with many subhalos."""
    scene, survey = bench.brehmer_scenes(48)
    counts = scene.subhalos[0].mask.sum(axis=1)
    pick = np.array([np.argmin(np.abs(counts - target)) for target in (30, 300)])
    lenses = scene.subset(pick)
    observation = survey.observation()
    ours = strong.render(lenses, observation, "torch", ExecutionConfig(compile=False))
    reference = render_lenstronomy(lenses, observation)
    assert bench.peak_relative(ours, reference) < 1e-5


def test_brehmer_row_derives_ratio_and_costs(bench, tmp_path):
    """img/s, ratio, padding and per-pair costs follow from the measured seconds and counts."""
    images = np.ones((2, 4, 4))
    np.save(tmp_path / "brehmer_lenstronomy.npy", images)
    np.save(tmp_path / "brehmer_torch32.npy", images * (1 + 1e-6))
    measured = {"lenstronomy_s": 2.0, "torch_s": 0.5, "n": 2, "subhalos": 300, "slots": 600, "closed_form_slots": 30, "pixels": 16,
                "max_subhalos": 200, "buckets": 2, "threads": 1, "compile_s": 3.0,
                "torch_rss_mib": 1.0, "lenstronomy_rss_mib": 1.0}
    row = bench.brehmer_row(measured, tmp_path, smooth_ms=25.0)
    assert row["ratio"] == pytest.approx(4.0)
    assert row["torch_img_s"] == pytest.approx(4.0) and row["lenstronomy_img_s"] == pytest.approx(1.0)
    assert row["closed_form_share"] == pytest.approx(0.05)
    assert row["padding"] == pytest.approx(2.0) and row["mean_subhalos"] == pytest.approx(150)
    assert row["lenstronomy_ns_pair"] == pytest.approx(1e9 * 2.0 / (300 * 16))
    assert row["torch_ns_slot"] == pytest.approx(1e9 * 0.5 / (600 * 16))
    assert row["agreement_f32"] == pytest.approx(1e-6)
    assert row["subhalo_share"] == pytest.approx(0.9)  # 1 - 2 x 25 ms / 500 ms
    assert "4.0x" in bench.brehmer_table(row) and "5.0 %" in bench.brehmer_table(row)
