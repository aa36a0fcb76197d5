"""Estimates of disk, memory and time from the spec alone, and the run refusing what the
machine cannot hold before any step runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lensbench.cache import Cache
from lensbench.cli import app
from lensbench.errors import UsageError
from lensbench.estimate import HOURS_ON_CPU, estimate_plan, forward_flops, preflight
from lensbench.plan import make_plan
from lensbench.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
SPEC = "specs/examples/nfw_detection.toml"


def test_disk_of_a_split_is_images_times_shape_plus_parameters(in_repo):
    """smoke: 2 classes x 96 training images of 1 x 64 x 64 float32 = 3.1 MB of pixels."""
    plan = make_plan(load_spec(SPEC, preset="smoke"))
    train = next(s for s in estimate_plan(plan).steps if s.step_id == "simulate:train")
    pixels = 2 * 96 * 64 * 64 * 4
    assert pixels < train.disk_bytes < 3 * pixels


def test_time_scales_with_images_and_epochs(in_repo):
    smoke = estimate_plan(make_plan(load_spec(SPEC, preset="smoke")))
    full = estimate_plan(make_plan(load_spec(SPEC)))
    assert full.disk_bytes > 100 * smoke.disk_bytes
    assert full.seconds > 100 * smoke.seconds


def test_other_tasks_network_steps_cost_multiples_of_one_training(in_repo):
    """Pre-training, fine-tuning and ratio training are estimated, not shown as free."""
    from lensbench.estimate import _training

    for spec_file, kinds in (("specs/papers/ssl.toml", ("pretrain", "finetune", "supervised")),
                             ("specs/papers/mining.toml", ("train",))):
        plan = make_plan(load_spec(spec_file, preset="quick"))
        steps = {s.step_id.split("[")[0]: s for s in estimate_plan(plan).steps}
        one_training = _training(plan.specs[0])[2]
        for kind in kinds:
            assert steps[kind].seconds >= one_training > 0, kind
    ssl = load_spec("specs/papers/ssl.toml", preset="quick")[0]
    finetune = ssl.task_sections["finetune"]
    step = next(s for s in estimate_plan(make_plan([ssl])).steps if s.step_id.startswith("finetune"))
    assert step.seconds == pytest.approx(_training(ssl)[2] * len(finetune.seeds) * sum(finetune.label_fractions))


def test_fit_steps_scale_with_lenses_chains_and_draws(in_repo):
    def nuts_and_map(*overrides):
        plan = make_plan(load_spec("specs/papers/differentiable.toml", preset="quick", overrides=overrides))
        steps = {s.step_id: s.seconds for s in estimate_plan(plan).steps}
        return steps["nuts"], steps["map"]

    nuts, fit_map = nuts_and_map()
    assert 0 < fit_map < nuts < HOURS_ON_CPU  # the quick preset runs in minutes
    assert nuts_and_map("sampler.draws=2000")[0] > nuts  # more draws, longer
    assert nuts_and_map("fit.starts=32")[1] == pytest.approx(2 * fit_map)
    paper = make_plan(load_spec("specs/papers/differentiable.toml"))
    assert estimate_plan(paper).seconds > HOURS_ON_CPU  # the paper's scale asks first


def test_f_sub_populations_are_counted_from_their_own_draws(in_repo):
    # Brehmer's proposal: hundreds of NFW subhalos per lens, not the population's nominal count
    from lensbench.estimate import _strong_lensing_subhalos

    spec = load_spec("specs/papers/mining.toml", preset="quick")[0]
    assert spec.simulation.regression.count_mode == "f_sub"
    assert 200 < _strong_lensing_subhalos(spec) < 2000


def test_flops_are_counted_without_memory():
    small, small_params = forward_flops("cnn", (1, 64, 64))
    big, big_params = forward_flops("vgg11", (1, 64, 64))
    assert 0 < small < big and small_params < big_params
    assert forward_flops("resnet18", (2, 64, 128))[0] > forward_flops("resnet18", (1, 64, 64))[0]


def test_a_plan_bigger_than_the_disk_is_refused_up_front(tmp_path, in_repo, monkeypatch):
    plan = make_plan(load_spec(SPEC))
    monkeypatch.setattr("lensbench.estimate.free_disk", lambda folder: 10**6)
    with pytest.raises(UsageError, match="would write about .* which has 1.0 MB free"):
        preflight(plan, Cache(tmp_path / "cache"), "cpu", yes=True)
    monkeypatch.setattr("lensbench.estimate.free_disk", lambda folder: 10**15)
    monkeypatch.setattr("lensbench.estimate.available_memory", lambda: 1000)
    with pytest.raises(UsageError, match="of memory; 1.0 kB is available"):
        preflight(plan, Cache(tmp_path / "cache"), "cpu", yes=True)


def test_a_run_of_hours_on_cpu_asks_or_warns(tmp_path, in_repo):
    plan = make_plan(load_spec(SPEC, overrides=["training.epochs=500"]))
    assert estimate_plan(plan).seconds > HOURS_ON_CPU
    cache = Cache(tmp_path / "cache")
    with pytest.raises(UsageError, match="not started: .*pass --yes"):
        preflight(plan, cache, "cpu", ask=lambda question: False)
    said = []
    preflight(plan, cache, "cpu", ask=None, echo=said.append)
    assert said and said[0].startswith("warning: this run would take about")
    preflight(plan, cache, "cpu", yes=True, ask=lambda question: pytest.fail("asked despite --yes"))
    preflight(plan, cache, "cuda", ask=lambda question: pytest.fail("asked on a GPU"))


def test_run_refuses_before_any_step(tmp_path, in_repo, monkeypatch):
    monkeypatch.setattr("lensbench.estimate.free_disk", lambda folder: 1000)
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--out", str(tmp_path / "out"),
                                      "--cache", str(tmp_path / "cache"), "--no-progress"])
    assert result.exit_code == 2 and "estimate (rough" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_plan_prints_the_estimates(tmp_path, in_repo):
    result = CliRunner().invoke(app, ["plan", SPEC, "--preset", "smoke", "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    assert "estimate (rough, 2 CPU cores): disk" in result.output
    assert "simulate:train" in result.output and "memory" in result.output
