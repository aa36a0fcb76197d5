"""Learning-rate schedules that torch does not provide.

:class:`CosineAnnealingWarmupRestarts`: cosine annealing with warm restarts (Loshchilov & Hutter
2017, eq. 5) with a linear warm-up per cycle and decaying peaks, J. Kim's scheduler that Ko cites
(ref. 15).
"""

from __future__ import annotations

import math

from torch.optim.lr_scheduler import LRScheduler


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
