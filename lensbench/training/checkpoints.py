"""Checkpoints of a training run: ``best.pt`` (the best weights) and ``last.pt`` (everything a
resumed run needs to continue exactly as if it had not stopped).

Both are written atomically after every epoch and load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lensbench.io.atomic import write_atomic
from lensbench.training.history import History
from lensbench.training.objectives import Objective

CHECKPOINT_FORMAT = 2
"""Version of ``last.pt``'s layout (2: with the objective's state and modules)."""


@dataclass
class Progress:
    """What besides the weights a resumed run needs to continue exactly.

    ``best_monitored`` is the lowest monitored validation quantity so far and ``best_state`` the
    model's state dict at that epoch.
    """

    history: History
    best_monitored: float = math.inf
    best_state: dict | None = None
    epochs_without_improvement: int = 0


@dataclass
class TrainingState:
    """The live objects of a run that ``last.pt`` saves and restores."""

    model: nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: object
    generator: torch.Generator


def copy_state(model: nn.Module) -> dict:
    """A detached copy of ``model``'s state dict."""
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _save_atomically(obj, path: Path) -> None:
    """torch.save through :func:`lensbench.io.atomic.write_atomic`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def save_weights(module: nn.Module, path: Path) -> None:
    """Write ``module``'s state dict, on the CPU, to ``path`` atomically (a ``model.pt`` that
    loads with ``torch.load(..., weights_only=True)``)."""
    _save_atomically({key: value.detach().cpu() for key, value in module.state_dict().items()}, Path(path))


def write_checkpoints(directory: Path, live: TrainingState, progress: Progress, settings: dict,
                      improved: bool) -> None:
    """``best.pt`` (weights only) when the epoch improved, then ``last.pt`` (everything to resume)."""
    if improved:
        _save_atomically(progress.best_state, directory / "best.pt")
    _save_atomically({
        "format": CHECKPOINT_FORMAT,
        "settings": settings,
        "model": live.model.state_dict(),
        "objective": live.objective.state_dict(),
        "objective_modules": [module.state_dict() for module in live.objective.modules()],
        "optimizer": live.optimizer.state_dict(),
        "scheduler": None if live.scheduler is None else live.scheduler.state_dict(),
        "history": progress.history.to_dict(),
        "best_monitored": progress.best_monitored,
        "epochs_without_improvement": progress.epochs_without_improvement,
        "loader_generator": live.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }, directory / "last.pt")


def resume(directory: Path, live: TrainingState, settings: dict, device) -> Progress:
    """Restore model, objective, optimizer, scheduler and RNG states from ``directory/last.pt``.

    Raises
    ------
    ValueError
        If ``last.pt`` has another format or was written with other ``settings``.
    """
    path = directory / "last.pt"
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: unknown checkpoint format {state.get('format')!r}; delete it to start again")
    differing = sorted(k for k in settings if state["settings"].get(k) != settings[k])
    if differing:
        details = ", ".join(f"{k}: {state['settings'].get(k)!r} -> {settings[k]!r}" for k in differing)
        raise ValueError(f"{path} was written with other training settings ({details}); "
                         "use another checkpoint_dir or delete it")
    live.model.load_state_dict(state["model"])
    live.objective.load_state_dict(state["objective"])
    for module, weights in zip(live.objective.modules(), state["objective_modules"], strict=True):
        module.load_state_dict(weights)
    live.optimizer.load_state_dict(state["optimizer"])
    if live.scheduler is not None:
        live.scheduler.load_state_dict(state["scheduler"])
    live.generator.set_state(state["loader_generator"])
    torch.set_rng_state(state["torch_rng"])
    history = History.from_dict(state["history"])
    best_state = None
    if history.best_epoch >= 0:
        best_state = torch.load(directory / "best.pt", map_location=device, weights_only=True)
    return Progress(history, state["best_monitored"], best_state, state["epochs_without_improvement"])
