"""The ``fit`` task with the neural (VAE) source end to end at the smoke preset, its spec checks,
and the COSMOS check skipping with its reason."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.fit.source_vae import VaeConfig
from lensbench.steps.fit_source import cosmos_images


def test_vae_source_smoke_runs_end_to_end(repo, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["run", str(repo / "specs/papers/differentiable_vae.toml"), "--preset", "smoke",
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())["branches"]["main"]
    assert 0.0 < metrics["metrics"]["map_success_rate"] <= 1.0
    report = (out / "report.md").read_text()
    for text in ("Source model (VAE)", "nearly one hundred", "VAE source", "simulated Sersic mixtures (held out)"):
        assert text in report
    assert (out / "figures" / "fit-source-0.png").stat().st_size > 0
    assert (out / "figures" / "fit-panels-0.png").stat().st_size > 0


def test_a_vae_source_needs_priors_of_its_flux_and_size(repo, tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'extends = "{repo / "specs/papers/differentiable.toml"}"\n[mocks]\nsource = "vae"\n')
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "missing: ['source_flux', 'source_scale']" in result.output


def test_cosmos_check_is_skipped_with_its_reason(tmp_path):
    config = VaeConfig(npix=16, pixel_scale=0.06, latent_dim=2)
    images, mags, reason = cosmos_images(str(tmp_path / "absent"), config)
    assert images.shape == (0, 16, 16) and len(mags) == 0 and reason.endswith("absent not found")
    assert cosmos_images("", config)[2] == "no [source_model] cosmos catalogue given"


def test_cosmos_stamps_are_read_onto_the_grid(cosmos_dir):
    images, mags, reason = cosmos_images(str(cosmos_dir), VaeConfig(npix=16, pixel_scale=0.06, latent_dim=2))
    assert reason == "" and images.shape == (100, 16, 16) and len(mags) == 100
    assert float(images.sum((1, 2)).min()) > 0.999
