"""The lines a finished run prints: each branch's headline metrics beside the paper's."""

from __future__ import annotations

import json

from lensbench.report.terminal import headline_lines


def test_headline_lines_put_ours_beside_the_papers(repo):
    path = repo / "reports" / "reference" / "cosmos-quick" / "metrics.json"
    ours = json.loads(path.read_text())["branches"]["variant=nfw_strong"]["metrics"]
    lines = headline_lines(path)
    strong = next(line for line in lines if line.strip().startswith("variant=nfw_strong:"))
    assert strong.startswith(f"  variant=nfw_strong: AUC {ours['auc']:.3g}; ")
    assert f"accuracy (0.5) {ours['accuracy']:.3g} (paper 0.733)" in strong and "F1 (0.5)" in strong
    regression = next(line for line in lines if line.strip().startswith("variant=sie_shear:"))
    assert "R² [lens_light_R_sersic]" in regression and "MSE" not in regression


def test_no_metrics_no_lines(tmp_path):
    assert headline_lines(tmp_path / "metrics.json") == []
