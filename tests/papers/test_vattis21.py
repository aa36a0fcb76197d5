"""The Vattis+21 paper analysis: Figs 3-7 from hand-made branches, the enrichment number, and the
paper spec end to end (smoke preset)."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace

import healpy as hp
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.execution import ExecutionConfig
from lensbench.models import build_model
from lensbench.papers import PAPER_ANALYSES, vattis21
from lensbench.papers.vattis21_attribution import attribution_enrichment
from lensbench.papers.vattis21_sky import data_figure, signal_figure
from lensbench.report.branch import BranchData
from lensbench.report.document import Figure, Paragraph, Table
from lensbench.simulate.astrometric import (
    SCENARIOS,
    AstrometricConfig,
    data_maps,
    observe,
    signal_map,
    simulate_signal,
)
from lensbench.simulate.milky_way import MilkyWayPopulation, sample_population
from lensbench.simulate.sky_projection import pixel_directions
from lensbench.simulate.store import signal_rng, write_manifest, write_shard, write_signal_shard

SPEC = "specs/papers/astrometric.toml"
ASTRO_FIGURES = ("astro-signal-maps", "astro-data-maps", "astro-roc-surveys", "astro-roc-architectures-0",
                 "astro-attribution")
FEW_SUBHALOS = MilkyWayPopulation(mass_min=1e9)  # ~19 subhalos: fast maps
CONFIG = AstrometricConfig(population=FEW_SUBHALOS, nside=16, data_nside=8, image_height=16, image_width=32)
EAGER = ExecutionConfig(compile=False, block_nside=4)
SEED = 11
N_PER_CLASS = 3
CLASSES = ["no_subhalos", "subhalos"]


def _write_signal(folder) -> tuple[np.ndarray, dict]:
    """Test signal shard 0 as the signal step writes it, from the signal step's generator."""
    signal, params = simulate_signal(CONFIG, N_PER_CLASS, signal_rng(SEED, "test", 0), execution=EAGER)
    write_signal_shard(folder, 0, signal, params)
    return signal, params


def _write_test_set(folder, scenario: str, signal: np.ndarray, params: dict) -> None:
    """One shard of alternating classes (negative first), positives observing ``signal`` in order."""
    survey = SCENARIOS[scenario]
    rng = np.random.default_rng(0)
    labels = np.arange(2 * N_PER_CLASS) % 2
    images = np.empty((2 * N_PER_CLASS, 2, CONFIG.image_height, CONFIG.image_width), dtype=np.float32)
    images[labels == 0] = observe(CONFIG, survey, np.zeros_like(signal), False, rng)
    images[labels == 1] = observe(CONFIG, survey, signal, True, rng)
    stored = {}
    for name, values in params.items():
        stored[name] = np.full((2 * N_PER_CLASS,) + values.shape[1:], np.nan)
        stored[name][labels == 1] = values
    write_shard(folder, 0, images, labels.astype(np.int64), stored)
    write_manifest(folder, {"n": 2 * N_PER_CLASS, "classes": CLASSES, "shard_size": 2 * N_PER_CLASS,
                            "shards": [{"index": 0, "n": 2 * N_PER_CLASS}]})


def _write_model(folder, architecture: str, lr: float) -> None:
    """An untrained classifier with its model card."""
    torch.manual_seed(0)
    size = [CONFIG.image_height, CONFIG.image_width]
    options = {"hidden": 8} if architecture == "cnn" else {}
    model = build_model(architecture, in_channels=2, num_outputs=2, input_size=tuple(size), **options)
    folder.mkdir()
    torch.save(model.state_dict(), folder / "model.pt")
    (folder / "model.json").write_text(json.dumps({
        "architecture": architecture, "options": options, "in_channels": 2, "input_size": size, "num_outputs": 2,
        "task": "classify", "classes": CLASSES, "normalize": "standardize", "training": {"lr": lr}}))


def _results(auc: float, train_loss: float) -> dict:
    roc = {"fpr": [0.0, 1 - auc, 1.0], "tpr": [0.0, auc, 1.0], "thresholds": [2.0, 0.5, 0.0]}
    return {"metrics": {"auc": auc}, "curves": {"roc": roc, "loss": {"train_loss": [0.9, train_loss],
                                                                     "val_loss": [0.8, 0.7]}}}


@pytest.fixture(scope="module")
def branches(tmp_path_factory) -> dict[str, BranchData]:
    """Scenario C with two architectures and scenario D, sharing one test signal, as a grid run."""
    root = tmp_path_factory.mktemp("vattis21")
    signal, params = _write_signal(root / "signal")
    made = {}
    for name, scenario, architecture, lr, auc, loss in (("C", "C", "cnn", 1e-3, 0.6, 0.72),
                                                       ("C_resnet", "C", "resnet18", 1e-3, 0.7, 0.5),
                                                       ("D", "D", "cnn", 3e-4, 0.9, 0.4)):
        test_dir = root / f"test_{scenario}"
        if not test_dir.exists():
            _write_test_set(test_dir, scenario, signal, params)
        _write_model(root / f"model_{name}", architecture, lr)
        made[name] = BranchData(name=name, task="classify", simulation_kind="astrometric", simulation=CONFIG,
                                survey=SCENARIOS[scenario], survey_scenario=scenario, architecture=architecture,
                                seed=SEED, outputs={"train": root / f"model_{name}", "simulate:test": test_dir,
                                                    "signal:test": root / "signal"},
                                results=_results(auc, loss))
    return made


