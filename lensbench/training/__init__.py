"""The training engine: :func:`fit` a model on an :class:`Objective` under a :class:`TrainConfig`,
then :func:`predict`.

Modules: :mod:`~lensbench.training.config` (TrainConfig), :mod:`~lensbench.training.optim`
(OPTIMIZERS, SCHEDULERS registries), :mod:`~lensbench.training.schedulers` (the warm-up cosine
schedule), :mod:`~lensbench.training.objectives` (Objective protocol, Supervised),
:mod:`~lensbench.training.loop` (fit, predict), :mod:`~lensbench.training.checkpoints`
(last.pt, best.pt, resume, save_weights) and :mod:`~lensbench.training.history` (History).
"""

import importlib

# Names are imported on first use (PEP 562), so that spec validation, which needs only
# TrainConfig, does not import torch through the loop.
_HOMES = {"TrainConfig": "config", "History": "history", "fit": "loop", "kept_epoch": "loop", "predict": "loop",
          "Objective": "objectives", "Supervised": "objectives", "OPTIMIZERS": "optim", "SCHEDULERS": "optim",
          "save_weights": "checkpoints"}

__all__ = ["OPTIMIZERS", "SCHEDULERS", "History", "Objective", "Supervised", "TrainConfig", "fit", "kept_epoch", "predict",
           "save_weights"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'lensbench.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"lensbench.training.{_HOMES[name]}"), name)
