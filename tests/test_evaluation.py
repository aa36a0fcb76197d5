"""lensbench.evaluation: results.json of a classifier or regressor, driven by the metric registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lensbench.evaluation import chosen_metrics, evaluate_classifier, evaluate_regressor
from lensbench.metrics import METRICS, Metric, headline_metrics, metric_label

# Four negatives and three positives (as in test_metrics.py): at 0.5 TP 2, FP 1, FN 1, TN 3; the
# Youden threshold is 0.4, where TP 3, FP 1, FN 0, TN 3.
Y = [0, 0, 0, 0, 1, 1, 1]
P = [0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.9]
TWO = np.column_stack([1 - np.asarray(P), P])
ALL = ["auc", "roc", "accuracy", "precision", "recall", "f1", "confusion", "calibration"]

Y3 = [0, 1, 2, 0, 1, 2]
P3 = np.array([[.7, .2, .1], [.2, .6, .2], [.1, .3, .6], [.2, .7, .1], [.1, .8, .1], [.2, .2, .6]])


def test_two_classes_at_half_and_at_youden():
    result = evaluate_classifier(Y, TWO, ["none", "sub"], ALL, calibration_bins=2)
    m = result["metrics"]
    assert list(m) == ["auc", "brier", "ece", "n_positive", "youden_threshold",
                       "accuracy", "precision", "recall", "f1", "confusion",
                       "accuracy_youden", "precision_youden", "recall_youden", "f1_youden", "confusion_youden"]
    assert m["auc"] == pytest.approx(11 / 12) and m["ece"] == pytest.approx(0.2 / 7)
    assert (m["n_positive"], m["youden_threshold"]) == (3, 0.4)
    assert m["confusion"] == [[3, 1], [1, 2]] and m["confusion_youden"] == [[3, 1], [0, 3]]
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"]) == pytest.approx((5 / 7, 2 / 3, 2 / 3, 2 / 3))
    assert (m["accuracy_youden"], m["precision_youden"], m["recall_youden"], m["f1_youden"]) == pytest.approx(
        (6 / 7, 3 / 4, 1.0, 6 / 7))
    assert list(result["curves"]) == ["roc", "reliability"]
    assert set(result["curves"]["roc"]) == {"fpr", "tpr", "thresholds"}
    assert result["curves"]["reliability"]["counts"] == [4, 3]
    json.dumps(result, allow_nan=False)


def test_only_requested_metrics_beside_the_always_ones():
    m = evaluate_classifier(Y, TWO, ["none", "sub"], ["f1"], calibration_bins=10)["metrics"]
    assert list(m) == ["auc", "brier", "ece", "n_positive", "youden_threshold", "f1", "f1_youden"]


def test_several_classes_skip_positive_class_metrics_and_take_the_most_probable_class():
    result = evaluate_classifier(Y3, P3, ["a", "b", "c"], ["macro_auc", "roc", "accuracy", "f1", "confusion"], 10)
    m = result["metrics"]
    assert list(m) == ["macro_auc", "accuracy", "f1", "confusion"] and result["curves"] == {}
    assert m["macro_auc"] == pytest.approx((7 / 8 + 7 / 8 + 1) / 3)
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    # per-class F1: class 0 (P 1, R 1/2) 2/3, class 1 (P 2/3, R 1) 4/5, class 2: 1
    assert m["f1"] == pytest.approx((2 / 3 + 4 / 5 + 1) / 3)


def test_unknown_metric_wrong_task_and_wrong_shape_are_refused():
    with pytest.raises(KeyError, match="unknown metric 'acuracy'; one of: .*did you mean 'accuracy'"):
        evaluate_classifier(Y, TWO, ["none", "sub"], ["acuracy"], 10)
    with pytest.raises(ValueError, match="metric 'mse' is for task 'regress', not 'classify'"):
        chosen_metrics("classify", ["mse"])
    with pytest.raises(ValueError, match=r"probs must have shape \(N=7, classes=3\)"):
        evaluate_classifier(Y, TWO, ["a", "b", "c"], ["auc"], 10)


@pytest.fixture
def mean_probability(monkeypatch):
    """A metric registered for one test only (the registry has no way to unregister)."""
    metric = Metric("classify", "positive_probability", lambda y, p: float(np.mean(p)), label="mean probability")
    monkeypatch.setitem(METRICS._entries, "mean_probability", metric)
    return metric


def test_a_newly_registered_metric_is_computed_and_labelled(mean_probability):
    m = evaluate_classifier(Y, TWO, ["none", "sub"], ["auc", "mean_probability"], 10)["metrics"]
    assert m["mean_probability"] == pytest.approx(np.mean(P))
    assert headline_metrics()[-1] == "mean_probability"
    assert metric_label("mean_probability") == "mean probability"


def test_regression_in_label_units():
    labels = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    outputs = np.array([[1.0, 1.2], [2.0, 1.8], [4.0, 3.0]])
    result = evaluate_regressor(labels, outputs, ["x", "r_s"], {"r_s": 10.0})
    assert result["task"] == "regress" and result["parameter_names"] == ["x", "r_s"] and result["curves"] == {}
    assert list(result["metrics"]) == ["mse", "rmse", "mae", "bias", "r2"]
    assert result["metrics"]["mse"] == pytest.approx({"x": 1 / 3, "r_s": 8 / 3})
    assert result["metrics"]["r2"] == pytest.approx({"x": 1 - 1 / 2, "r_s": 1 - 8 / 200})
