"""The training loop, :func:`fit`, and batched inference, :func:`predict`.

:func:`fit` trains a model on an :class:`~lensbench.training.objectives.Objective` with the
optimiser and schedule a :class:`~lensbench.training.config.TrainConfig` names, keeps the best
epoch's weights (or the last's, as the objective asks), stops early, writes checkpoints and
resumes from them.

Everything random comes from ``config.seed``: weights are not touched (build the model with
``build_model(..., seed=config.seed)``), the batch order comes from a ``torch.Generator`` and
dropout from the global CPU generator, which :func:`fit` seeds inside a fork so the caller's state
survives. On CPU the same seed gives the same weights, byte for byte, with or without an
interruption.

Started by ``torchrun`` with ``WORLD_SIZE`` > 1, :func:`fit` trains data-parallel with
DistributedDataParallel: each process takes its part of every global batch, which is the
single-process batch (see :mod:`lensbench.training.distributed`), and only rank 0 writes
checkpoints.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lensbench.training.checkpoints import Progress, TrainingState, copy_state, resume, write_checkpoints
from lensbench.training.config import TrainConfig
from lensbench.training.distributed import (Ranks, RankBatches, average_gradients, barrier, check_batches,
                                            gradient_weight, join, ranks_from_environment, sum_over_ranks,
                                            wrap)
from lensbench.training.history import History
from lensbench.training.objectives import ACCURACY_STAT, Objective, check_task
from lensbench.training.optim import OPTIMIZERS, SCHEDULERS, step_scheduler

NOT_CHECKED_ON_RESUME = ("epochs", "device")
"""Config fields a run may change when it resumes from ``last.pt`` (train longer, elsewhere)."""


def kept_epoch(history: History, objective: Objective) -> int:
    """0-based index of the epoch whose weights :func:`fit` leaves the model with: the best
    validation epoch's, or the last's when ``objective.keep_best`` is False."""
    return history.best_epoch if objective.keep_best else history.epochs_run - 1


def fit(model: nn.Module, train_set: Dataset, val_set: Dataset, config: TrainConfig, *, objective: Objective,
        device: str = "cpu", checkpoint_dir: Path | str | None = None, progress: bool = True,
        log: Callable[[str], None] | None = None) -> History:
    """Train ``model`` in place on ``objective`` and leave it with its best validation epoch's weights
    (its last epoch's when ``objective.keep_best`` is False).

    Parameters
    ----------
    model : nn.Module
        The model to train, e.g. (N, C, H, W) float32 images to (N, classes) logits.
    train_set, val_set : Dataset
        Yield what ``objective.loss`` expects, e.g. ``(image, target)`` for
        :class:`~lensbench.training.Supervised`. ``val_set`` must not be empty.
    config : TrainConfig
        Epochs, batch size, optimiser, schedule (stepped once per epoch), early stopping and
        ``seed``, which must be set (see :meth:`TrainConfig.seeded`). ``config.device`` is the
        request the caller resolves; ``fit`` runs on ``device``.
    objective : Objective
        The loss and what it monitors, e.g. ``Supervised("classify")``. Its extra modules are
        trained too, and keep their last epoch's weights.
    device : str
        Torch device for the model, the objective's modules and the batches.
    checkpoint_dir : Path or None
        Where ``last.pt`` (everything needed to resume) and ``best.pt`` (the model's best state
        dict) are written after every epoch, atomically (by rank 0 alone under torchrun). Called
        again with the same directory, a run continues from ``last.pt``; both files load with
        ``torch.load(weights_only=True)``.
    progress : bool
        Show a tqdm bar per epoch with the running loss (rank 0 only).
    log : callable or None
        Receives one line of text per epoch (rank 0 only).

    Returns
    -------
    History
        Per-epoch losses, accuracies, learning rates and times; best epoch; early stop flag.

    Raises
    ------
    ValueError
        For a config without a seed, an empty validation set, an objective whose monitor is not
        among its stats, a checkpoint written with other settings, or (under torchrun) a batch
        with fewer examples than processes.
    FloatingPointError
        If no epoch had a finite monitored validation quantity.
    """
    if config.seed is None:
        raise ValueError("config.seed is None: fit needs an integer seed (TrainConfig.seeded(experiment_seed))")
    if len(val_set) == 0:
        raise ValueError("val_set is empty: the best epoch and early stopping need validation data")
    settings = {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_CHECKED_ON_RESUME}
    settings["objective"] = objective.name
    directory = None if checkpoint_dir is None else Path(checkpoint_dir)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    ranks = ranks_from_environment()
    if ranks.parallel:
        check_batches(len(train_set), config.batch_size, ranks)
        device = join(ranks, device)
    progress = progress and ranks.writes

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        live = _start(model, objective, config, device)
        if directory is not None and (directory / "last.pt").exists():
            state = resume(directory, live, settings, device)
        else:
            state = Progress(History())
        train_loader = _train_loader(train_set, config.batch_size, live.generator, ranks)
        network = wrap(model, ranks, device) if ranks.parallel else model
        val_loader = _ordered_loader(val_set, config.batch_size)
        history = state.history
        for epoch in range(history.epochs_run, config.epochs):
            if history.stopped_early:
                break
            started = time.perf_counter()
            history.lr.append(float(live.optimizer.param_groups[0]["lr"]))
            _set_training(live, True)
            with tqdm(total=len(train_loader), desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress,
                      leave=False) as bar:
                train = _run_epoch(live, train_loader, device, train=True, bar=bar, network=network, ranks=ranks)
            _set_training(live, False)
            val = _run_epoch(live, val_loader, device, train=False)
            monitored = _monitored(val, objective)
            improved = _record_epoch(state, model, epoch, train, val, monitored)
            step_scheduler(live.scheduler, monitored)
            history.stopped_early = (config.early_stopping_patience is not None and epoch + 1 < config.epochs
                                     and state.epochs_without_improvement >= config.early_stopping_patience)
            history.epoch_seconds.append(time.perf_counter() - started)
            if directory is not None and ranks.writes:
                write_checkpoints(directory, live, state, settings, improved)
            if log is not None and ranks.writes:
                log(_epoch_line(epoch, config.epochs, history))
        barrier(ranks)  # every rank leaves with rank 0's checkpoints complete
    if state.best_state is None:
        raise FloatingPointError(f"the validation {objective.monitor} was not finite in any epoch; "
                                 "lower the learning rate")
    if objective.keep_best:
        model.load_state_dict(state.best_state)
    return history


def _start(model: nn.Module, objective: Objective, config: TrainConfig, device) -> TrainingState:
    """Move the modules to ``device``; build the optimiser, scheduler and batch-order generator."""
    modules = [model, *objective.modules()]
    for module in modules:
        module.to(device)
    optimizer = OPTIMIZERS.get(config.optimizer)([p for m in modules for p in m.parameters()], config)
    scheduler = SCHEDULERS.get(config.scheduler)(optimizer, config)
    return TrainingState(model, objective, optimizer, scheduler, torch.Generator().manual_seed(config.seed))


def _train_loader(train_set: Dataset, batch_size: int, generator: torch.Generator, ranks: Ranks) -> DataLoader:
    """Shuffled batches drawn from ``generator``: the whole batch in one process, this rank's part of
    the same global batch under torchrun."""
    if not ranks.parallel:
        return DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator, num_workers=0)
    return DataLoader(train_set, batch_sampler=RankBatches(train_set, batch_size, generator, ranks),
                      generator=generator, num_workers=0)


def _set_training(live: TrainingState, training: bool) -> None:
    """Train (dropout, batch statistics) or eval mode for the model and the objective's modules."""
    for module in (live.model, *live.objective.modules()):
        module.train(training)


def _to_device(batch, device):
    if isinstance(batch, (list, tuple)):
        return [item.to(device) for item in batch]
    return batch.to(device)


def _run_epoch(live: TrainingState, loader: DataLoader, device, *, train: bool, bar=None,
               network: nn.Module | None = None, ranks: Ranks = Ranks()) -> dict[str, float]:
    """One pass over ``loader``, stepping the optimiser if ``train``.

    ``network`` is the module the batches go through (the model, or the model inside
    DistributedDataParallel); when training over several ``ranks``, each rank's loss is weighted by
    its share of the global batch and the sums are taken over all ranks.

    Returns the mean loss per sample as ``"loss"`` and each stat of the objective per sample.
    """
    network = live.model if network is None else network
    parallel = train and ranks.parallel
    total_loss, total_count, stat_sums = 0.0, 0, {}
    for batch in loader:
        batch = _to_device(batch, device)
        count = (batch[0] if isinstance(batch, list) else batch).shape[0]
        with torch.set_grad_enabled(train):
            loss, stats = live.objective.loss(network, batch)
        if train:
            live.optimizer.zero_grad(set_to_none=True)
            (loss * gradient_weight(count, ranks) if parallel else loss).backward()
            if parallel:
                average_gradients(live.objective.modules(), ranks)
            live.optimizer.step()
            live.objective.after_step(live.model)
        total_loss += float(loss.detach()) * count
        total_count += count
        for key, value in stats.items():
            stat_sums[key] = stat_sums.get(key, 0) + value
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / total_count:.4g}")
    if parallel:
        total_loss, total_count, *sums = sum_over_ranks([total_loss, total_count, *stat_sums.values()])
        stat_sums = dict(zip(stat_sums, sums))
    return {"loss": total_loss / total_count, **{key: value / total_count for key, value in stat_sums.items()}}


