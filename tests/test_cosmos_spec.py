"""specs/papers/cosmos.toml: Ko (2024) in full, five tasks in one grid, run end to end (smoke preset)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.report.schema import validate_metrics
from lensbench.spec import load_spec
from lensbench.metrics import metric_label

REPO = Path(__file__).resolve().parents[1]
SPEC = "specs/papers/cosmos.toml"
COSMOS = REPO.parent / "shared" / "cosmos"
NO_COSMOS = "../shared/cosmos not found: real COSMOS stamps are only available inside the lensbench workplace"
LENS_LABELS = ["lens_light_R_sersic", "lens_light_n_sersic", "lens_center_x", "lens_center_y", "lens_e1", "lens_e2"]
NFW_LABELS = ["halo_Rs", "halo_alpha_Rs", "halo_center_x", "halo_center_y"]
REGRESSION = {"variant=sie_shear": LENS_LABELS, "variant=epl_shear": LENS_LABELS, "variant=epl_shear_nfw": NFW_LABELS}
CLASSIFICATION = ("variant=nfw_strong", "variant=nfw_galaxy")
TABLE_III = {  # Ko (2024) Table III: strong lensing, single galaxy
    "variant=nfw_strong": {"accuracy": 0.733, "precision": 0.750, "recall": 0.700, "f1": 0.724},
    "variant=nfw_galaxy": {"accuracy": 0.694, "precision": 0.748, "recall": 0.585, "f1": 0.656},
}
SMOKE_TEST_IMAGES = {"variant=sie_shear": 32, "variant=epl_shear": 32, "variant=epl_shear_nfw": 32,
                     "variant=nfw_strong": 32, "variant=nfw_galaxy": 32}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """The report folder of one smoke run of the whole spec (every variant), from the repo root."""
    root = tmp_path_factory.mktemp("cosmos")
    args = ["run", SPEC, "--preset", "smoke", "--cache", str(root / "cache"), "--out", str(root / "out"),
            "--no-progress"]
    if not COSMOS.is_dir():  # everything but the application still runs
        args += ["--set", "grid.variants.nfw_galaxy.application.inputs=[]"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        patch.setenv("LENSBENCH_NO_COMPILE", "1")
        patch.setenv("LENSBENCH_COSMOS", str(COSMOS / "real_galaxy_catalog_26_extension_example.fits"))
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return root / "out"


def _markdown(name: str) -> str:
    """``name`` as the Markdown report writes it (underscores escaped)."""
    return name.replace("_", "\\_")


def _table_value(report: str, branch: str, metric: str) -> str:
    """The paper's value of ``metric`` for ``branch`` in the Markdown metrics table (one row per
    branch, the paper's values in columns named '<metric>, paper')."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| branch |") and ", paper |" in line)
    columns = [cell.strip() for cell in lines[start].strip("|").split("|")]
    table = lines[start + 2:next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))]
    row = next((line for line in table if line.startswith(f"| {_markdown(branch)} |")), None)
    assert row, f"no row for {branch}"
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    return cells[columns.index(f"{metric}, paper")]


def test_paper_preset_has_the_papers_tasks_and_sizes():
    specs = {s.branch_name: s for s in load_spec(REPO / SPEC)}
    assert set(specs) == set(REGRESSION) | set(CLASSIFICATION)
    for name, labels in REGRESSION.items():
        spec = specs[name]
        assert spec.experiment.task == "regress" and list(spec.data.labels) == labels
        assert (spec.data.n_train, spec.data.n_val, spec.data.n_test) == (80000, 20000, 10000)
    assert specs["variant=sie_shear"].simulation.lens_profile == "sie"
    assert specs["variant=epl_shear"].simulation.regression.kind == "none"
    assert specs["variant=epl_shear_nfw"].simulation.regression.kind == "halo"
    for name in CLASSIFICATION:  # images per class: 2 x 40,000 / 2 x 10,000 / 2 x 5,000
        spec = specs[name]
        assert spec.experiment.task == "classify" and list(spec.data.classes) == ["no_halo", "halo"]
        assert (spec.data.n_train, spec.data.n_val, spec.data.n_test) == (40000, 10000, 5000)
    galaxy = specs["variant=nfw_galaxy"]
    assert galaxy.simulation_kind == "galaxy" and galaxy.survey_scenario == "cosmos"
    assert galaxy.model.options["kernel_size"] == 5 and galaxy.training.scheduler == "cosine_warmup_restarts"
    assert all(specs[n].model.options["kernel_size"] == 3 for n in specs if n != "variant=nfw_galaxy")


