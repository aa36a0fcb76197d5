"""The engine end to end: run through the CLI, cache reuse, resume after a kill, determinism, compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lensbench.cache import Cache
from lensbench.cli import app
from lensbench.plan import Plan, make_plan
from lensbench.report.schema import validate_metrics
from lensbench.runner import run_plan
from lensbench.spec import load_spec
from lensbench.steps import simulate as simulate_step

SPEC = "specs/examples/nfw_detection.toml"


def run_cli(*args):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """Two smoke runs (one with another learning rate) sharing one cache, plus a cached rerun."""
    import os

    root = tmp_path_factory.mktemp("engine")
    cache = root / "cache"
    repo = Path(__file__).resolve().parents[1]
    old = os.getcwd()
    os.environ["LENSBENCH_NO_COMPILE"] = "1"
    os.chdir(repo)
    try:
        first = run_cli("run", SPEC, "--preset", "smoke", "--out", str(root / "a"), "--cache", str(cache),
                        "--no-progress")
        rerun = run_cli("run", SPEC, "--preset", "smoke", "--out", str(root / "a"), "--cache", str(cache),
                        "--no-progress")
        other = run_cli("run", SPEC, "--preset", "smoke", "--set", "training.lr=0.003", "--out", str(root / "b"),
                        "--cache", str(cache), "--no-progress")
    finally:
        os.chdir(old)
    return {"root": root, "first": first, "rerun": rerun, "other": other}


def test_run_writes_a_complete_report(smoke_runs):
    out = smoke_runs["root"] / "a"
    for name in ("report.md", "report.html", "metrics.json", "spec.resolved.toml", "figures/roc.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    validate_metrics(metrics)
    main = metrics["branches"]["main"]["metrics"]
    assert 0.0 <= main["auc"] <= 1.0 and 0.0 <= main["accuracy"] <= 1.0
    assert main["confusion"] and sum(map(sum, main["confusion"])) == metrics["branches"]["main"]["n_test"] == 64
    assert metrics["paper"]["main"]["accuracy"] == 0.733
    assert metrics["provenance"]["packages"]["torch"]
    markdown = (out / "report.md").read_text()
    assert "0.733" in markdown and "Provenance" in markdown
    resolved = (out / "spec.resolved.toml").read_text().splitlines()
    assert "# pixel_scale = 0.08" in resolved and "# psf_fwhm = 0.08" in resolved  # scenario "hst", resolved
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html and "https://" not in html


def test_second_run_reuses_every_step(smoke_runs):
    assert "running" not in smoke_runs["rerun"].replace("report                                   running", "")
    assert smoke_runs["rerun"].count("cached") == 5


def test_changed_training_value_reuses_simulation_only(smoke_runs):
    lines = smoke_runs["other"].splitlines()
    assert any(line.strip().startswith("simulate:train") and "cached" in line for line in lines)
    assert any(line.strip().startswith("train ") and "running" in line for line in lines)


def test_compare_two_reports(smoke_runs):
    root = smoke_runs["root"]
    output = run_cli("compare", str(root / "a"), str(root / "b"), "--out", str(root / "cmp"))
    assert "comparison" in output
    text = (root / "cmp" / "report.md").read_text()
    assert "training.lr" in text


def simulate_steps(cache_root: Path) -> tuple[Plan, Cache]:
    specs = load_spec(SPEC, preset="smoke", overrides=["data.n_train=80", "data.shard_size=32"])
    plan = make_plan(specs)
    return Plan([plan.get("simulate:train")], specs), Cache(cache_root)


def test_killed_simulation_resumes_to_identical_bytes(tmp_path, monkeypatch, in_repo):
    plan, cache = simulate_steps(tmp_path / "interrupted")
    real_write = simulate_step.write_shard
    written = []

    def write_then_die(folder, index, *args):
        if len(written) == 2:
            raise KeyboardInterrupt("killed")
        real_write(folder, index, *args)
        written.append(index)

    monkeypatch.setattr(simulate_step, "write_shard", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, cache=cache, out_dir=tmp_path / "out", progress=False, echo=lambda *_: None)
    step = plan.steps[0]
    assert not cache.has("simulate", step.key)
    assert sorted(p.name for p in cache.partial("simulate", step.key).glob("shard_*.json")) == [
        "shard_00000.json", "shard_00001.json"]
    monkeypatch.setattr(simulate_step, "write_shard", real_write)
    resumed = run_plan(plan, cache=cache, out_dir=tmp_path / "out", progress=False, echo=lambda *_: None)
    assert resumed.records[0].status == "ran"

    fresh_plan, fresh_cache = simulate_steps(tmp_path / "fresh")
    run_plan(fresh_plan, cache=fresh_cache, out_dir=tmp_path / "out2", progress=False, echo=lambda *_: None)
    a, b = cache.path("simulate", step.key), fresh_cache.path("simulate", step.key)
    names = sorted(p.name for p in a.glob("*_0000*.np*"))
    assert len(names) == 5 * 3  # 160 images in shards of 32: images, labels and params of 5 shards
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_seed_gives_different_data(tmp_path, in_repo):
    specs = load_spec(SPEC, preset="smoke", overrides=["experiment.seed=1"])
    other = load_spec(SPEC, preset="smoke")
    assert make_plan(specs).get("simulate:train").key != make_plan(other).get("simulate:train").key
    images = []
    for i, s in enumerate((specs, other)):
        plan = make_plan(s)
        cache = Cache(tmp_path / str(i))
        run_plan(Plan([plan.get("simulate:test")], s), cache=cache, out_dir=tmp_path, progress=False,
                 echo=lambda *_: None)
        images.append(np.load(cache.path("simulate", plan.get("simulate:test").key) / "images_00000.npy"))
    assert not np.array_equal(images[0], images[1])


def test_unknown_force_target_is_a_usage_error(tmp_path, in_repo):
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--force", "trian", "--cache",
                                      str(tmp_path)])
    assert result.exit_code == 2
    assert "no such step" in result.output


def test_bad_spec_through_run_exits_2_without_traceback(in_repo):
    result = CliRunner().invoke(app, ["run", "tests/specs/bad/unknown_key.toml"])
    assert result.exit_code == 2
    assert "training.epoch: unknown key 'epoch'" in result.output and "Traceback" not in result.output


def test_apply_command_on_a_run_folder(smoke_runs, cosmos_dir):
    cosmos = cosmos_dir
    root = smoke_runs["root"]
    out = root / "applied"
    output = run_cli("apply", "--model", str(root / "a"), str(cosmos), "--out", str(out), "--no-progress")
    assert "100 stamps read, 30 passed the cuts, 30 scored" in output
    summary = json.loads((out / "apply.json").read_text())
    assert summary["stamps_read"] == 100 and summary["cuts"]["too_small"] == 62
    assert (out / "predictions.csv").read_text().count("\n") == 101


def test_apply_command_without_readable_input_exits_3(smoke_runs, tmp_path):
    result = CliRunner().invoke(app, ["apply", "--model", str(smoke_runs["root"] / "a"), str(tmp_path / "none.fits"),
                                      "--out", str(tmp_path / "o"), "--no-progress"])
    assert result.exit_code == 3, result.output
    assert "none.fits" in result.output and "Traceback" not in result.output


def test_worker_processes_write_the_same_bytes(tmp_path, in_repo):
    """Shards simulated by two worker processes equal those simulated here, and share the cache key."""
    images = []
    for workers in (1, 2):
        specs = load_spec(SPEC, preset="smoke", overrides=[f"execution.workers={workers}", "data.shard_size=16"])
        plan = make_plan(specs)
        step = plan.get("simulate:test")
        cache = Cache(tmp_path / str(workers))
        run_plan(Plan([step], specs), cache=cache, out_dir=tmp_path, progress=False, echo=lambda *_: None)
        folder = cache.path("simulate", step.key)
        images.append([(folder / f"images_{i:05d}.npy").read_bytes() for i in range(4)])
    assert images[0] == images[1]
