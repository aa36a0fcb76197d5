"""Supervised training: :func:`fit` (loop, schedulers, early stopping, checkpoints) and :func:`predict`.

Losses: cross-entropy on logits for classification (Vattis+21 Sec. III; Ko's softmax output,
seed 004 Table II, is the softmax inside it), mean squared error for regression (Ko Sec. III.A.1).
Schedulers step once per epoch: torch's cosine annealing with warm restarts (Loshchilov & Hutter
2017, eq. 5), :class:`CosineAnnealingWarmupRestarts` (J. Kim's scheduler that Ko cites, ref. 15)
and reduce-on-plateau (Vattis+21: learning rate /10 when the validation loss stops improving).

Everything random comes from ``seed``: weights are not touched (build the model with
``build_model(..., seed=...)``), the batch order comes from a ``torch.Generator`` and dropout from
the global CPU generator, which :func:`fit` seeds inside a fork so the caller's state survives.
On CPU the same seed gives the same weights, byte for byte, with or without an interruption.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, LRScheduler, ReduceLROnPlateau
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lensbench.io.atomic import write_atomic

TASKS = ("classify", "regress")
OPTIMIZERS = ("adam", "sgd", "adamw")
SCHEDULERS = (None, "cosine_warm_restarts", "cosine_warmup_restarts", "plateau")
CHECKPOINT_FORMAT = 1


class CosineAnnealingWarmupRestarts(LRScheduler):
    """Cosine annealing with warm restarts and a linear warm-up at the start of every cycle.

    Cycle ``i`` lasts ``T_0 * T_mult**i`` steps (epochs here). Within a cycle, at step ``t``,
    the peak is ``eta_max_i = lr0 * gamma**i`` (``lr0``: the optimizer's initial learning rate)
    and the learning rate is

    - ``eta_min + (eta_max_i - eta_min) * (t + 1) / (warmup + 1)`` for ``t < warmup`` (a linear
      warm-up that never trains a whole epoch at ``eta_min``, as a per-epoch step at ``t / warmup``
      would for ``t = 0``),
    - ``eta_min + (eta_max_i - eta_min) * (1 + cos(pi * (t - warmup) / (T_i - warmup))) / 2``
      afterwards (SGDR, Loshchilov & Hutter 2017, eq. 5, shifted by the warm-up).

    With ``warmup=0`` and ``gamma=1`` this is torch's ``CosineAnnealingWarmRestarts`` at integer
    steps. The warm-up starts from ``eta_min``, as in J. Kim's scheduler (Ko, ref. 15).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Wrapped optimizer; its learning rate is the first peak.
    T_0 : int
        Length of the first cycle in steps (>= 1).
    T_mult : int
        Factor by which each cycle is longer than the previous one (>= 1).
    eta_min : float
        Floor of the learning rate.
    warmup : int
        Steps of linear warm-up at the start of each cycle (0 <= warmup < T_0).
    gamma : float
        Factor applied to the peak at every restart (0 < gamma <= 1 usually).
    last_epoch : int
        Index of the last step, -1 to start.
    """

    def __init__(self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, warmup: int = 0,
                 gamma: float = 1.0, last_epoch: int = -1):
        if int(T_0) != T_0 or T_0 < 1:
            raise ValueError(f"T_0 must be a positive integer, got {T_0}")
        if int(T_mult) != T_mult or T_mult < 1:
            raise ValueError(f"T_mult must be an integer >= 1, got {T_mult}")
        if int(warmup) != warmup or not 0 <= warmup < T_0:
            raise ValueError(f"warmup must be an integer in [0, T_0={T_0}), got {warmup}")
        if gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        self.T_0, self.T_mult, self.eta_min = int(T_0), int(T_mult), float(eta_min)
        self.warmup, self.gamma = int(warmup), float(gamma)
        super().__init__(optimizer, last_epoch)

    def cycle_position(self, step: int) -> tuple[int, int, int]:
        """(cycle index, step within the cycle, cycle length) of global step ``step``."""
        cycle, length = 0, self.T_0
        while step >= length:
            step -= length
            cycle += 1
            length *= self.T_mult
        return cycle, step, length

    def get_lr(self) -> list[float]:
        cycle, step, length = self.cycle_position(self.last_epoch)
        if step < self.warmup:
            fraction = (step + 1) / (self.warmup + 1)
        else:
            fraction = 0.5 * (1.0 + math.cos(math.pi * (step - self.warmup) / (length - self.warmup)))
        return [self.eta_min + (base * self.gamma**cycle - self.eta_min) * fraction for base in self.base_lrs]


@dataclass
class History:
    """Per-epoch record of a training run.

    Attributes
    ----------
    train_loss, val_loss : list of float
        Mean loss per sample (cross-entropy in nats, or MSE in the targets' units squared).
        The training loss is averaged over the epoch as it runs (dropout active).
    train_acc, val_acc : list of float
        Fraction correct (argmax of the logits); empty for regression.
    lr : list of float
        Learning rate of the first parameter group during each epoch.
    epoch_seconds : list of float
        Wall time of each epoch (s), validation included.
    best_epoch : int
        0-based index of the epoch with the lowest validation loss (-1 before any epoch).
    stopped_early : bool
        Whether early stopping ended the run before ``epochs``.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False

    @property
    def epochs_run(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    def to_dict(self) -> dict:
        """Plain (JSON- and ``weights_only``-safe) copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


@dataclass
class _Progress:
    """What besides the weights a resumed run needs to continue exactly."""

    history: History
    best_val_loss: float = math.inf
    best_state: dict | None = None
    epochs_without_improvement: int = 0


def _check_choice(argument: str, value, allowed) -> None:
    if value not in allowed:
        listing = ", ".join(repr(a) if a is None else a for a in allowed)
        raise ValueError(f"{argument} must be one of: {listing}; got {value!r}")


def _check_positive(argument: str, value, integer: bool) -> None:
    bad_type = isinstance(value, bool) or (integer and int(value) != value)
    if bad_type or not value > 0:
        kind = "a positive integer" if integer else "positive"
        raise ValueError(f"{argument} must be {kind}, got {value!r}")


def _make_optimizer(name: str, parameters, lr: float, weight_decay: float, momentum: float):
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _make_scheduler(name: str | None, optimizer, options: dict):
    if name == "cosine_warm_restarts":
        return CosineAnnealingWarmRestarts(optimizer, T_0=options["t_0"], T_mult=options["t_mult"],
                                           eta_min=options["eta_min"])
    if name == "cosine_warmup_restarts":
        return CosineAnnealingWarmupRestarts(optimizer, T_0=options["t_0"], T_mult=options["t_mult"],
                                             eta_min=options["eta_min"], warmup=options["warmup_epochs"],
                                             gamma=options["cycle_gamma"])
    if name == "plateau":
        return ReduceLROnPlateau(optimizer, mode="min", factor=options["plateau_factor"],
                                 patience=options["plateau_patience"])
    return None


def _loss_function(task: str) -> nn.Module:
    return nn.CrossEntropyLoss() if task == "classify" else nn.MSELoss()


def _prepare_targets(targets: torch.Tensor, outputs: torch.Tensor, task: str) -> torch.Tensor:
    if task == "classify":
        return targets.long()
    return targets.float().reshape(outputs.shape)


def _run_epoch(model, loader, task, device, optimizer=None, bar=None) -> tuple[float, float | None]:
    """One pass over ``loader``; trains when an optimizer is given. Returns (mean loss, accuracy)."""
    loss_function = _loss_function(task)
    total_loss, total_correct, total_count = 0.0, 0, 0
    for images, targets in loader:
        images, targets = images.to(device), targets.to(device)
        with torch.set_grad_enabled(optimizer is not None):
            outputs = model(images)
            targets = _prepare_targets(targets, outputs, task)
            loss = loss_function(outputs, targets)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        count = images.shape[0]
        total_loss += float(loss.detach()) * count
        total_count += count
        if task == "classify":
            total_correct += int((outputs.detach().argmax(dim=1) == targets).sum())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / total_count:.4g}")
    accuracy = total_correct / total_count if task == "classify" else None
    return total_loss / total_count, accuracy


def _record_epoch(state: _Progress, model: nn.Module, epoch: int, train: tuple, val: tuple) -> bool:
    """Append an epoch's (loss, accuracy) pairs; keep a copy of the weights if validation improved."""
    history = state.history
    history.train_loss.append(train[0])
    history.val_loss.append(val[0])
    if val[1] is not None:
        history.train_acc.append(train[1])
        history.val_acc.append(val[1])
    improved = val[0] < state.best_val_loss
    if improved:
        state.best_val_loss, state.best_state = val[0], _copy_state(model)
        history.best_epoch, state.epochs_without_improvement = epoch, 0
    else:
        state.epochs_without_improvement += 1
    return improved


def _step_scheduler(scheduler, val_loss: float) -> None:
    """Once per epoch; reduce-on-plateau needs the validation loss."""
    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(val_loss)
    elif scheduler is not None:
        scheduler.step()


def _ordered_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    """Unshuffled loader with its own generator, so iterating it leaves the global RNG alone."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                      generator=torch.Generator().manual_seed(0))


def _save_atomically(obj, path: Path) -> None:
    """torch.save through :func:`lensbench.io.atomic.write_atomic`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


def _copy_state(model: nn.Module) -> dict:
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _write_checkpoints(directory: Path, model, optimizer, scheduler, generator, progress: _Progress,
                       settings: dict, improved: bool) -> None:
    """best.pt (weights only) when the epoch improved, then last.pt (everything to resume)."""
    if improved:
        _save_atomically(progress.best_state, directory / "best.pt")
    _save_atomically({
        "format": CHECKPOINT_FORMAT,
        "settings": settings,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "history": progress.history.to_dict(),
        "best_val_loss": progress.best_val_loss,
        "epochs_without_improvement": progress.epochs_without_improvement,
        "loader_generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }, directory / "last.pt")


def _resume(directory: Path, model, optimizer, scheduler, generator, settings: dict, device) -> _Progress:
    """Restore model, optimizer, scheduler and RNG states from ``directory/last.pt``."""
    state = torch.load(directory / "last.pt", map_location=device, weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{directory / 'last.pt'}: unknown checkpoint format {state.get('format')!r}")
    differing = sorted(k for k in settings if state["settings"].get(k) != settings[k])
    if differing:
        details = ", ".join(f"{k}: {state['settings'].get(k)!r} -> {settings[k]!r}" for k in differing)
        raise ValueError(f"{directory / 'last.pt'} was written with other training settings ({details}); "
                         "use another checkpoint_dir or delete it")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["loader_generator"])
    torch.set_rng_state(state["torch_rng"])
    history = History.from_dict(state["history"])
    best_state = None
    if history.best_epoch >= 0:
        best_state = torch.load(directory / "best.pt", map_location=device, weights_only=True)
    return _Progress(history, state["best_val_loss"], best_state, state["epochs_without_improvement"])


def _epoch_line(epoch: int, epochs: int, history: History) -> str:
    text = (f"epoch {epoch + 1}/{epochs}: train_loss {history.train_loss[-1]:.5g} "
            f"val_loss {history.val_loss[-1]:.5g}")
    if history.val_acc:
        text += f" train_acc {history.train_acc[-1]:.4f} val_acc {history.val_acc[-1]:.4f}"
    return text + f" lr {history.lr[-1]:.3g} ({history.epoch_seconds[-1]:.1f} s)"


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset, *, task: str = "classify", epochs: int,
        batch_size: int, lr: float, optimizer: str = "adam", weight_decay: float = 0.0, momentum: float = 0.9,
        scheduler: str | None = None, t_0: int = 10, t_mult: int = 1, eta_min: float = 0.0,
        warmup_epochs: int = 0, cycle_gamma: float = 1.0, plateau_patience: int = 5,
        plateau_factor: float = 0.1, early_stopping_patience: int | None = None, device: str = "cpu",
        seed: int = 0, checkpoint_dir: Path | str | None = None, progress: bool = True,
        log: Callable[[str], None] | None = None) -> History:
    """Train ``model`` in place and leave it with the weights of its best validation epoch.

    Parameters
    ----------
    model : nn.Module
        Maps a batch (N, C, H, W) float32 to (N, classes) logits or (N, parameters) outputs.
    train_set, val_set : Dataset
        Yield ``(image, target)``: image float32 (C, H, W); target an int64 class index
        (classify) or a float32 vector (regress). ``val_set`` must not be empty.
    task : {"classify", "regress"}
        Cross-entropy or mean-squared-error loss.
    epochs, batch_size : int
        Maximum number of epochs and samples per batch (the last batch may be smaller).
    lr : float
        Initial learning rate (the peak of the cosine schedules).
    optimizer : {"adam", "sgd", "adamw"}
        ``momentum`` applies to SGD only; ``weight_decay`` to all three.
    scheduler : None or {"cosine_warm_restarts", "cosine_warmup_restarts", "plateau"}
        Stepped once per epoch. The cosine schedules use ``t_0`` (epochs in the first cycle),
        ``t_mult`` (cycle growth) and ``eta_min`` (floor); the warm-up variant also
        ``warmup_epochs`` and ``cycle_gamma`` (peak factor per restart). "plateau" multiplies the
        learning rate by ``plateau_factor`` (0.1, Vattis+21) once the validation loss has not
        improved for more than ``plateau_patience`` epochs (torch's ``ReduceLROnPlateau``
        convention: with patience 5 the sixth epoch without improvement triggers it).
    early_stopping_patience : int or None
        Stop after this many consecutive epochs without a lower validation loss.
    device : str
        Torch device for the model and batches.
    seed : int
        Seeds the batch order and dropout (not the initial weights).
    checkpoint_dir : Path or None
        Where ``last.pt`` (everything needed to resume) and ``best.pt`` (the best state dict)
        are written after every epoch, atomically. Called again with the same directory, a run
        continues from ``last.pt``; both files load with ``torch.load(weights_only=True)``.
    progress : bool
        Show a tqdm bar per epoch with the running loss.
    log : callable or None
        Receives one line of text per epoch.

    Returns
    -------
    History
        Per-epoch losses, accuracies, learning rates and times; best epoch; early stop flag.

    Raises
    ------
    ValueError
        For unknown choices, non-positive sizes, an empty validation set, or a checkpoint
        written with other settings.
    FloatingPointError
        If no epoch had a finite validation loss.
    """
    _check_choice("task", task, TASKS)
    _check_choice("optimizer", optimizer, OPTIMIZERS)
    _check_choice("scheduler", scheduler, SCHEDULERS)
    for argument, value in (("epochs", epochs), ("batch_size", batch_size)):
        _check_positive(argument, value, integer=True)
    _check_positive("lr", lr, integer=False)
    if early_stopping_patience is not None:
        _check_positive("early_stopping_patience", early_stopping_patience, integer=True)
    if len(val_set) == 0:
        raise ValueError("val_set is empty: the best epoch and early stopping need validation data")

    scheduler_options = dict(t_0=t_0, t_mult=t_mult, eta_min=eta_min, warmup_epochs=warmup_epochs,
                             cycle_gamma=cycle_gamma, plateau_patience=plateau_patience,
                             plateau_factor=plateau_factor)
    settings = dict(task=task, batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay,
                    momentum=momentum, scheduler=scheduler, early_stopping_patience=early_stopping_patience,
                    seed=seed, **scheduler_options)
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        model.to(device)
        optim = _make_optimizer(optimizer, model.parameters(), lr, weight_decay, momentum)
        sched = _make_scheduler(scheduler, optim, scheduler_options)
        if directory is not None and (directory / "last.pt").exists():
            state = _resume(directory, model, optim, sched, generator, settings, device)
        else:
            state = _Progress(History())
        train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator,
                                  num_workers=0)
        val_loader = _ordered_loader(val_set, batch_size)
        history = state.history
        for epoch in range(history.epochs_run, epochs):
            if history.stopped_early:
                break
            started = time.perf_counter()
            history.lr.append(float(optim.param_groups[0]["lr"]))
            model.train()
            with tqdm(total=len(train_loader), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                      leave=False) as bar:
                train_loss, train_acc = _run_epoch(model, train_loader, task, device, optim, bar)
            model.eval()
            val_loss, val_acc = _run_epoch(model, val_loader, task, device)
            improved = _record_epoch(state, model, epoch, (train_loss, train_acc), (val_loss, val_acc))
            _step_scheduler(sched, val_loss)
            history.stopped_early = (early_stopping_patience is not None and epoch + 1 < epochs
                                     and state.epochs_without_improvement >= early_stopping_patience)
            history.epoch_seconds.append(time.perf_counter() - started)
            if directory is not None:
                _write_checkpoints(directory, model, optim, sched, generator, state, settings, improved)
            if log is not None:
                log(_epoch_line(epoch, epochs, history))
    if state.best_state is None:
        raise FloatingPointError("the validation loss was not finite in any epoch; lower the learning rate")
    model.load_state_dict(state.best_state)
    return history


def predict(model: nn.Module, dataset: Dataset, *, batch_size: int, device: str = "cpu",
            task: str = "classify") -> np.ndarray:
    """Model outputs for every item of ``dataset``, in order, in evaluation mode.

    Parameters
    ----------
    model : nn.Module
        A trained model.
    dataset : Dataset
        Yields ``(image, target)`` (the target is ignored) or the image alone.
    batch_size : int
        Images per forward pass.
    device : str
        Torch device for the forward passes.
    task : {"classify", "regress"}
        "classify" returns softmax probabilities (N, classes); "regress" the raw outputs
        (N, parameters), in the units of the training targets.

    Returns
    -------
    np.ndarray
        float64 array of shape (N, outputs).
    """
    _check_choice("task", task, TASKS)
    _check_positive("batch_size", batch_size, integer=True)
    loader = _ordered_loader(dataset, batch_size)
    model.to(device).eval()
    chunks = []
    with torch.inference_mode():
        for batch in loader:
            images = batch[0] if isinstance(batch, (list, tuple)) else batch
            outputs = model(images.to(device))
            if task == "classify":
                outputs = torch.softmax(outputs.double(), dim=1)
            chunks.append(outputs.double().cpu().numpy())
    return np.concatenate(chunks, axis=0)
