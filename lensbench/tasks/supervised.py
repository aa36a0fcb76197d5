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
import glob
import os
import re
from pathlib import Path

from lensbench.tasks.base import TASKS, Task, TaskStep


def train_params(spec) -> dict:
    """What the ``train`` step reads: the task, the model, the training settings with their seed
    (``training.seed``, by default the experiment's), and the simulation and survey the data
    came from (recorded in the model card: ``lensbench apply`` checks the pixel scale and runs
    its size-matched control from them). The device is not part of the result, so it is hashed
    as ``auto``."""
    training = dataclasses.replace(spec.training.seeded(spec.experiment.seed), device="auto")
    return {"task": spec.experiment.task, "model": spec.model, "training": training,
            "simulation": spec.simulation, "survey": spec.survey}


def evaluate_params(spec) -> dict:
    """What the ``evaluate`` step reads: the metrics to compute."""
    return {"evaluation": spec.evaluation, "task": spec.experiment.task}


_ENVIRONMENT = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def _expand(text: str) -> str:
    """``${NAME}`` and ``${NAME:-default}`` replaced from the environment (an unset name without
    a default stays as written, so a message can name it)."""
    return _ENVIRONMENT.sub(lambda m: os.environ.get(m[1], m[2] if m[2] is not None else m[0]), text)


def application_inputs(spec) -> list[str]:
    """The ``[application] inputs`` as absolute paths: environment names expanded, relative
    paths relative to the spec file."""
    base = Path(spec.source).parent
    paths = [Path(_expand(p)).expanduser() for p in spec.application.inputs]
    return [str(p if p.is_absolute() else (base / p).resolve()) for p in paths]


def missing_inputs(paths: list[str]) -> list[str]:
    """The inputs that do not exist (a glob pattern: that matches nothing)."""
    return [path for path in paths
            if not (glob.glob(path, recursive=True) if glob.has_magic(path) else Path(path).exists())]


def application_warnings(spec) -> list[str]:
    """What a user should know before running: the application's missing inputs (a warning, not
    an error: the run writes its report and says there what is missing)."""
    if spec.experiment.task != "classify" or not spec.application.inputs:
        return []
    missing = missing_inputs(application_inputs(spec))
    if not missing:
        return []
    hint = f" {spec.application.fetch_hint}" if spec.application.fetch_hint else ""
    return [f"{spec.branch_name}: [application] inputs not found: {', '.join(missing)}; the run "
            f"will skip the application and say so in its report.{hint}"]


def fingerprint(paths: list[str]) -> list:
    """Size and modification time of every input file (folders: of the files in them), so a
    changed input invalidates the cached application (glob patterns: of the files they match)."""
    out = []
    for path in paths:
        matches = sorted(map(Path, glob.glob(path, recursive=True))) if glob.has_magic(path) else [Path(path)]
        files = [f for match in matches for f in (sorted(match.rglob("*")) if match.is_dir() else [match])]
        out.append([path, [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]])
    return out


def apply_params(spec) -> dict:
    """What the ``apply`` step reads: the application settings, its inputs' fingerprint, and the
    training simulation, survey and seed its size-matched control draws from."""
    inputs = application_inputs(spec)
    return {"application": spec.application, "inputs": inputs, "fingerprint": fingerprint(inputs),
            "simulation_kind": spec.simulation_kind, "simulation": spec.simulation,
            "survey": spec.survey, "seed": spec.experiment.seed}


def supervised_steps(spec) -> list[TaskStep]:
    """train -> evaluate (-> apply) for one branch."""
    steps = [
        TaskStep("train", "train", train_params(spec), {"train": "simulate:train", "val": "simulate:val"}),
        TaskStep("evaluate", "evaluate", evaluate_params(spec), {"model": "train", "test": "simulate:test"}),
    ]
    if spec.experiment.task == "classify" and spec.application.inputs:
        steps.append(TaskStep("apply", "apply", apply_params(spec), {"model": "train"}))
    return steps


def classification_sections(branches, context) -> dict:
    """:func:`lensbench.report.supervised.classification_sections`, imported when a report is
    written (it imports matplotlib, which spec validation does not need)."""
    from lensbench.report.supervised import classification_sections as sections

    return sections(branches, context)


def regression_sections(branches, context) -> dict:
    """:func:`lensbench.report.supervised.regression_sections`, imported when a report is written."""
    from lensbench.report.supervised import regression_sections as sections

    return sections(branches, context)


TASKS.register("classify")(Task(
    name="classify",
    steps=supervised_steps,
    report=classification_sections,
    labels="classes",
    report_roles=("train", "evaluate", "apply"),
    description="supervised classification of the [data] classes (cross-entropy); AUC, ROC, calibration",
))

TASKS.register("regress")(Task(
    name="regress",
    steps=supervised_steps,
    report=regression_sections,
    labels="parameters",
    report_roles=("train", "evaluate"),
    description="supervised regression of the simulated [data] labels (mean squared error); MSE, R^2",
))
