"""The settings of self-supervised pre-training and of its evaluation, as frozen dataclasses.

:class:`PretrainConfig` is the spec's ``[pretrain]`` section, :class:`FinetuneConfig` its
``[finetune]`` section and :class:`AxionRegressionConfig` its ``[axion_regression]`` section
(task ``ssl``); fine-tuning and the supervised baselines train under the
spec's ``[training]`` (:class:`lensbench.training.TrainConfig`). Field metadata follows the spec
conventions (``min``/``max`` inclusive, ``help``); :meth:`__post_init__` checks across fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Literal

Augmentation = Literal["rotate90", "rotate", "flip", "noise"]
Method = Literal["simclr", "byol", "simsiam", "dino"]


def _check_ranges(config) -> None:
    for spec in fields(config):
        value = getattr(config, spec.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{spec.name}: must be finite, got {value}")
        if "min" in spec.metadata and isinstance(value, (int, float)) and value < spec.metadata["min"]:
            raise ValueError(f"{spec.name}: must be >= {spec.metadata['min']}, got {value}")
        if "max" in spec.metadata and isinstance(value, (int, float)) and value > spec.metadata["max"]:
            raise ValueError(f"{spec.name}: must be <= {spec.metadata['max']}, got {value}")


@dataclass(frozen=True)
class PretrainConfig:
    """``[pretrain]``: the self-supervised method, its views and its schedule (Deshmukh+23 sec. 2.1).

    The views of every method are the augmentations in ``augmentations`` (applied in order,
    :mod:`lensbench.ssl.augment` says what each does to theta_E and the vortex length); DINO adds
    ``local_views`` un-resized crops of ``local_crop_size`` pixels. The same augmentations are
    applied when fine-tuning and to the supervised baseline (sec. 3).
    """

    method: Method = field(default="simclr", metadata={"help": "simclr (NT-Xent), byol, simsiam or dino."})
    augmentations: tuple[Augmentation, ...] = field(default=("rotate",), metadata={
        "help": "Augmentations making each view, in order: rotate90, rotate (any angle), flip, noise."})
    noise_sigma: float = field(default=0.1, metadata={
        "min": 0.0, "help": "Standard deviation of `noise`, in normalised pixel units (a fraction of the peak for normalize = \"max\")."})
    epochs: int = field(default=10, metadata={"min": 1, "max": 100_000, "help": "Pre-training epochs over the train split (labels unused)."})
    batch_size: int = field(default=128, metadata={"min": 2, "max": 65_536, "help": "Images per pre-training batch (each gives two or more views)."})
    lr: float = field(default=1e-3, metadata={"min": 1e-12, "help": "AdamW learning rate of pre-training."})
    weight_decay: float = field(default=1e-4, metadata={"min": 0.0, "help": "AdamW weight decay of pre-training."})
    projection_dim: int = field(default=128, metadata={"min": 1, "help": "Output size of the projector (and of BYOL's and SimSiam's predictor)."})
    hidden_dim: int = field(default=512, metadata={"min": 1, "help": "Hidden width of the projector, predictor and DINO head."})
    temperature: float = field(default=0.5, metadata={"min": 1e-6, "help": "NT-Xent temperature (simclr)."})
    ema_momentum: float = field(default=0.99, metadata={
        "min": 0.0, "max": 1.0, "help": "Momentum of the EMA target/teacher (byol, dino): teacher = m teacher + (1 - m) student."})
    prototypes: int = field(default=256, metadata={"min": 2, "help": "Output size K of the DINO head."})
    student_temperature: float = field(default=0.1, metadata={"min": 1e-6, "help": "DINO student temperature."})
    teacher_temperature: float = field(default=0.04, metadata={"min": 1e-6, "help": "DINO teacher temperature (sharpening)."})
    center_momentum: float = field(default=0.9, metadata={"min": 0.0, "max": 1.0, "help": "Momentum of DINO's centre of the teacher outputs."})
    local_views: int = field(default=4, metadata={"min": 0, "help": "DINO local views per image (un-resized crops)."})
    local_crop_size: int = field(default=32, metadata={"min": 1, "unit": "pixels", "help": "Side of DINO's local crops, at the image's own pixel scale."})

    def __post_init__(self):
        _check_ranges(self)
        if len(set(self.augmentations)) != len(self.augmentations):
            raise ValueError(f"augmentations: each augmentation at most once, got {list(self.augmentations)}")


@dataclass(frozen=True)
class FinetuneConfig:
    """``[finetune]``: how pre-trained encoders are evaluated against supervised baselines.

    Every label fraction is fine-tuned (encoder + fully connected head) and trained from random
    initialisation (the supervised baseline) once per seed, under ``[training]``; the label subset
    of a fraction is drawn once, class by class, from the experiment seed, so the seed spread is
    that of training alone.
    """

    seeds: tuple[int, ...] = field(default=(0, 1, 2), metadata={"help": "Training seeds of fine-tuning, probes and baselines."})
    label_fractions: tuple[float, ...] = field(default=(0.01, 0.1, 1.0), metadata={
        "help": "Fractions of the train split's labels used for fine-tuning and baselines (1.0: all, the paper's tables)."})
    knn_neighbours: int = field(default=20, metadata={"min": 1, "help": "Neighbours of the kNN probe (cosine distance)."})
    probe_max_iter: int = field(default=2000, metadata={"min": 10, "help": "Iterations of the logistic-regression probe."})

    def __post_init__(self):
        _check_ranges(self)
        if not self.seeds:
            raise ValueError("seeds: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds: distinct non-negative integers, got {list(self.seeds)}")
        if not self.label_fractions or any(not 0.0 < f <= 1.0 for f in self.label_fractions):
            raise ValueError(f"label_fractions: each in (0, 1], got {list(self.label_fractions)}")
        if 1.0 not in self.label_fractions:
            raise ValueError("label_fractions: must include 1.0 (the paper's tables use every label)")


@dataclass(frozen=True)
class AxionRegressionConfig:
    """``[axion_regression]``: the regression of the axion mass (Deshmukh+23 sec. 2.2, Fig. 2).

    When ``enabled``, every pre-trained encoder is fine-tuned, and the supervised baseline trained
    from random weights, with a one-output fully connected head on log10(m_a / eV) of the
    vortex-class images (MSE, every label), with the row's augmentations, the ``[finetune]``
    seeds and the ``[training]`` schedule of the classification; test errors are reported
    overall and in bins of m_a over the prior's range.
    """

    enabled: bool = field(default=False, metadata={
        "help": "Regress log10(m_a / eV) on the vortex images with each pre-trained encoder and the supervised "
                "baseline (needs a class of kind \"vortex\" in [data] classes with a bounded axion_mass prior)."})
    bins_per_decade: int = field(default=2, metadata={
        "min": 1, "max": 20, "help": "Bins per decade of m_a, over the axion_mass prior's range, of the per-bin "
                                     "regression errors (2: half decades)."})

    def __post_init__(self):
        _check_ranges(self)


def mass_bins(low_ev: float, high_ev: float, per_decade: int) -> list[float]:
    """Edges in log10(m_a / eV) of equal bins over [low_ev, high_ev] eV, ``per_decade`` bins per
    decade (rounded to a whole number of bins, at least one)."""
    if not 0 < low_ev < high_ev or not math.isfinite(high_ev):
        raise ValueError(f"the axion-mass range needs 0 < low < high < inf (eV), got [{low_ev}, {high_ev}]")
    low, high = math.log10(low_ev), math.log10(high_ev)
    count = max(1, round((high - low) * per_decade))
    return [low + (high - low) * i / count for i in range(count + 1)]
