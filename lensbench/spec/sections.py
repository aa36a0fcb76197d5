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

    citation: str = field(default="", metadata={"help": "The paper, as the report cites it (authors, year, journal)."})
    arxiv: str = field(default="", metadata={"help": "The paper's arXiv identifier (2008.11577), linked from the report."})
    table: dict[str, dict[str, float]] = field(default_factory=dict, metadata={
        "help": "The paper's numbers beside ours: branch name (`main` without a grid) -> metric -> value."})
    notes: str = field(default="", metadata={"help": "How the paper's setup compares with this spec (shown with its numbers)."})
    analysis: str = field(default="", metadata={
        "help": "A registered paper analysis adding the paper's own figures to the report (`lensbench list`); empty for none."})

    def __post_init__(self):
        if self.analysis:
            from lensbench.papers import PAPER_ANALYSES

            if self.analysis not in PAPER_ANALYSES:
                raise ValueError(f"analysis: {PAPER_ANALYSES.unknown_message(self.analysis)}")


@dataclass(frozen=True)
class ExperimentSection:
    """``[experiment]``: what the experiment is, its task and its seed."""

    name: str = field(metadata={"help": "The experiment's name (letters, digits, '-', '_', '.'): reports go to reports/<name>/<preset>."})
    seed: int = field(metadata={"min": 0, "help": "Seed of the simulation and (unless `training.seed` is set) of the training."})
    description: str = field(default="", metadata={"help": "Free text opening the report."})
    task: str = field(default="classify", metadata={"choices": _tasks, "help": "What is learnt from the simulated data: a registered task."})
    paper: PaperSection = field(default_factory=PaperSection, metadata={"help": "The published numbers a report puts beside ours."})

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ValueError(f"name must be letters, digits, '-', '_' or '.', got {self.name!r}")


MAX_IMAGES_PER_SPLIT = 100_000_000
"""Most images one split may hold (and one shard): 1e8 images of 64 x 64 float32 are 1.6 TB,
a thousand times the largest paper set here (Ko's 80,000); `lensbench plan` estimates the disk."""


