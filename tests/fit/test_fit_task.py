"""The ``fit`` task end to end at the smoke preset, and its spec checks."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from lensbench.cli import app


def test_differentiable_smoke_runs_end_to_end(repo, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["run", str(repo / "specs/papers/differentiable.toml"), "--preset", "smoke",
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())["branches"]["main"]
    assert metrics["task"] == "fit"
    assert 0.0 < metrics["metrics"]["map_success_rate"] <= 1.0
    assert 0.0 <= metrics["metrics"]["coverage_95"] <= 1.0 and metrics["metrics"]["max_rhat"] > 0
    report = (out / "report.md").read_text()
    for text in ("Recovery against SNR", "percent level", "68 % coverage", "max R-hat", "start success rate"):
        assert text in report
    assert (out / "figures" / "fit-panels-0.png").stat().st_size > 0


def test_priors_must_cover_the_model(repo, tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'extends = "{repo / "specs/papers/differentiable.toml"}"\n'
                    '[mocks.priors]\nlens_thetaE = ["uniform", 0.5, 1.0]\n')
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "unknown parameters ['lens_thetaE']" in result.output
