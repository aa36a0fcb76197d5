"""What :func:`lensbench.training.fit` minimises: the :class:`Objective` protocol and
:class:`Supervised`, the first objective.

An objective turns a batch into a loss. The training loop owns everything else (optimiser,
schedule, epochs, early stopping, checkpoints, progress), so a new way of training (a
self-supervised loss, an EMA teacher as in BYOL or DINO) is one class here or beside it.

Supervised losses: cross-entropy on logits for classification (Vattis+21 Sec. III; Ko's softmax
output, seed 004 Table II, is the softmax inside it), mean squared error for regression (Ko
Sec. III.A.1).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

TASKS = ("classify", "regress")
ACCURACY_STAT = "correct"
"""The stat that :class:`~lensbench.training.History` turns into ``train_acc`` and ``val_acc``."""


def check_task(task: str) -> None:
    """Raise ValueError unless ``task`` is one of :data:`TASKS`."""
    if task not in TASKS:
        raise ValueError(f"task must be one of: {', '.join(TASKS)}; got {task!r}")


class Objective(Protocol):
    """The loss a model is trained on, and what else training it involves.

    Subclass it to inherit the defaults below (no extra modules, no hook, no state, the best
    epoch kept); only :meth:`loss`, :attr:`name` and :attr:`monitor` must be given.

    Attributes
    ----------
    name : str
        The objective and its options, e.g. ``"supervised:classify"``. It is stored with the
        checkpoint; a run does not resume from a checkpoint written under another name.
    monitor : str
        The validation quantity that picks the best epoch, drives early stopping and
        reduce-on-plateau; lower is better. ``"loss"`` (the mean loss per sample) or a key of
        the stats :meth:`loss` returns (summed over the validation set, divided by its size).
    keep_best : bool
        True (the default): training leaves the model with its best validation epoch's weights.
        False: with its last epoch's, for objectives whose validation loss does not rank the
        weights (self-supervised pre-training against a moving EMA target).
    """

    name: str
    monitor: str
    keep_best: bool = True

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, int | float]]:
        """The mean loss of ``batch`` and per-batch stats.

        Parameters
        ----------
        model : nn.Module
            The model being trained (in train or eval mode as the loop sets it).
        batch : list of torch.Tensor
            What the data loader yields, already on the training device; its first tensor's
            leading dimension is the number of samples.

        Returns
        -------
        loss : torch.Tensor
            Scalar, the mean over the batch; the loop back-propagates it when training.
        stats : dict[str, int or float]
            Sums over the batch (e.g. ``{"correct": 27}``), added up over the epoch and divided
            by the number of samples; a ``"correct"`` count becomes the accuracy in the history.
        """
        ...

    def modules(self) -> list[nn.Module]:
        """Modules the objective owns besides the model (e.g. a projection head, an EMA teacher).

        The loop moves them to the device, switches them between train and eval mode with the
        model, gives their parameters to the optimiser (parameters that never get a gradient,
        such as a teacher's, are left alone by it) and saves their weights in ``last.pt``.
        """
        return []

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimiser step (e.g. to move an EMA teacher towards ``model``)."""

    def state_dict(self) -> dict:
        """State besides the weights of :meth:`modules` that a resumed run needs (e.g. a step
        count), saved in ``last.pt``: tensors and plain Python values only (``weights_only``)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""


class Supervised(Objective):
    """Cross-entropy on logits (``"classify"``, with the count of correct argmaxes) or mean squared
    error (``"regress"``, targets reshaped to the outputs); monitors the validation loss.

    Parameters
    ----------
    task : {"classify", "regress"}
        Batches are ``(images, targets)``: int64 class indices for classify, float32 vectors
        (N, outputs) or (N,) for regress.
    """

    monitor = "loss"

    def __init__(self, task: str):
        check_task(task)
        self.task = task
        self.name = f"supervised:{task}"
        self._loss_function = nn.CrossEntropyLoss() if task == "classify" else nn.MSELoss()

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict[str, int]]:
        images, targets = batch
        outputs = model(images)
        if self.task == "classify":
            targets = targets.long()
            loss = self._loss_function(outputs, targets)
            return loss, {ACCURACY_STAT: int((outputs.detach().argmax(dim=1) == targets).sum())}
        return self._loss_function(outputs, targets.float().reshape(outputs.shape)), {}

    def __repr__(self) -> str:
        return f"Supervised({self.task!r})"
