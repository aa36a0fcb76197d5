"""Tests of lensbench.metrics against cases computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lensbench.metrics import (HEADLINE_ORDER, METRICS, Metric, auc, binomial_interval, brier,
                               expected_calibration_error, headline_metrics, macro_auc, metric_label, one_vs_rest_auc,
                               regression_metrics, reliability, roc, youden_threshold)

# Four negatives and three positives. Pairs won by positives: 0.4 beats 3 of 4 negatives, 0.7 and
# 0.9 beat all 4, so AUC = 11/12. J = TPR - FPR is 2/3 at threshold 0.7 and 3/4 at 0.4 (maximum).
Y = [0, 0, 0, 0, 1, 1, 1]
P = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.9]


def test_auc_and_youden_threshold():
    assert auc(Y, P) == pytest.approx(11 / 12)
    assert youden_threshold(Y, P) == 0.4


def test_brier_and_ece_by_hand():
    squared = [0.01, 0.04, 0.09, 0.36, 0.36, 0.09, 0.01]
    assert brier(Y, P) == pytest.approx(sum(squared) / 7)
    # two bins: [0, 0.5) holds 0.1..0.4 (mean 0.25, 1 of 4 positive: gap 0); [0.5, 1] holds 0.6, 0.7, 0.9
    # (mean 2.2/3, 2 of 3 positive: gap 0.2/3) -> ECE = 3/7 * 0.2/3
    assert expected_calibration_error(Y, P, n_bins=2) == pytest.approx(0.2 / 7)


def test_perfectly_calibrated_constant_has_zero_ece():
    y = [1, 0, 1, 0]
    assert expected_calibration_error(y, [0.5] * 4, n_bins=10) == 0.0
    assert brier(y, [0.5] * 4) == 0.25


def test_reliability_table():
    table = reliability(Y, P, n_bins=4)
    assert table["bin_edges"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert table["bin_centres"] == [0.125, 0.375, 0.625, 0.875]
    assert table["counts"] == [2, 2, 2, 1]
    assert table["observed_frequency"] == pytest.approx([0.0, 0.5, 0.5, 1.0])
    assert table["mean_predicted"] == pytest.approx([0.15, 0.35, 0.65, 0.9])
    sparse = reliability([0, 1], [0.05, 0.95], n_bins=4)
    assert sparse["observed_frequency"][1:3] == [None, None]


def test_roc_curve_is_json_and_starts_at_origin():
    curve = roc(Y, P)
    assert (curve["fpr"][0], curve["tpr"][0]) == (0.0, 0.0)
    assert (curve["fpr"][-1], curve["tpr"][-1]) == (1.0, 1.0)
    assert curve["thresholds"][0] > max(P) and all(math.isfinite(t) for t in curve["thresholds"])
    assert curve["auc"] == pytest.approx(11 / 12)
    json.dumps(curve, allow_nan=False)


def test_single_class_is_refused():
    with pytest.raises(ValueError, match="needs both classes"):
        auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="labels 0 .negative. and 1"):
        auc([0, 2], [0.2, 0.5])


# Three classes; the one mistake is sample 3 (class 0, scored 0.2/0.7/0.1).
# Class 0: positives 0.7, 0.2 vs negatives 0.2, 0.1, 0.1, 0.2 -> (4 + 1 + 2 * 0.5) / 8 = 7/8.
# Class 1: positives 0.6, 0.8 vs negatives 0.2, 0.3, 0.7, 0.2 -> 7/8. Class 2 separates: 1.
Y3 = [0, 1, 2, 0, 1, 2]
P3 = np.array([[.7, .2, .1], [.2, .6, .2], [.1, .3, .6], [.2, .7, .1], [.1, .8, .1], [.2, .2, .6]])


def test_macro_auc_one_vs_rest():
    assert one_vs_rest_auc(Y3, P3) == pytest.approx([7 / 8, 7 / 8, 1.0])
    assert macro_auc(Y3, P3) == pytest.approx((7 / 8 + 7 / 8 + 1) / 3)


def test_regression_metrics_by_hand():
    truth = [[1, 10], [2, 20], [3, 30]]
    predicted = [[1, 12], [2, 18], [4, 30]]
    result = regression_metrics(truth, predicted, ["x", "r_s"])
    assert result["mse"] == pytest.approx({"x": 1 / 3, "r_s": 8 / 3})
    assert result["mae"] == pytest.approx({"x": 1 / 3, "r_s": 4 / 3})
    assert result["bias"] == pytest.approx({"x": 1 / 3, "r_s": 0.0})
    assert result["r2"] == pytest.approx({"x": 1 - 1 / 2, "r_s": 1 - 8 / 200})
    assert result["rmse"]["r_s"] == pytest.approx(math.sqrt(8 / 3))
    with pytest.raises(ValueError, match="do not agree"):
        regression_metrics(truth, predicted, ["x"])


def test_binomial_intervals():
    # Wilson for 5/10 at z = 1.95996: centre 0.5, half-width z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)
    z = 1.959963984540054
    half_width = z * math.sqrt(0.025 + z**2 / 400) / (1 + z**2 / 10)
    assert binomial_interval(5, 10) == pytest.approx((0.5 - half_width, 0.5 + half_width))
    # Clopper-Pearson for 0/10: upper = 1 - (alpha/2)^(1/n)
    assert binomial_interval(0, 10, method="clopper-pearson") == pytest.approx((0.0, 1 - 0.025 ** 0.1))
    with pytest.raises(ValueError, match="wilson, clopper-pearson"):
        binomial_interval(1, 2, method="jeffreys")


def test_registry_names():
    assert METRICS.names() == sorted(["auc", "roc", "accuracy", "precision", "recall", "f1", "confusion",
                                      "calibration", "brier", "ece", "macro_auc", "mse", "rmse", "mae", "bias", "r2"])


def test_headline_labels_and_order_come_from_the_registry():
    assert headline_metrics()[:len(HEADLINE_ORDER)] == HEADLINE_ORDER
    assert [metric_label(key) for key in HEADLINE_ORDER] == [
        "AUC", "accuracy (0.5)", "precision (0.5)", "recall (0.5)", "F1 (0.5)", "accuracy (Youden)", "F1 (Youden)",
        "ECE", "Brier score", "macro AUC"]
    assert metric_label("accuracy", binary=False) == "accuracy (most probable class)"
    assert metric_label("macro_auc", binary=False) == "macro AUC"


def test_metric_label_refuses_unknown_and_unlabelled_keys():
    with pytest.raises(KeyError, match="unknown metric 'acuracy'; one of: .*did you mean 'accuracy'"):
        metric_label("acuracy")
    for key in ("roc", "confusion", "mse", "auc_youden"):
        with pytest.raises(ValueError, match=f"metric '{key}' has no label"):
            metric_label(key)


def test_a_metric_declares_its_task_and_inputs():
    with pytest.raises(ValueError, match="task is 'classify' or 'regress', not 'rank'"):
        Metric("rank", "probabilities", macro_auc)
    with pytest.raises(ValueError, match="needs one of: positive_probability, .*got 'logits'"):
        Metric("classify", "logits", macro_auc)
