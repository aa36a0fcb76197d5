"""The Vattis+21 paper spec end to end (smoke preset), and the attribution-enrichment number."""

from __future__ import annotations

import json
import tomllib

import healpy as hp
import numpy as np
import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.simulate.astrometric import project_maps
from lensbench.simulate.astrometric_report import attribution_enrichment, image_pixel_directions

SPEC = "specs/papers/astrometric.toml"
ASTRO_FIGURES = ("astro-signal-maps", "astro-data-maps", "astro-roc-surveys", "astro-roc-architectures-0",
                 "astro-attribution")


def test_image_pixel_directions_are_the_projection_sampling_points():
    nside, height, width = 8, 16, 32
    directions = image_pixel_directions(height, width)
    projected = project_maps(np.arange(hp.nside2npix(nside)), height, width)
    assert directions.shape == (height, width, 3)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0, atol=1e-12)
    assert np.array_equal(hp.vec2pix(nside, *np.moveaxis(directions, -1, 0)), projected)


def test_enrichment_on_a_synthetic_map_with_a_known_answer():
    height, width = 32, 64
    directions = image_pixel_directions(height, width)
    subhalos = np.asarray(hp.ang2vec([30.0, -100.0], [10.0, -40.0], lonlat=True))
    cosines = directions.reshape(-1, 3) @ subhalos.T
    near = (cosines >= np.cos(np.radians(10.0))).any(axis=1)
    random_rate = near.mean()
    # the highest values sit exactly on the near pixels: every top pixel is near
    on_target = np.where(near, 1.0 + np.arange(near.size) / near.size, 0.0).reshape(height, width)
    found = attribution_enrichment(on_target, directions, subhalos, radius_deg=10.0, top_fraction=0.01)
    assert found["top_rate"] == 1.0
    assert found["random_rate"] == pytest.approx(random_rate)
    assert found["enrichment"] == pytest.approx(1.0 / random_rate)
    assert found["enrichment"] > 5
    # the highest values avoid the subhalos: no top pixel is near
    off_target = np.where(near, 0.0, 1.0).reshape(height, width)
    assert attribution_enrichment(off_target, directions, subhalos, radius_deg=10.0)["enrichment"] == 0.0
    # half the top pixels near: enrichment = 0.5 / random rate
    n_top = round(0.01 * near.size)
    ranking = np.zeros(near.size)
    ranking[np.flatnonzero(near)[: n_top // 2]] = 2.0
    ranking[np.flatnonzero(~near)[: n_top - n_top // 2]] = 1.0
    half = attribution_enrichment(ranking.reshape(height, width), directions, subhalos, radius_deg=10.0)
    assert half["top_rate"] == pytest.approx((n_top // 2) / n_top)


def test_paper_spec_smoke_end_to_end(in_repo, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--cache", str(tmp_path / "cache"),
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    variants = tomllib.loads((in_repo / SPEC).read_text())["grid"]["variants"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["branches"]) == sorted(f"variant={name}" for name in variants)
    for branch in metrics["branches"].values():
        assert 0.0 <= branch["metrics"]["auc"] <= 1.0
    for name in ASTRO_FIGURES:
        png = out / "figures" / f"{name}.png"
        assert png.is_file(), name
        assert png.stat().st_size < 200_000
    report = (out / "report.md").read_text()
    assert "Fig 7" in report and "times as often as random pixels" in report
    assert "paper 0.723" in report or "0.723" in report
