"""The axion-mass regression of the ssl task (Deshmukh+23 sec. 2.2, Fig. 2) on hand-computed cases:
the one-output head and its MSE, the vortex targets, the m_a bins and the seed summary."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lensbench.errors import SpecError
from lensbench.spec import load_spec
from lensbench.ssl.finetune import AugmentedSupervised
from lensbench.ssl.regression import (
    binned_errors,
    log10_axion_mass,
    mass_bins,
    regression_head,
    seed_summary,
    target_scale,
)


class Features(nn.Module):
    """An encoder whose embedding is its input, (N, 2)."""

    embedding_dim = 2

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_the_head_maps_the_embedding_onto_log10_ma_and_its_loss_is_the_mse_in_dex2():
    model = regression_head(Features(), seed=0, centre=-23.0, scale=0.5)
    linear = model.head[0]
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[1.0, 2.0]]))
        linear.bias.fill_(0.5)
    x = torch.tensor([[1.0, 1.0], [0.0, -1.0]])
    # -23 + 0.5 (1 + 2 + 0.5) = -21.25 and -23 + 0.5 (0 - 2 + 0.5) = -23.75
    assert model(x).squeeze(1).tolist() == pytest.approx([-21.25, -23.75])
    targets = torch.tensor([[-22.0], [-24.0]])
    loss, _ = AugmentedSupervised("regress", (), 0.1, seed=0).loss(model.eval(), [x, targets])
    assert float(loss.detach()) == pytest.approx((0.75 ** 2 + 0.25 ** 2) / 2)
    loss.backward()
    assert linear.weight.grad is not None and float(linear.weight.grad.abs().sum()) > 0


def test_a_new_head_is_drawn_from_its_seed_and_starts_at_the_targets_scale():
    a, b = (regression_head(Features(), seed=3, centre=-23.0, scale=0.6) for _ in range(2))
    assert torch.equal(a.head[0].weight, b.head[0].weight)
    assert not torch.equal(a.head[0].weight, regression_head(Features(), seed=4, centre=-23.0, scale=0.6).head[0].weight)
    assert target_scale([-24.0, -22.0]) == (-23.0, 1.0)
    assert target_scale([-23.0, -23.0]) == (-23.0, 1.0)  # no spread: unit scale


def test_targets_are_log10_ma_of_the_vortex_images_only():
    indices, targets = log10_axion_mass([0, 2, 1, 2], [np.nan, 1e-23, np.nan, 1e-24], vortex_class=2)
    assert indices.tolist() == [1, 3]
    assert targets == pytest.approx([-23.0, -24.0])
    with pytest.raises(ValueError, match="positive axion_mass"):
        log10_axion_mass([2, 2], [1e-23, np.nan], vortex_class=2)


def test_bins_cover_the_prior_range_per_decade():
    assert mass_bins(1e-24, 1e-22, 2) == pytest.approx([-24.0, -23.5, -23.0, -22.5, -22.0])
    assert mass_bins(1e-24, 1e-22, 1) == pytest.approx([-24.0, -23.0, -22.0])
    with pytest.raises(ValueError, match="0 < low < high"):
        mass_bins(0.0, 1e-22, 1)


def test_binned_errors_by_hand():
    truth = [-23.9, -23.6, -22.0]  # the top edge belongs to the last bin
    predicted = [-23.8, -23.8, -22.3]  # errors +0.1, -0.2, -0.3
    errors = binned_errors(truth, predicted, [-24.0, -23.0, -22.0])
    assert errors["rmse"] == pytest.approx(math.sqrt((0.01 + 0.04 + 0.09) / 3))
    assert errors["bias"] == pytest.approx(-0.4 / 3)
    assert errors["rmse_by_bin"] == pytest.approx([math.sqrt(0.025), 0.3])
    assert errors["bias_by_bin"] == pytest.approx([-0.05, -0.3])
    assert errors["count_by_bin"] == [2, 1]
    empty = binned_errors(truth, predicted, [-24.0, -23.5, -23.0, -22.0])
    assert empty["rmse_by_bin"][1:] == [None, pytest.approx(0.3)] and empty["count_by_bin"] == [2, 0, 1]


def test_the_seed_summary_compares_ssl_with_the_baseline():
    truth = np.array([-23.0, -23.0])
    predictions = {"": [np.full(2, -23.1), np.full(2, -22.9)], "_supervised": [np.full(2, -23.5), np.full(2, -22.4)]}
    m = seed_summary(truth, predictions, [-24.0, -23.0, -22.0], train_mean=-23.0)
    assert m["log10_axion_mass_rmse"] == pytest.approx(0.1) and m["log10_axion_mass_rmse_std"] == pytest.approx(0.0)
    assert m["log10_axion_mass_rmse_supervised"] == pytest.approx(0.55)
    assert m["log10_axion_mass_bias_supervised"] == pytest.approx(0.05)
    assert m["log10_axion_mass_rmse_reduction"] == pytest.approx(0.45)  # supervised - SSL: positive, SSL better
    assert m["log10_axion_mass_rmse_reduction_error"] == pytest.approx(0.05)  # sqrt(0.005 / 2 + 0 / 2)
    assert m["log10_axion_mass_rmse_reduction_resolved"] == 1.0
    assert m["log10_axion_mass_rmse_by_bin"] == [None, pytest.approx(0.1)]  # -23 falls in the upper bin
    assert m["log10_axion_mass_rmse_mean_prediction"] == 0.0
    assert m["log10_axion_mass_count_by_bin"] == [0, 2]


def test_the_regression_needs_a_vortex_class(repo):
    with pytest.raises(SpecError, match="axion_regression.enabled.*vortex"):
        load_spec(repo / "specs/papers/ssl.toml", preset="smoke", overrides=['data.classes=["no_sub", "cdm"]'])
    with pytest.raises(SpecError, match="bounded range"):
        load_spec(repo / "specs/papers/ssl.toml", preset="smoke",
                  overrides=["simulation.classes.vortex.axion_mass=1e-23"])
    specs = load_spec(repo / "specs/papers/ssl.toml", preset="smoke",
                      overrides=['data.classes=["no_sub", "cdm"]', "axion_regression.enabled=false"])
    assert specs[0].task_sections["axion_regression"].enabled is False
