"""One frozen :class:`TrainConfig`: everything :func:`lensbench.training.fit` needs to know.

The spec's ``[training]`` section is validated straight into it, so its fields follow the spec
conventions: ``metadata={"min": ..., "max": ...}`` give inclusive ranges and
``metadata={"choices": f}`` a zero-argument function returning the :class:`~lensbench.registry.Registry`
of allowed names (the optimisers and schedulers of :mod:`lensbench.training.optim`).
:meth:`TrainConfig.__post_init__` applies the same checks, so a config built in Python is held to
the same rules as one read from a spec, and rejects NaN or infinite values, which pass a range check.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from lensbench.training.optim import OPTIMIZERS, SCHEDULERS


def _optimizers():
    return OPTIMIZERS


def _schedulers():
    return SCHEDULERS


MAX_BATCH_SIZE = 65_536
"""Largest batch: 65,536 images of 2 x 64 x 128 float32 are 4 GB before any activation."""


def _min(value):
    return {"min": value}


@dataclass(frozen=True)
class TrainConfig:
    """``[training]``: optimiser, learning-rate schedule, epochs, early stopping, device, seed.

    Schedulers step once per epoch: ``none``; ``cosine_warm_restarts`` (torch's
    CosineAnnealingWarmRestarts: ``t_0`` epochs in the first cycle, ``t_mult`` cycle growth,
    ``eta_min`` floor); ``cosine_warmup_restarts`` (the same with a linear warm-up of
    ``warmup_epochs`` and peaks scaled by ``cycle_gamma`` at each restart, as Ko cites);
    ``exponential`` (geometric decay from ``lr`` to ``eta_min`` over ``epochs``, as Brehmer et al.);
    ``plateau`` (learning rate times ``plateau_factor`` once the monitored validation quantity has
    not improved for more than ``plateau_patience`` epochs, as Vattis et al.).

    Attributes
    ----------
    epochs, batch_size : int
        Maximum number of epochs; samples per batch (the last batch may be smaller).
    lr : float
        Initial learning rate (the peak of the cosine schedules); must be positive.
    optimizer : str
        A name in :data:`~lensbench.training.optim.OPTIMIZERS` (adam, adamw, sgd).
    momentum : float
        SGD momentum (ignored by Adam and AdamW).
    weight_decay : float
        L2 penalty (decoupled for AdamW).
    scheduler : str
        A name in :data:`~lensbench.training.optim.SCHEDULERS`; ``"none"`` keeps ``lr`` fixed.
    early_stopping_patience : int or None
        Stop after this many consecutive epochs without improvement; None never stops early.
    device : {"auto", "cpu", "cuda"}
        The device asked for; the caller resolves ``"auto"`` and passes the result to ``fit``.
    normalize : {"none", "max", "standardize", "dataset"}
        Normalisation of the inputs (applied by the datasets, not by ``fit``): per image, or
        ``"dataset"``, each channel's mean and standard deviation over the training split
        (saved with the model as ``normalize_constants``).
    seed : int or None
        Seeds the weights (through the model builder) and the batch order and dropout (through
        ``fit``); None means the experiment seed, filled in with :meth:`seeded` before training.
    """

    epochs: int = field(default=10, metadata={"min": 1, "max": 100_000})
    batch_size: int = field(default=32, metadata={"min": 1, "max": MAX_BATCH_SIZE})
    lr: float = field(default=1e-3, metadata=_min(0.0))
    optimizer: str = field(default="adam", metadata={"choices": _optimizers})
    momentum: float = field(default=0.9, metadata=_min(0.0))
    weight_decay: float = field(default=0.0, metadata=_min(0.0))
    scheduler: str = field(default="none", metadata={"choices": _schedulers})
    t_0: int = field(default=10, metadata={"min": 1, "help": "Epochs in the first cycle of the cosine schedules."})
    t_mult: int = field(default=1, metadata={"min": 1, "help": "Growth of each cosine cycle's length after a restart."})
    eta_min: float = field(default=0.0, metadata={"min": 0.0, "help": "Lowest learning rate of the cosine schedules; the rate `exponential` decays to."})
    warmup_epochs: int = field(default=0, metadata={"min": 0, "help": "Epochs of linear warm-up of `cosine_warmup_restarts`."})
    cycle_gamma: float = field(default=1.0, metadata={
        "min": 0.0, "help": "Factor on the peak learning rate at each restart of `cosine_warmup_restarts`."})
    plateau_patience: int = field(default=5, metadata={
        "min": 1, "help": "Epochs without improvement of the validation loss before `plateau` cuts the rate."})
    plateau_factor: float = field(default=0.1, metadata={
        "min": 0.0, "max": 1.0, "help": "Factor `plateau` multiplies the learning rate by."})
    early_stopping_patience: int | None = field(default=None, metadata=_min(1))
    device: Literal["auto", "cpu", "cuda"] = "auto"
    normalize: Literal["none", "max", "standardize", "dataset"] = "none"
    seed: int | None = field(default=None, metadata=_min(0))

    def __post_init__(self):
        for spec in dataclasses.fields(self):
            _check_field(spec, getattr(self, spec.name))
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.scheduler == "exponential" and not 0 < self.eta_min <= self.lr:
            raise ValueError(f"the exponential scheduler decays lr to eta_min: eta_min must be in (0, lr], "
                             f"got {self.eta_min}")

    def seeded(self, default: int) -> "TrainConfig":
        """This config with ``seed`` set to ``default`` if it is None (the experiment seed)."""
        return self if self.seed is not None else dataclasses.replace(self, seed=default)


def _check_field(spec: dataclasses.Field, value) -> None:
    """Raise ValueError if ``value`` breaks field ``spec``'s metadata or is a non-finite float."""
    if value is None:
        return
    name, meta = spec.name, spec.metadata
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if "min" in meta and value < meta["min"]:
        raise ValueError(f"{name} must be >= {meta['min']}, got {value}")
    if "max" in meta and value > meta["max"]:
        raise ValueError(f"{name} must be <= {meta['max']}, got {value}")
    if "choices" in meta and value not in meta["choices"]():
        raise ValueError(f"{name}: {meta['choices']().unknown_message(value)}")
