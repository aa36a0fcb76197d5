"""The engine's own spec sections, one frozen dataclass each (``[experiment]``, ``[data]``,
``[model]``, ``[evaluation]``, ``[report]``, ``[application]``).

``[training]`` and ``[execution]`` are validated straight into the core's
:class:`~lensbench.training.TrainConfig` and :class:`~lensbench.execution.ExecutionConfig`;
``[simulation]`` and ``[survey]`` into the dataclasses their simulation kind registers; a task's
own sections into those the task registers (:mod:`lensbench.tasks`). Field metadata ``min``,
``max`` and ``choices`` are checked by :class:`~lensbench.spec.convert.Converter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def _architectures():
    from lensbench.models import ARCHITECTURES

    return ARCHITECTURES


def _metrics():
    from lensbench.metrics import METRICS

    return METRICS


def _tasks():
    from lensbench.tasks import TASKS

    return TASKS


def _min(value):
    return {"min": value}


@dataclass(frozen=True)
class PaperSection:
    """The published numbers a report puts beside ours.

    ``table`` maps a branch name (``main`` for a spec without a grid) to metric -> value.
    """

    citation: str = ""
    arxiv: str = ""
    table: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: str = ""
    analysis: str = ""

    def __post_init__(self):
        if self.analysis:
            from lensbench.papers import PAPER_ANALYSES

            if self.analysis not in PAPER_ANALYSES:
                raise ValueError(f"analysis: {PAPER_ANALYSES.unknown_message(self.analysis)}")


@dataclass(frozen=True)
class ExperimentSection:
    """``[experiment]``: what the experiment is, its task and its seed."""

    name: str
    seed: int = field(metadata=_min(0))
    description: str = ""
    task: str = field(default="classify", metadata={"choices": _tasks})
    paper: PaperSection = field(default_factory=PaperSection)

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ValueError(f"name must be letters, digits, '-', '_' or '.', got {self.name!r}")


@dataclass(frozen=True)
class DataSection:
    """``[data]``: dataset sizes (images per class for classification, in total for regression)."""

    n_train: int = field(default=1000, metadata=_min(1))
    n_val: int = field(default=200, metadata=_min(1))
    n_test: int = field(default=200, metadata=_min(1))
    classes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    label_scale: dict[str, float] = field(default_factory=dict)
    shard_size: int = field(default=1000, metadata=_min(1))


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: the architecture by registered name, and its options."""

    architecture: str = field(default="cnn", metadata={"choices": _architectures})
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        from lensbench.models import option_errors

        problems = option_errors(self.architecture, self.options) if self.architecture in _architectures() else []
        if problems:
            raise ValueError("options: " + "; ".join(problems))


@dataclass(frozen=True)
class EvaluationSection:
    """``[evaluation]``: which metrics to compute and report."""

    metrics: tuple[str, ...] = ("auc", "roc", "accuracy", "precision", "recall", "f1", "confusion", "calibration")
    calibration_bins: int = field(default=10, metadata=_min(2))

    def __post_init__(self):
        registry = _metrics()
        unknown = [m for m in self.metrics if m not in registry]
        if unknown:
            raise ValueError(f"metrics: {registry.unknown_message(unknown[0])}")


@dataclass(frozen=True)
class ReportSection:
    """``[report]``: what the report shows."""

    title: str = ""
    examples_per_class: int = field(default=4, metadata=_min(0))


@dataclass(frozen=True)
class ApplicationPaper:
    """``[application.paper]``: the paper's own counts for its application to real data, shown
    beside ours (Ko's COSMOS numbers live in ``specs/papers/cosmos.toml``, not in code)."""

    source: str = ""
    stamps_read: int | None = None
    passed: int | None = None
    positive: int | None = None


@dataclass(frozen=True)
class ApplicationSection:
    """``[application]``: run the trained classifier on real FITS data (``lensbench apply``).

    ``inputs`` are FITS files, folders or glob patterns, relative to the spec file; empty means
    no application step. The cuts are Ko's (pixels per side; the brightest pixel in the files'
    units, counts/s for COSMOS); ``normalisation`` is applied after resampling and before the
    per-image normalisation the network was trained with (``training.normalize``).
    """

    inputs: tuple[str, ...] = ()
    min_size: int | None = 50
    max_size: int | None = 80
    max_pixel: float | None = 2.0
    reject_non_finite: bool = True
    normalisation: Literal["none", "max", "sum", "minmax", "standardize"] = "none"
    resampling: Literal["bilinear", "bicubic", "area", "nearest"] = "bilinear"
    gallery_size: int = field(default=18, metadata=_min(1))
    paper: ApplicationPaper = field(default_factory=ApplicationPaper)
