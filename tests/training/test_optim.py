"""Tests of lensbench.training.optim: every registered optimiser and scheduler builds from a config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts, ReduceLROnPlateau

from lensbench.training import OPTIMIZERS, SCHEDULERS, TrainConfig
from lensbench.training.schedulers import CosineAnnealingWarmupRestarts


def _parameters():
    return [torch.nn.Parameter(torch.zeros(3))]


@pytest.mark.parametrize(("name", "kind"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW),
                                            ("sgd", torch.optim.SGD)])
def test_optimizers_take_the_config_values(name, kind):
    config = TrainConfig(lr=0.05, weight_decay=0.01, momentum=0.5)
    optimizer = OPTIMIZERS.get(name)(_parameters(), config)
    assert type(optimizer) is kind
    group = optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (0.05, 0.01)
    if name == "sgd":
        assert group["momentum"] == 0.5


@pytest.mark.parametrize(("name", "kind"), [("none", type(None)), ("plateau", ReduceLROnPlateau),
                                            ("cosine_warm_restarts", CosineAnnealingWarmRestarts),
                                            ("cosine_warmup_restarts", CosineAnnealingWarmupRestarts)])
def test_schedulers_build_from_the_config(name, kind):
    config = TrainConfig(t_0=3, warmup_epochs=1, plateau_factor=0.5)
    scheduler = SCHEDULERS.get(name)(torch.optim.SGD(_parameters(), lr=0.1), config)
    assert type(scheduler) is kind


def test_registries_list_exactly_the_built_in_names():
    assert OPTIMIZERS.names() == ["adam", "adamw", "sgd"]
    assert SCHEDULERS.names() == ["cosine_warm_restarts", "cosine_warmup_restarts", "exponential", "none", "plateau"]
    with pytest.raises(KeyError, match="unknown optimizer 'adma'"):
        OPTIMIZERS.get("adma")


def test_exponential_schedule_reaches_eta_min_at_the_last_epoch():
    config = TrainConfig(epochs=5, lr=0.01, eta_min=1e-4, scheduler="exponential", optimizer="sgd")
    optimizer = OPTIMIZERS.get("sgd")([torch.nn.Parameter(torch.zeros(1))], config)
    scheduler = SCHEDULERS.get("exponential")(optimizer, config)
    rates = []
    for _ in range(config.epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(1e-4)
    assert np.allclose(np.diff(np.log(rates)), np.log(1e-2) / 4)


def test_exponential_schedule_refuses_a_zero_floor():
    with pytest.raises(ValueError, match="eta_min"):
        TrainConfig(scheduler="exponential", eta_min=0.0)
