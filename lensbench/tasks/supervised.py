"""The supervised tasks: ``classify`` (classes) and ``regress`` (simulated parameters).

Both train one network on the train split (the val split for the best epoch and early
stopping) and evaluate it on the test split; a classifier is also applied to real data when the
spec has ``[application] inputs``::

    simulate:train  simulate:val            simulate:test
            \\           /                       |
               train ------------------------ evaluate
                    \\
                     apply (classify, with [application] inputs)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lensbench.report import supervised as report
from lensbench.tasks.base import TASKS, Task, TaskStep


def train_params(spec) -> dict:
    """What the ``train`` step reads: the task, the model, the training settings with their seed
    (``training.seed``, by default the experiment's). The device is not part of the result, so it
    is hashed as ``auto``."""
    training = dataclasses.replace(spec.training.seeded(spec.experiment.seed), device="auto")
    return {"task": spec.experiment.task, "model": spec.model, "training": training}


def evaluate_params(spec) -> dict:
    """What the ``evaluate`` step reads: the metrics to compute."""
    return {"evaluation": spec.evaluation, "task": spec.experiment.task}


def application_inputs(spec) -> list[str]:
    """The ``[application] inputs`` as absolute paths (relative ones are relative to the spec file)."""
    base = Path(spec.source).parent
    return [str(p if Path(p).is_absolute() else (base / p).resolve()) for p in spec.application.inputs]


def fingerprint(paths: list[str]) -> list:
    """Size and modification time of every input file (folders: of the files in them), so a
    changed input invalidates the cached application."""
    out = []
    for path in map(Path, paths):
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        out.append([str(path), [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]])
    return out


def apply_params(spec) -> dict:
    """What the ``apply`` step reads: the application settings and its inputs' fingerprint."""
    inputs = application_inputs(spec)
    return {"application": spec.application, "inputs": inputs, "fingerprint": fingerprint(inputs)}


def supervised_steps(spec) -> list[TaskStep]:
    """train -> evaluate (-> apply) for one branch."""
    steps = [
        TaskStep("train", "train", train_params(spec), {"train": "simulate:train", "val": "simulate:val"}),
        TaskStep("evaluate", "evaluate", evaluate_params(spec), {"model": "train", "test": "simulate:test"}),
    ]
    if spec.experiment.task == "classify" and spec.application.inputs:
        steps.append(TaskStep("apply", "apply", apply_params(spec), {"model": "train"}))
    return steps


TASKS.register("classify")(Task(
    name="classify",
    steps=supervised_steps,
    report=report.classification_sections,
    labels="classes",
    report_roles=("train", "evaluate", "apply"),
    description="supervised classification of the [data] classes (cross-entropy); AUC, ROC, calibration",
))

TASKS.register("regress")(Task(
    name="regress",
    steps=supervised_steps,
    report=report.regression_sections,
    labels="parameters",
    report_roles=("train", "evaluate"),
    description="supervised regression of the simulated [data] labels (mean squared error); MSE, R^2",
))
