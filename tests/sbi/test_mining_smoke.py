"""specs/papers/mining.toml runs end to end at the smoke preset and reports the limits beside the paper's."""

import json

import pytest
from typer.testing import CliRunner

from lensbench.cli import app


@pytest.fixture(autouse=True)
def eager_torch(monkeypatch):
    monkeypatch.setenv("LENSBENCH_NO_COMPILE", "1")


def test_mining_smoke_run(repo, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["run", str(repo / "specs/papers/mining.toml"), "--preset", "smoke",
                                      "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())["branches"]["main"]
    assert metrics["task"] == "likelihood_ratio"
    assert {"f_sub_low_calibrated_n5", "f_sub_high_raw_n100", "coverage0.95_calibrated_n5",
            "f_sub_low_nre_n5", "coverage0.68_nre_n5", "sbc_pvalue_nre_f_sub"} <= set(metrics["metrics"])
    report = (out / "report.md").read_text()
    assert r"f\_sub, paper (Fig. 3)" in report and r"\[0.042, 0.062\]" in report  # the paper's 100 lenses
    assert "Coverage over 3 ensembles" in report
    assert r"f\_sub, sbi NRE (ours)" in report and "| sbi NRE | 5 |" in report  # the sbi baseline's limits, coverage
    assert "Simulation-based calibration over 8 single lenses" in report and (out / "figures" / "sbc_main.png").exists()
    assert (out / "model" / "model.pt").exists()
