"""The training engine: :func:`fit` a model on an :class:`Objective` under a :class:`TrainConfig`,
then :func:`predict`.

Modules: :mod:`~lensbench.training.config` (TrainConfig), :mod:`~lensbench.training.optim`
(OPTIMIZERS, SCHEDULERS registries), :mod:`~lensbench.training.schedulers` (the warm-up cosine
schedule), :mod:`~lensbench.training.objectives` (Objective protocol, Supervised),
:mod:`~lensbench.training.loop` (fit, predict), :mod:`~lensbench.training.checkpoints`
(last.pt, best.pt, resume) and :mod:`~lensbench.training.history` (History).
"""

from lensbench.training.config import TrainConfig
from lensbench.training.history import History
from lensbench.training.loop import fit, predict
from lensbench.training.objectives import Objective, Supervised
from lensbench.training.optim import OPTIMIZERS, SCHEDULERS

__all__ = ["OPTIMIZERS", "SCHEDULERS", "History", "Objective", "Supervised", "TrainConfig", "fit", "predict"]
