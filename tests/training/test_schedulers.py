"""Tests of lensbench.training.schedulers: the warm-up cosine schedule against torch and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

from lensbench.training.schedulers import CosineAnnealingWarmupRestarts


def _learning_rates(make, steps=30, lr=0.3) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make(optimizer)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def test_warmup_restarts_without_warmup_match_torch():
    ours = _learning_rates(lambda o: CosineAnnealingWarmupRestarts(o, T_0=3, T_mult=2, eta_min=0.01))
    reference = _learning_rates(lambda o: CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01))
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_warmup_restarts_hand_values():
    values = _learning_rates(lambda o: CosineAnnealingWarmupRestarts(o, T_0=4, warmup=2, gamma=0.5), steps=8, lr=1.0)
    # cycle 0: warm-up 1/3, 2/3, then cosine from the peak 1 over two steps; cycle 1: peak 1/2
    expected = [1 / 3, 2 / 3, 1.0, 0.5 * (1 + math.cos(math.pi / 2)), 1 / 6, 1 / 3, 0.5, 0.25]
    np.testing.assert_allclose(values, expected, atol=1e-12)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="warmup"):
        CosineAnnealingWarmupRestarts(optimizer, T_0=2, warmup=2)