def _monitored(val: dict[str, float], objective: Objective) -> float:
    if objective.monitor not in val:
        raise ValueError(f"objective {objective.name} monitors {objective.monitor!r}, which its loss does not "
                         f"report (it reports: {', '.join(val)})")
    return val[objective.monitor]


def _record_epoch(state: Progress, model: nn.Module, epoch: int, train: dict, val: dict, monitored: float) -> bool:
    """Append an epoch's losses and accuracies; keep a copy of the weights if ``monitored`` improved."""
    history = state.history
    history.train_loss.append(train["loss"])
    history.val_loss.append(val["loss"])
    if ACCURACY_STAT in val:
        history.train_acc.append(train[ACCURACY_STAT])
        history.val_acc.append(val[ACCURACY_STAT])
    improved = monitored < state.best_monitored
    if improved:
        state.best_monitored, state.best_state = monitored, copy_state(model)
        history.best_epoch, state.epochs_without_improvement = epoch, 0
    else:
        state.epochs_without_improvement += 1
    return improved


def _ordered_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    """Unshuffled loader with its own generator, so iterating it leaves the global RNG alone."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0,
                      generator=torch.Generator().manual_seed(0))


def _epoch_line(epoch: int, epochs: int, history: History) -> str:
    text = (f"epoch {epoch + 1}/{epochs}: train_loss {history.train_loss[-1]:.5g} "
            f"val_loss {history.val_loss[-1]:.5g}")
    if history.val_acc:
        text += f" train_acc {history.train_acc[-1]:.4f} val_acc {history.val_acc[-1]:.4f}"
    return text + f" lr {history.lr[-1]:.3g} ({history.epoch_seconds[-1]:.1f} s)"


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
    check_task(task)
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
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
