"""Command-line behaviour: list, plan, exit codes of failing steps and bad arguments."""

from __future__ import annotations

from typer.testing import CliRunner

from lensbench.cli import app

SPEC = "specs/examples/nfw_detection.toml"


def test_list_names_every_registry():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    for expected in ("strong_lensing", "resnet18", "auc", "lognormal", "simulate"):
        assert expected in result.output


def test_plan_shows_steps_and_cache_status(in_repo, tmp_path):
    result = CliRunner().invoke(app, ["plan", SPEC, "--preset", "smoke", "--cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == ["simulate:train", "simulate:val", "simulate:test", "train",
                                                   "evaluate", "report"]
    assert "to run" in lines[0] and "always runs" in lines[-1]


def test_failing_step_exits_1_naming_step_and_log(in_repo, tmp_path):
    result = CliRunner().invoke(app, [
        "run", SPEC, "--preset", "smoke", "--cache", str(tmp_path), "--out", str(tmp_path / "out"), "--no-progress",
        "--set", 'experiment.task="regress"', "--set", 'data.labels=["no_such_parameter"]',
    ])
    assert result.exit_code == 1, result.output
    assert "step simulate:train failed" in result.output and "no_such_parameter" in result.output
    assert "step.log" in result.output and "Traceback" not in result.output


def test_bad_device_and_preset_exit_2(in_repo):
    assert CliRunner().invoke(app, ["run", SPEC, "--device", "tpu"]).exit_code == 2
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "fast"])
    assert result.exit_code == 2 and "unknown preset 'fast'; one of: quick, smoke" in result.output


def test_compare_needs_two_reports(tmp_path):
    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2