def _blocks(section, kind) -> list:
    return [block for block in section.blocks if isinstance(block, kind)]


def test_vattis21_is_a_registered_paper_analysis(monkeypatch):
    monkeypatch.setattr(vattis21, "sections", lambda *arguments: arguments)  # imported when called
    assert PAPER_ANALYSES.get("vattis21")("branches", "paper", "cpu") == ("branches", "paper", "cpu")


def test_sections_draw_figs_3_to_7_and_the_training_check(branches):
    sky, rocs, inputs, attribution, check = vattis21.sections(branches, {"C": {"auc": 0.723}}, "cpu")
    assert [s.title for s in (sky, rocs, inputs, attribution, check)] == [
        "Sky maps (Figs 3-4)", "Surveys and architectures (Figs 5-6)", "Network input", "Attribution (Fig 7)",
        "Training check"]
    figures = [f.name for s in (sky, rocs, attribution) for f in _blocks(s, Figure)]
    assert figures == list(ASTRO_FIGURES)
    assert "matches the stored test signal to a relative" in _blocks(sky, Figure)[0].caption
    survey_table = _blocks(rocs, Table)[0]
    assert [row[0] for row in survey_table.rows] == ["C", "D"] and survey_table.rows[0][-1] == 0.723
    # the physics baselines beside the network: the oracle sees D's strong signal, and D's chi^2 is
    # (0.1 / 1)^-2 = 100 times C's (the same signals, pixel noise 10 times smaller)
    columns = survey_table.columns
    chi2 = {row[0]: row[columns.index("median χ²")] for row in survey_table.rows}
    assert chi2["D"] == pytest.approx(100 * chi2["C"], rel=1e-6)
    oracle = {row[0]: row[columns.index("oracle AUC")] for row in survey_table.rows}
    assert 0.0 <= oracle["C"] <= 1.0 and 0.0 <= oracle["D"] <= 1.0
    assert "known-template" in _blocks(rocs, Figure)[0].caption
    input_table = _blocks(inputs, Table)[0]
    assert {row[1] for row in input_table.rows} == {"nearest"} and input_table.rows[0][-1] == "standardize"
    text = _blocks(attribution, Paragraph)[0].text
    assert f"first {N_PER_CLASS} positive test maps" in text and "times as often as random pixels" in text
    enrichment = _blocks(attribution, Table)[0]
    assert [row[0] for row in enrichment.rows] == [10.0, 5.0, 20.0]
    assert all(row[1] == N_PER_CLASS and 0.0 <= row[2] <= 1.0 for row in enrichment.rows)
    lr_column = {row[0]: row[1] for row in _blocks(check, Table)[0].rows}
    assert lr_column == {"C": 1e-3, "C_resnet": 1e-3, "D": 3e-4}
    verdict = _blocks(check, Paragraph)[0].text
    assert "C (initial learning rate 0.001)" in verdict and "C_resnet" not in verdict


def test_without_scenario_d_or_a_signal_the_sections_say_so(branches):
    only_c = {name: replace(b, outputs={k: v for k, v in b.outputs.items() if k != "signal:test"})
              for name, b in branches.items() if name != "D"}
    sky, rocs, _, attribution, _ = vattis21.sections(only_c, {}, "cpu")
    assert _blocks(sky, Paragraph)[0].text == "No branch has a signal step: no sky maps to show."
    assert _blocks(attribution, Paragraph)[0].text.startswith("No branch observes scenario D of Table I")
    assert [f.name for f in _blocks(rocs, Figure)] == ["astro-roc-surveys", "astro-roc-architectures-0"]


def test_figures_have_one_panel_per_field_and_component():
    population = sample_population(FEW_SUBHALOS, np.random.default_rng(12))
    maps = {name: signal_map(replace(CONFIG, field=name), population, EAGER) for name in ("deflection", "velocity")}
    assert len([a for a in signal_figure(maps, width=100).axes if a.images]) == 4
    noisy = data_maps(CONFIG, SCENARIOS["D"], maps["velocity"][None].astype(np.float32), True,
                      np.random.default_rng(0))[0]
    assert len([a for a in data_figure(noisy, noisy, "D", width=100).axes if a.images]) == 4


def test_enrichment_on_a_synthetic_map_with_a_known_answer():
    height, width = 32, 64
    directions = pixel_directions("nearest", 8, height, width)
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