@dataclass(frozen=True)
class DataSection:
    """``[data]``: dataset sizes (images per class for classification, in total for regression)."""

    n_train: int = field(default=1000, metadata={"min": 1, "max": MAX_IMAGES_PER_SPLIT, "help": "Training images: per class (task classify) or in total (regress)."})
    n_val: int = field(default=200, metadata={"min": 1, "max": MAX_IMAGES_PER_SPLIT, "help": "Validation images, counted as `n_train`."})
    n_test: int = field(default=200, metadata={"min": 1, "max": MAX_IMAGES_PER_SPLIT, "help": "Test images, counted as `n_train`."})
    classes: tuple[str, ...] = field(default=(), metadata={
        "help": "Classes to simulate, in label order: names the simulation kind renders (tasks labelled by classes)."})
    labels: tuple[str, ...] = field(default=(), metadata={
        "help": "Simulated parameters a regression learns (task regress), e.g. lens_theta_E."})
    label_scale: dict[str, float] = field(default_factory=dict, metadata={
        "help": "Parameter -> divisor: the network learns label / scale (1 where not given)."})
    shard_size: int = field(default=1000, metadata={"min": 1, "max": MAX_IMAGES_PER_SPLIT, "help": "Images per simulation shard (the unit of parallel work and of resuming)."})


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: the architecture by registered name, and its options."""

    architecture: str = field(default="cnn", metadata={"choices": _architectures, "help": "The network, by registered name."})
    options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Keyword options of the architecture's builder (each architecture's are listed below)."})

    def __post_init__(self):
        from lensbench.models import option_errors

        problems = option_errors(self.architecture, self.options) if self.architecture in _architectures() else []
        if problems:
            raise ValueError("options: " + "; ".join(problems))


@dataclass(frozen=True)
class EvaluationSection:
    """``[evaluation]``: which metrics to compute and report."""

    metrics: tuple[str, ...] = field(default=("auc", "roc", "accuracy", "precision", "recall", "f1", "confusion", "calibration"),
                                     metadata={"choices": _metrics, "help": "Registered metrics to compute and report."})
    calibration_bins: int = field(default=10, metadata={"min": 2, "help": "Bins of predicted probability in the calibration (reliability) curve."})

    def __post_init__(self):
        registry = _metrics()
        unknown = [m for m in self.metrics if m not in registry]
        if unknown:
            raise ValueError(f"metrics: {registry.unknown_message(unknown[0])}")


@dataclass(frozen=True)
class ReportSection:
    """``[report]``: what the report shows."""

    title: str = field(default="", metadata={"help": "Title of the report; empty: \"lensbench: <experiment name>\"."})
    examples_per_class: int = field(default=4, metadata={"min": 0, "help": "Simulated example images the report shows per class."})


@dataclass(frozen=True)
class ApplicationPaper:
    """``[application.paper]``: the paper's own counts for its application to real data, shown
    beside ours (Ko's COSMOS numbers live in ``specs/papers/cosmos.toml``, not in code)."""

    source: str = field(default="", metadata={"help": "Where in the paper the counts are stated."})
    stamps_read: int | None = field(default=None, metadata={"help": "Stamps the paper read."})
    passed: int | None = field(default=None, metadata={"help": "Stamps that passed the paper's cuts."})
    positive: int | None = field(default=None, metadata={"help": "Stamps the paper's classifier called positive."})


@dataclass(frozen=True)
class ApplicationSection:
    """``[application]``: run the trained classifier on real FITS data (``lensbench apply``).

    ``inputs`` are FITS files, folders or glob patterns, relative to the spec file, with
    ``${NAME}`` or ``${NAME:-default}`` read from the environment; empty means no application
    step (missing inputs: the step reports what is missing). The cuts are Ko's (pixels per side;
    the brightest pixel in the files' units, counts/s for COSMOS); ``preparation`` brings a stamp
    to the network size at its own pixel scale (``"native"``: crop or pad) or by interpolation
    (``"resample"``, with ``resampling``, which changes the pixel scale); ``normalisation`` is
    applied after that and before the per-image normalisation the network was trained with
    (``training.normalize``). ``input_kind`` (what the stamps show, as a simulation kind) and
    ``pixel_scale`` (arcsec/px, where no catalogue gives it) are checked against the model's
    training domain. ``zooms`` are the magnifications of the zoom curve and ``control_size``
    the simulated no-halo galaxies the size-matched control matches from (0: no control;
    :mod:`lensbench.scoring.controls`). ``fetch_hint`` tells a user whose inputs are missing
    how to get them.
    """

    inputs: tuple[str, ...] = field(default=(), metadata={
        "help": "FITS files, folders or glob patterns relative to the spec (`${NAME}` from the environment); empty: no application."})
    min_size: int | None = field(default=50, metadata={"unit": "pixels", "help": "Reject stamps with a side below this (Ko: 50); unset: no cut."})
    max_size: int | None = field(default=80, metadata={"unit": "pixels", "help": "Reject stamps with a side above this (Ko: 80); unset: no cut."})
    max_pixel: float | None = field(default=2.0, metadata={
        "help": "Reject stamps whose brightest pixel exceeds this, in the files' units (counts/s for COSMOS; Ko: 2); unset: no cut."})
    reject_non_finite: bool = field(default=True, metadata={"help": "Reject stamps with NaN or infinite pixels."})
    normalisation: Literal["none", "max", "sum", "minmax", "standardize"] = field(default="none", metadata={
        "help": "Scaling of each prepared stamp, before the network's own `training.normalize`."})
    resampling: Literal["bilinear", "bicubic", "area", "nearest"] = field(default="bilinear", metadata={
        "help": "Interpolation of `preparation = \"resample\"`."})
    preparation: Literal["native", "resample"] = field(default="native", metadata={
        "help": "Bring stamps to the network size by cropping or padding at their own pixel scale (native) or by interpolation (resample)."})
    input_kind: str = field(default="galaxy", metadata={"help": "What the stamps show, as a simulation kind, checked against the model's training."})
    pixel_scale: float | None = field(default=None, metadata={
        "min": 1e-6, "unit": "arcsec", "help": "Pixel side of the stamps where no catalogue gives it, checked against the training survey."})
    zooms: tuple[float, ...] = field(default=(0.9, 0.95, 1.0, 1.05, 1.1), metadata={
        "help": "Magnifications of the zoom curve: the positive fraction of the real stamps after zooming each."})
    control_size: int = field(default=2000, metadata={
        "min": 0, "help": "Simulated no-halo galaxies the size-matched control matches from; 0: no control."})
    control_neighbours: int = field(default=10, metadata={
        "min": 1, "help": "Simulated galaxies matched to each real stamp (nearest in size and flux)."})
    fetch_hint: str = field(default="", metadata={"help": "Tells a user whose inputs are missing how to get them (shown with the missing paths)."})
    gallery_size: int = field(default=18, metadata={"min": 1, "help": "Stamps in each of the highest- and lowest-score galleries."})
    paper: ApplicationPaper = field(default_factory=ApplicationPaper, metadata={"help": "The paper's own counts, shown beside ours."})

    def __post_init__(self):
        if any(not zoom > 0 for zoom in self.zooms):
            raise ValueError(f"zooms: every zoom factor must be positive, got {list(self.zooms)}")
