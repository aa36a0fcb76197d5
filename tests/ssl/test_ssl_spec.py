"""The ssl task end to end: specs/papers/ssl.toml at the smoke preset (Model A rows), its tables
(classification and the axion-mass regression) in report.md and metrics.json, and the spec's checks."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.models import build_model
from lensbench.ssl.config import FinetuneConfig, PretrainConfig
from lensbench.ssl.methods import build_objective

ROWS = ("rotation_resnet", "rotation_vit", "noise_resnet", "noise_vit", "byol", "simsiam", "dino")


def test_smoke_run_gives_every_row_beside_the_paper(repo, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["run", str(repo / "specs/papers/ssl.toml"), "--preset", "smoke",
                                      "--set", 'grid.survey.scenario=["hst"]', "--threads", "1",
                                      "--out", str(out), "--cache", str(tmp_path / "cache"), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["branches"]) == sorted(f"variant={row},scenario=hst" for row in ROWS)
    for name, branch in metrics["branches"].items():
        m = branch["metrics"]
        assert branch["task"] == "ssl" and branch["class_names"] == ["no_sub", "cdm", "vortex"]
        assert 0.0 <= m["macro_auc"] <= 1.0 and 0.0 <= m["macro_auc_supervised"] <= 1.0
        assert len(m["macro_auc_seeds"]) == 2 and m["macro_auc_std"] is not None
        assert m["macro_auc_difference"] == pytest.approx(m["macro_auc"] - m["macro_auc_supervised"])
        assert len(branch["curves"]["collapse"]["spread_ratio"]) == 1  # one pre-training epoch
        assert metrics["paper"][name]["macro_auc"] > 0.95
        # the axion-mass regression (Fig. 2): two seeds, SSL and baseline, four half-decade bins
        assert len(m["log10_axion_mass_rmse_seeds"]) == len(m["log10_axion_mass_rmse_supervised_seeds"]) == 2
        assert m["log10_axion_mass_rmse"] > 0 and m["log10_axion_mass_rmse_supervised"] > 0
        assert m["log10_axion_mass_bins"] == pytest.approx([-24.0, -23.5, -23.0, -22.5, -22.0])
        assert sum(m["log10_axion_mass_count_by_bin"]) == 6  # the smoke preset's test vortex images
        assert m["log10_axion_mass_rmse_reduction"] == pytest.approx(
            m["log10_axion_mass_rmse_supervised"] - m["log10_axion_mass_rmse"])
    report = (out / "report.md").read_text()
    assert "Deshmukh+23 Tables 1" in report and "SSL + fine-tune, paper" in report
    assert "0.997" in report  # DINO's Model A number beside ours
    assert "linear probe, random encoder" in report and "Collapse monitor" in report
    assert "## Axion-mass regression" in report and "RMSE, SSL + fine-tune (dex)" in report
    assert "Deshmukh+23 Fig. 2 form" in report and (out / "figures" / "ssl-axion-mass.png").is_file()


def test_the_supervised_baseline_is_shared_by_rows_with_the_same_augmentations(repo):
    from lensbench.plan import make_plan
    from lensbench.spec import load_spec

    plan = make_plan(load_spec(repo / "specs/papers/ssl.toml", preset="smoke"))
    baselines = {name: roles["supervised"] for name, roles in plan.roles.items() if "scenario=hst" in name}
    assert baselines["variant=byol,scenario=hst"] == baselines["variant=dino,scenario=hst"]
    assert baselines["variant=byol,scenario=hst"] != baselines["variant=noise_resnet,scenario=hst"]
    regress = {name: roles["regress_supervised"] for name, roles in plan.roles.items() if "scenario=hst" in name}
    assert regress["variant=byol,scenario=hst"] == regress["variant=dino,scenario=hst"]
    assert regress["variant=byol,scenario=hst"] != regress["variant=noise_resnet,scenario=hst"]


def test_config_checks():
    with pytest.raises(ValueError, match="label_fractions"):
        FinetuneConfig(label_fractions=(0.1,))
    with pytest.raises(ValueError, match="seeds"):
        FinetuneConfig(seeds=(1, 1))
    with pytest.raises(ValueError, match="augmentations"):
        PretrainConfig(augmentations=("flip", "flip"))


def test_dino_local_views_need_global_pooling():
    vit = build_model("vit", in_channels=1, num_outputs=3, input_size=(64, 64), seed=0)
    with pytest.raises(ValueError, match="global pooling"):
        build_objective(PretrainConfig(method="dino"), vit, seed=0)
    assert build_objective(PretrainConfig(method="dino", local_views=0), vit, seed=0).local_views == 0


@pytest.mark.parametrize("method", ["simclr", "byol", "simsiam", "dino"])
def test_one_step_trains_the_encoder_and_moves_the_teacher(method):
    encoder = build_model("resnet18", in_channels=1, num_outputs=3, input_size=(32, 32), seed=0).train()
    objective = build_objective(PretrainConfig(method=method, augmentations=("rotate90", "noise"), local_crop_size=16,
                                               local_views=2, ema_momentum=0.5), encoder, seed=0)
    teacher = [m for m in objective.modules() if not any(p.requires_grad for p in m.parameters())]
    before = [p.detach().clone() for m in teacher for p in m.parameters()]
    optimiser = torch.optim.SGD([p for m in (encoder, *objective.modules()) for p in m.parameters()], lr=0.1)
    loss, _ = objective.loss(encoder, [torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))])
    loss.backward()
    assert encoder.conv1.weight.grad is not None and float(encoder.conv1.weight.grad.abs().sum()) > 0
    optimiser.step()
    objective.after_step(encoder)
    after = [p.detach() for m in teacher for p in m.parameters()]
    assert (len(teacher) == 1) == (method in ("byol", "dino"))
    if teacher:  # the EMA moved the teacher towards the updated student
        assert any(not torch.equal(a, b) for a, b in zip(before, after))
