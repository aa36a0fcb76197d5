"""Tests of the training diagnosis (lensbench.report.diagnosis) on synthetic loss histories."""

from __future__ import annotations

import math

import pytest

from lensbench.report.diagnosis import advice, diagnose, rules_text

LN2 = math.log(2)


def test_diverging_losses_are_overfitting():
    # the astrometric quick report: train loss 0.05, val loss 1.4, best epoch early
    found = diagnose({"train_loss": [0.6, 0.2, 0.05], "val_loss": [0.68, 0.9, 1.4]}, n_classes=2)
    assert found.verdict == "overfitting"
    assert "epoch 1 (0.68)" in found.reason and "1.4 at epoch 3" in found.reason


def test_training_loss_at_chance_is_underfitting_even_after_one_epoch():
    found = diagnose({"train_loss": [LN2 + 0.001], "val_loss": [LN2]}, n_classes=2)
    assert found.verdict == "underfitting" and "ln 2 = 0.693" in found.reason
    ten_classes = diagnose({"train_loss": [2.30, 2.29, 2.27], "val_loss": [2.3, 2.3, 2.3]}, n_classes=10)
    assert ten_classes.verdict == "underfitting"


def test_flat_training_loss_of_a_regression_is_underfitting():
    found = diagnose({"train_loss": [0.10, 0.098, 0.095], "val_loss": [0.1, 0.1, 0.1]})
    assert found.verdict == "underfitting" and "fell by less than 10%" in found.reason


def test_falling_losses_are_fine_or_still_improving():
    fine = diagnose({"train_loss": [0.6, 0.3, 0.2, 0.19], "val_loss": [0.6, 0.35, 0.3, 0.3]}, n_classes=2)
    assert fine.verdict == "fine" and fine.reason == ""
    improving = diagnose({"train_loss": [0.6, 0.3, 0.2], "val_loss": [0.6, 0.4, 0.3]}, n_classes=2)
    assert improving.verdict == "still improving"


def test_a_small_rise_of_the_validation_loss_is_not_overfitting():
    found = diagnose({"train_loss": [0.6, 0.3, 0.2], "val_loss": [0.5, 0.4, 0.42]}, n_classes=2)
    assert found.verdict == "fine"  # 5 % above its minimum, under the 10 % threshold


def test_too_few_epochs_to_judge():
    assert diagnose({"train_loss": [0.3, 0.2], "val_loss": [0.4, 0.5]}, n_classes=2).verdict == "too short"
    assert diagnose({"train_loss": [], "val_loss": []}).verdict == "too short"
    with pytest.raises(ValueError, match="as many"):
        diagnose({"train_loss": [1.0], "val_loss": []})


def test_advice_names_what_to_change_and_the_rules_state_their_thresholds():
    assert "training.lr, now 0.1" in advice("underfitting", 0.1)
    assert "preset" in advice("overfitting") and advice("fine") == ""
    assert "10%" in rules_text() and "5%" in rules_text() and "90%" in rules_text()
