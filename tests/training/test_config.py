"""Tests of lensbench.training.config: TrainConfig's checks and seed."""

from __future__ import annotations

import dataclasses
import math

import pytest

from lensbench.training import OPTIMIZERS, SCHEDULERS, TrainConfig


@pytest.mark.parametrize("name", ["lr", "weight_decay", "momentum", "eta_min"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_values_are_rejected(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be finite, got {value}"):
        TrainConfig(**{name: value})


@pytest.mark.parametrize(("changes", "message"), [
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"plateau_factor": 2.0}, "plateau_factor must be <= 1.0, got 2.0"),
    ({"early_stopping_patience": 0}, "early_stopping_patience must be >= 1, got 0"),
    ({"lr": 0.0}, "lr must be positive, got 0.0"),
    ({"optimizer": "adma"}, "optimizer: unknown optimizer 'adma'; one of: adam, adamw, sgd"),
    ({"scheduler": "cosine"}, "scheduler: unknown scheduler 'cosine'"),
])
def test_out_of_range_values_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_choices_come_from_the_registries():
    choices = {f.name: f.metadata["choices"]() for f in dataclasses.fields(TrainConfig) if "choices" in f.metadata}
    assert choices == {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS}


def test_seeded_fills_only_a_missing_seed():
    assert TrainConfig().seed is None
    assert TrainConfig().seeded(7).seed == 7
    assert TrainConfig(seed=1).seeded(7).seed == 1