def test_strong_detection_variant_is_the_example_spec():
    """The strong-lensing detection task is specs/examples/nfw_detection.toml: same simulation,
    survey, model and training (the copies must not drift apart)."""
    ours = {s.branch_name: s for s in load_spec(REPO / SPEC)}["variant=nfw_strong"]
    example = load_spec(REPO / "specs/examples/nfw_detection.toml")[0]
    assert ours.simulation == example.simulation
    assert ours.survey == example.survey and ours.model == example.model and ours.training == example.training
    assert ours.data.classes == example.data.classes and ours.data.n_train == example.data.n_train


def test_smoke_run_has_every_task_as_a_branch(smoke):
    metrics = json.loads((smoke / "metrics.json").read_text())
    validate_metrics(metrics)
    branches = metrics["branches"]
    assert set(branches) == set(REGRESSION) | set(CLASSIFICATION)
    for name, labels in REGRESSION.items():
        assert branches[name]["task"] == "regress" and branches[name]["parameter_names"] == labels
        assert all(branches[name]["metrics"]["mse"][label] >= 0.0 for label in labels)
    for name in CLASSIFICATION:
        assert branches[name]["task"] == "classify" and branches[name]["class_names"] == ["no_halo", "halo"]
        assert 0.0 <= branches[name]["metrics"]["auc"] <= 1.0
    assert {name: b["n_test"] for name, b in branches.items()} == SMOKE_TEST_IMAGES
    assert metrics["paper"] == TABLE_III


def test_report_has_mse_tables_agreement_figures_and_table_iii(smoke):
    report = (smoke / "report.md").read_text()
    assert report.count("| parameter | MSE | R² | MSE, paper |") == len(REGRESSION)
    for labels in REGRESSION.values():
        assert all(f"| {_markdown(label)} |" in report for label in labels)
    for i in range(len(REGRESSION)):
        assert (smoke / "figures" / f"agreement-{i}.png").stat().st_size > 1000
    for branch, values in TABLE_III.items():
        for metric, value in values.items():
            assert float(_table_value(report, branch, metric_label(metric))) == pytest.approx(value, abs=5e-5)
    assert all(f"({_markdown(name)})" in report for name in REGRESSION)


def test_galaxy_classifier_is_applied_to_the_real_cosmos_stamps(smoke):
    if not COSMOS.is_dir():
        pytest.skip(NO_COSMOS)
    summary = json.loads((smoke / "apply-variant=nfw_galaxy" / "apply.json").read_text())
    assert summary["stamps_read"] == 100 and summary["passed"] == 30 and summary["scored"] == 30
    assert summary["model"]["simulation_kind"] == "galaxy"
    positive = summary["predicted_positive"]
    assert positive["fraction"] == pytest.approx(positive["positive"] / 30)
    low, high = positive["interval"]
    assert low <= positive["fraction"] <= high
    assert summary["zoom"]["scored"] == [30] * 5 and summary["control"]["matched_stamps"] == 30
    assert summary["domain"]["warnings"] == [] and summary["preprocessing"]["preparation"] == "native"
    card = json.loads((smoke / "models" / "variant=nfw_galaxy" / "model.json").read_text())
    assert card["pixel_scale"] == 0.03 and card["survey"]["npix"] == 64
    report = (smoke / "report.md").read_text()
    assert f"Application to real data ({_markdown('variant=nfw_galaxy')})" in report
    assert "It is not a count of galaxies with halos." in report
    assert not any((smoke / f"apply-{name}").exists() for name in set(REGRESSION) | {"variant=nfw_strong"})
