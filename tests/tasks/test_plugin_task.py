"""A task defined entirely in this file runs end to end through ``lensbench run``.

The toy task regresses each image's mean pixel on its brightest pixel by least squares: a new
spec section (``[toy]``), a new step kind, its own report section, and no edit of any engine
file (plan, runner, report shell).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.io.atomic import write_json
from lensbench.report.document import Table
from lensbench.simulate.store import ShardedDataset
from lensbench.steps import STEP_KINDS
from lensbench.tasks import TASKS, Task, TaskStep


@dataclass(frozen=True)
class ToySection:
    """``[toy]``: how many images of the train split the fit may use."""

    max_images: int = field(default=1000, metadata={"min": 1})


class MeanPixelFit:
    """Fit mean pixel = a + b * max pixel on the train split, score R^2 on the test split."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx) -> dict:
        def columns(folder, limit=None):
            data = ShardedDataset(folder)
            images = data.images(np.arange(min(len(data), limit or len(data))))
            flat = images.reshape(len(images), -1).astype(np.float64)
            return np.stack([np.ones(len(flat)), flat.max(axis=1)], axis=1), flat.mean(axis=1)

        x, y = columns(ctx.inputs["train"], ctx.params["max_images"])
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        x_test, y_test = columns(ctx.inputs["test"])
        residual = y_test - x_test @ coefficients
        r2 = 1.0 - float(np.sum(residual**2) / np.sum((y_test - y_test.mean()) ** 2))
        write_json(ctx.work / "results.json", {"task": "mean_pixel", "metrics": {"r2": r2}, "curves": {},
                                               "n_test": int(len(y_test))})
        return {"r2": r2}


def mean_pixel_steps(spec) -> list[TaskStep]:
    return [TaskStep("evaluate", "toy_mean_pixel_fit", {"max_images": spec.task_sections["toy"].max_images},
                     {"train": "simulate:train", "test": "simulate:test"})]


def mean_pixel_report(branches, context) -> dict:
    rows = tuple((name, b.results["metrics"]["r2"]) for name, b in branches.items())
    return {"Results": [Table(("branch", "R² of the mean pixel"), rows, "The toy task's least-squares fit.")]}


@pytest.fixture
def toy_task(monkeypatch):
    """Register the toy task and its step kind for one test."""
    monkeypatch.setitem(STEP_KINDS._entries, "toy_mean_pixel_fit", MeanPixelFit)
    monkeypatch.setitem(TASKS._entries, "mean_pixel", Task(
        name="mean_pixel", steps=mean_pixel_steps, report=mean_pixel_report, labels="classes",
        sections={"toy": ToySection}, splits=("train", "test"), report_roles=("evaluate",),
        description="toy: the mean pixel from the brightest one"))


def test_a_task_defined_in_a_test_runs_end_to_end(toy_task, repo, tmp_path):
    spec = tmp_path / "toy.toml"
    spec.write_text(f'extends = "{repo / "specs/examples/nfw_detection.toml"}"\n'
                    '[experiment]\nname = "toy"\ntask = "mean_pixel"\n[toy]\nmax_images = 50\n')
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["run", str(spec), "--preset", "smoke", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    r2 = metrics["branches"]["main"]["metrics"]["r2"]
    assert metrics["branches"]["main"]["task"] == "mean_pixel"
    assert 0.0 < r2 <= 1.0  # the brightest pixel carries some of the mean pixel's variance
    report = (out / "report.md").read_text()
    assert "R² of the mean pixel" in report and "simulate:val" not in report  # the task needs no val split
    assert "train" not in [step.split("[")[0] for step in metrics["provenance"]["wall_time_s"]]


def test_a_task_section_is_refused_in_a_spec_of_another_task(toy_task, repo, tmp_path):
    spec = tmp_path / "wrong.toml"
    spec.write_text(f'extends = "{repo / "specs/examples/nfw_detection.toml"}"\n[toy]\nmax_images = 5\n')
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "section [toy] belongs to task 'mean_pixel'; this spec's task is 'classify'" in result.output


def test_an_unknown_task_lists_the_registered_ones(repo, tmp_path):
    spec = tmp_path / "unknown.toml"
    spec.write_text(f'extends = "{repo / "specs/examples/nfw_detection.toml"}"\n[experiment]\ntask = "clasify"\n')
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "unknown task 'clasify'" in result.output and "did you mean 'classify'" in result.output
