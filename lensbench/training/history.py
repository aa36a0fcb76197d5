"""The per-epoch record of a training run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class History:
    """Per-epoch record of a training run.

    Attributes
    ----------
    train_loss, val_loss : list of float
        Mean of the objective's loss per sample (for :class:`~lensbench.training.Supervised`:
        cross-entropy in nats, or MSE in the targets' units squared). The training loss is
        averaged over the epoch as it runs (dropout active).
    train_acc, val_acc : list of float
        Fraction correct (the objective's ``"correct"`` count per sample; for classification the
        argmax of the logits); empty when the objective counts none (regression).
    lr : list of float
        Learning rate of the first parameter group during each epoch.
    epoch_seconds : list of float
        Wall time of each epoch (s), validation included.
    best_epoch : int
        0-based index of the epoch with the lowest monitored validation quantity (the objective's
        ``monitor``, the validation loss for the supervised objective; -1 before any epoch).
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
