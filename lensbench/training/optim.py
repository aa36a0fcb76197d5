"""The optimisers and learning-rate schedulers a :class:`~lensbench.training.TrainConfig` names.

Each registry entry is a builder: ``OPTIMIZERS`` builders take ``(parameters, config)`` and
return a ``torch.optim.Optimizer``; ``SCHEDULERS`` builders take ``(optimizer, config)`` and
return a scheduler stepped once per epoch, or None (``"none"``). Adding one is a function and a
registration; the spec accepts the new name at once.

Schedulers: an exponential decay from ``lr`` to ``eta_min`` (Brehmer+19), torch's cosine annealing with warm restarts (Loshchilov & Hutter 2017, eq. 5),
:class:`~lensbench.training.schedulers.CosineAnnealingWarmupRestarts` (J. Kim's scheduler that
Ko cites, ref. 15) and reduce-on-plateau (Vattis+21: learning rate /10 when the validation loss
stops improving).

Torch is imported inside the builders, not here: spec validation reads these registries' names
(through :class:`~lensbench.training.TrainConfig`), and ``lensbench validate`` must not pay for
importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from lensbench.registry import Registry

if TYPE_CHECKING:
    import torch

# ``config`` is a TrainConfig, which names these registries' entries: it imports this module, not
# the other way round, so the builders leave its type to their docstrings.
OptimizerBuilder = Callable[[Iterable["torch.nn.Parameter"], Any], "torch.optim.Optimizer"]
SchedulerBuilder = Callable[["torch.optim.Optimizer", Any], object]

OPTIMIZERS: Registry[OptimizerBuilder] = Registry("optimizer")
SCHEDULERS: Registry[SchedulerBuilder] = Registry("scheduler")


@OPTIMIZERS.register("adam")
def adam(parameters, config) -> "torch.optim.Optimizer":
    """Adam with ``lr`` and L2 ``weight_decay``."""
    import torch

    return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)


@OPTIMIZERS.register("adamw")
def adamw(parameters, config) -> "torch.optim.Optimizer":
    """AdamW with ``lr`` and decoupled ``weight_decay``."""
    import torch

    return torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)


@OPTIMIZERS.register("sgd")
def sgd(parameters, config) -> "torch.optim.Optimizer":
    """SGD with ``lr``, ``momentum`` and L2 ``weight_decay``."""
    import torch

    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


@SCHEDULERS.register("none")
def no_scheduler(optimizer, config) -> None:
    """A fixed learning rate."""
    return None


@SCHEDULERS.register("cosine_warm_restarts")
def cosine_warm_restarts(optimizer, config):
    """Torch's SGDR (``CosineAnnealingWarmRestarts``): cycles of ``t_0 * t_mult**i`` epochs from
    ``lr`` down to ``eta_min``."""
    from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

    return CosineAnnealingWarmRestarts(optimizer, T_0=config.t_0, T_mult=config.t_mult, eta_min=config.eta_min)


@SCHEDULERS.register("cosine_warmup_restarts")
def cosine_warmup_restarts(optimizer, config):
    """SGDR with ``warmup_epochs`` of linear warm-up per cycle and peaks times ``cycle_gamma``
    (:class:`~lensbench.training.schedulers.CosineAnnealingWarmupRestarts`)."""
    from lensbench.training.schedulers import CosineAnnealingWarmupRestarts

    return CosineAnnealingWarmupRestarts(optimizer, T_0=config.t_0, T_mult=config.t_mult, eta_min=config.eta_min,
                                         warmup=config.warmup_epochs, gamma=config.cycle_gamma)


@SCHEDULERS.register("exponential")
def exponential(optimizer, config):
    """Learning rate decaying geometrically from ``lr`` to ``eta_min`` over ``epochs`` (Brehmer+19
    sec. 3.2: 0.01 to 1e-4): the rate of epoch k is ``lr * (eta_min / lr) ** (k / (epochs - 1))``
    (:class:`~lensbench.training.TrainConfig` refuses ``eta_min`` outside (0, lr])."""
    from torch.optim.lr_scheduler import ExponentialLR

    gamma = (config.eta_min / config.lr) ** (1.0 / max(config.epochs - 1, 1))
    return ExponentialLR(optimizer, gamma=gamma)


@SCHEDULERS.register("plateau")
def plateau(optimizer, config):
    """Learning rate times ``plateau_factor`` after ``plateau_patience`` epochs without improvement.

    Torch's ``ReduceLROnPlateau`` convention: with patience 5 the sixth epoch without improvement
    triggers it. :func:`step_scheduler` passes it the monitored validation quantity.
    """
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    return ReduceLROnPlateau(optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience)


def step_scheduler(scheduler, monitored: float) -> None:
    """Step ``scheduler`` (None: nothing) once per epoch; reduce-on-plateau needs ``monitored``."""
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    if isinstance(scheduler, ReduceLROnPlateau):
        scheduler.step(monitored)
    elif scheduler is not None:
        scheduler.step()
