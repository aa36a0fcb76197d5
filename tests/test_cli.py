"""Command-line behaviour: list, plan, exit codes of failing steps and bad arguments, report and cache
folders checked before any step, help text, --version, the closing headline and start-up imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.plan import make_plan
from lensbench.spec import load_spec

REPO = Path(__file__).resolve().parents[1]

SPEC = "specs/examples/nfw_detection.toml"


def test_list_names_every_registry():
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    for expected in ("classify", "strong_lensing", "resnet18", "auc", "lognormal", "vattis21"):
        assert expected in result.output


def test_plan_shows_steps_and_cache_status(in_repo, tmp_path):
    result = CliRunner().invoke(app, ["plan", SPEC, "--preset", "smoke", "--cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith(("  ", "estimate"))]  # steps
    assert "estimate (rough, 2 CPU cores)" in result.output
    assert [line.split()[0] for line in lines] == ["simulate:train", "simulate:val", "simulate:test", "train",
                                                   "evaluate", "report"]
    assert "to run" in lines[0] and "always runs" in lines[-1]


def test_failing_step_exits_1_naming_step_and_log(in_repo, tmp_path):
    result = CliRunner().invoke(app, [
        "run", SPEC, "--preset", "smoke", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"),
        "--no-progress",
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


# --- item 9: fail before computing ------------------------------------------------------------

def _typo_spec(tmp_path):
    text = (REPO / SPEC).read_text().replace("options = { kernel_size = 3 }", "options = { kernel_sise = 3 }")
    path = tmp_path / "typo.toml"
    path.write_text(text)
    line = text.splitlines().index("options = { kernel_sise = 3 }") + 1
    return path, line


def test_typo_in_a_model_option_exits_2_naming_file_and_line(tmp_path):
    path, line = _typo_spec(tmp_path)
    for command in (["validate", str(path)], ["run", str(path), "--preset", "smoke", "--cache", str(tmp_path / "c"),
                                              "--out", str(tmp_path / "out")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert f"{path}:{line}" in result.output and "kernel_sise" in result.output
        assert "did you mean 'kernel_size'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "c").exists() and not (tmp_path / "out").exists()


def test_out_that_is_a_file_exits_2_before_any_step(in_repo, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--cache", str(tmp_path / "cache"),
                                      "--out", str(tmp_path / "file"), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"error: --out {tmp_path / 'file'}: is a file, not a folder"
    assert not (tmp_path / "cache").exists()
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--cache", str(tmp_path / "file" / "c"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and f"lies below the file {tmp_path / 'file'}" in result.output


@pytest.mark.parametrize("out, cache, message", [
    ("cache/reports", "cache", "inside the cache"),
    ("out", "report/cache", "inside the report folder"),
    ("report/sub", "cache", "inside the report folder"),
    ("out", "out/cache", "inside the report folder"),
])
def test_out_and_cache_inside_each_other_or_another_report_exit_2(in_repo, tmp_path, out, cache, message):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "metrics.json").write_text('{"spec_hash": "0"}')
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--out", str(tmp_path / out),
                                      "--cache", str(tmp_path / cache)])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / cache).exists() or not any((tmp_path / cache).iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out_exits_2(in_repo, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = CliRunner().invoke(app, ["run", SPEC, "--preset", "smoke", "--out", str(locked / "out"),
                                      "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 2 and "permission denied" in result.output


@pytest.fixture
def recorded_runs(monkeypatch):
    """``lensbench run`` with :func:`lensbench.runner.run_plan` replaced by a recorder: the report
    folder each run would write, without computing anything."""
    from lensbench import runner

    folders = []

    def record(plan, *, out_dir, **options):
        folders.append(out_dir)
        return runner.RunResult(plan=plan, out_dir=out_dir)

    monkeypatch.setattr(runner, "run_plan", record)
    return folders


def test_set_run_writes_its_own_folder_and_no_other_spec_replaces_a_report(tmp_path, monkeypatch, recorded_runs):
    from lensbench.runner import default_out_dir

    monkeypatch.chdir(tmp_path)
    spec = str(REPO / SPEC)
    other = tmp_path / "reports" / "nfw_detection" / "smoke"
    other.mkdir(parents=True)
    (other / "metrics.json").write_text(json.dumps({"spec_hash": "a" * 64}))
    before = (other / "metrics.json").read_text()

    overrides = ["training.epochs=1"]
    result = CliRunner().invoke(app, ["run", spec, "--preset", "smoke", "--set", overrides[0]])
    assert result.exit_code == 0, result.output
    expected = default_out_dir(make_plan(load_spec(spec, preset="smoke", overrides=overrides)), overrides)
    assert recorded_runs == [expected] and expected.parent == Path("reports/nfw_detection")
    assert expected.name.startswith("smoke-") and len(expected.name) == len("smoke-") + 8

    result = CliRunner().invoke(app, ["run", spec, "--preset", "smoke"])
    assert result.exit_code == 2 and len(recorded_runs) == 1
    assert "holds the report of another spec (sha256 aaaaaaaaaaaa" in result.output
    assert f"pass --out {Path('reports/nfw_detection/smoke')} to replace it" in result.output
    assert (other / "metrics.json").read_text() == before

    result = CliRunner().invoke(app, ["run", spec, "--preset", "smoke", "--out", "reports/nfw_detection/smoke"])
    assert result.exit_code == 0 and recorded_runs[-1] == Path("reports/nfw_detection/smoke")


# --- item 11: help, version, start-up ------------------------------------------------------

def test_help_shows_bracketed_text_and_every_plan_option_has_help():
    text = " ".join(CliRunner().invoke(app, ["run", "--help"]).output.split())
    assert "Apply [presets.NAME] (smoke, quick, ...)" in text
    assert "Report folder [reports/<experiment>/<preset>;" in text
    assert "CPU threads for torch [torch's default]" in text
    plan_help = CliRunner().invoke(app, ["plan", "--help"]).output
    for option in ("--preset", "--set", "--cache"):
        line = next(line for line in plan_help.splitlines() if option in line)
        assert len(line.split(option, 1)[1].split()) > 2, line


def test_version():
    from lensbench import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"lensbench {__version__}"


def test_validate_imports_neither_matplotlib_nor_lenstronomy(in_repo):
    """Spec validation starts fast: no matplotlib, lenstronomy, healpy or scikit-learn. (Torch is
    imported: the model options are checked against the architectures' builders, which are torch
    modules.)"""
    code = ("import sys; from typer.testing import CliRunner; from lensbench.cli import app; "
            "r = CliRunner().invoke(app, ['validate', 'specs/papers/cosmos.toml', 'specs/papers/astrometric.toml']); "
            "assert r.exit_code == 0, r.output; "
            "print(' '.join(m for m in ('matplotlib', 'lenstronomy', 'healpy', 'sklearn') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
