"""Classification and regression metrics, thin over scikit-learn; plain Python numbers out.

Binary metrics take the probability of the positive class (substructure present) and call a
sample positive when that probability is at least the threshold. Everything returned is a float,
an int, a list or a dict of those, so it goes straight into ``metrics.json``.

Formulas: ROC AUC is the Mann-Whitney probability that a positive outscores a negative (Hanley &
McNeil 1982, eq. 1); the Youden threshold maximises J = TPR - FPR (Youden 1950); the Brier score
is the mean of (p - y)^2 (Brier 1950, eq. 1); the expected calibration error is
sum_b (n_b / N) |o_b - p_b| over equal-width bins of the positive-class probability (Naeini,
Cooper & Hauskrecht 2015, "ECE"); Wilson and Clopper-Pearson intervals for a binomial proportion
come from :func:`scipy.stats.binomtest`.

:data:`METRICS` names the metrics a spec may request; each entry says what it is computed from,
its report label and whether it is a number or a curve, so :mod:`lensbench.evaluation` and the
report need no list of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from lensbench.lazy import lazy_module
from lensbench.registry import Registry

# Imported at first use: spec validation reads METRICS' names, not the functions.
stats = lazy_module("scipy.stats")
skm = lazy_module("sklearn.metrics")

HALF = 0.5


def _binary_inputs(y_true, prob_positive) -> tuple[np.ndarray, np.ndarray]:
    """Validated (labels in {0, 1}, scores) as 1-D arrays of equal length."""
    y = np.asarray(y_true).reshape(-1)
    p = np.asarray(prob_positive, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"y_true has {y.size} entries but the scores have {p.size}")
    if y.size == 0:
        raise ValueError("no samples")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("binary metrics need labels 0 (negative) and 1 (positive)")
    return y.astype(np.int64), p


def _both_classes(y: np.ndarray, what: str) -> None:
    if np.unique(y).size < 2:
        raise ValueError(f"{what} needs both classes in y_true; only class {int(y[0])} is present")


def roc(y_true, score) -> dict:
    """Receiver operating characteristic of a binary score.

    Returns
    -------
    dict
        ``fpr``, ``tpr`` and ``thresholds`` (lists, thresholds decreasing; a sample is positive
        when its score >= threshold; the first threshold is just above the highest score, where
        nothing is positive) and ``auc``.
    """
    y, s = _binary_inputs(y_true, score)
    _both_classes(y, "a ROC curve")
    fpr, tpr, thresholds = skm.roc_curve(y, s)
    thresholds = thresholds.copy()
    thresholds[~np.isfinite(thresholds)] = np.nextafter(s.max(), np.inf)
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds.tolist(),
            "auc": float(skm.roc_auc_score(y, s))}


def auc(y_true, prob_positive) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counting 1/2."""
    y, p = _binary_inputs(y_true, prob_positive)
    _both_classes(y, "AUC")
    return float(skm.roc_auc_score(y, p))


def youden_threshold(y_true, prob_positive) -> float:
    """The threshold maximising Youden's J = TPR - FPR (the first one on a tie)."""
    curve = roc(y_true, prob_positive)
    j = np.asarray(curve["tpr"]) - np.asarray(curve["fpr"])
    return float(curve["thresholds"][int(np.argmax(j))])


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each probability: [k/n, (k+1)/n), the last bin closed at 1."""
    return np.clip(np.floor(p * n_bins).astype(np.int64), 0, n_bins - 1)


def reliability(y_true, prob, n_bins: int = 10) -> dict:
    """Reliability diagram of positive-class probabilities in ``n_bins`` equal-width bins.

    Returns
    -------
    dict
        ``bin_edges`` (n_bins + 1), ``bin_centres``, ``counts``, ``observed_frequency``
        (fraction of positives) and ``mean_predicted`` per bin; both are None for an empty bin.
    """
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins}")
    y, p = _binary_inputs(y_true, prob)
    index = _bin_index(p, n_bins)
    counts = np.bincount(index, minlength=n_bins)
    positives = np.bincount(index, weights=y, minlength=n_bins)
    summed = np.bincount(index, weights=p, minlength=n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)

    def per_bin(totals):
        return [float(t / c) if c else None for t, c in zip(totals, counts)]

    return {"bin_edges": edges.tolist(), "bin_centres": (0.5 * (edges[:-1] + edges[1:])).tolist(),
            "counts": counts.tolist(), "observed_frequency": per_bin(positives), "mean_predicted": per_bin(summed)}


def expected_calibration_error(y_true, prob, n_bins: int = 10) -> float:
    """ECE = sum_b (n_b / N) |o_b - p_b| over the bins of :func:`reliability` (Naeini+2015)."""
    table = reliability(y_true, prob, n_bins)
    counts = np.asarray(table["counts"])
    filled = counts > 0
    observed = np.asarray(table["observed_frequency"], dtype=object)[filled].astype(np.float64)
    predicted = np.asarray(table["mean_predicted"], dtype=object)[filled].astype(np.float64)
    return float(np.sum(counts[filled] / counts.sum() * np.abs(observed - predicted)))


def brier(y_true, prob_positive) -> float:
    """Brier score, mean (p - y)^2 (Brier 1950, eq. 1); 0 is perfect, 0.25 a constant 0.5."""
    y, p = _binary_inputs(y_true, prob_positive)
    return float(np.mean((p - y) ** 2))


# ----- scores of predicted classes ------------------------------------------------------------


def accuracy(y_true, predicted, n_classes: int) -> float:
    """Fraction of samples whose predicted class is the true one (``n_classes``, which every
    "predicted_class" metric takes, is not needed)."""
    return float(skm.accuracy_score(y_true, predicted))


def _label_score(name: str) -> Callable[..., float]:
    """The sklearn label score ``sklearn.metrics.<name>``: of the positive class 1 for two classes,
    the macro mean otherwise."""

    def compute(y_true, predicted, n_classes: int) -> float:
        average = "binary" if n_classes == 2 else "macro"
        return float(getattr(skm, name)(y_true, predicted, average=average, zero_division=0))

    return compute


def confusion(y_true, predicted, n_classes: int) -> list[list[int]]:
    """Confusion matrix, rows the true class and columns the predicted one ([[TN, FP], [FN, TP]])."""
    return skm.confusion_matrix(y_true, predicted, labels=list(range(n_classes))).tolist()


# ----- curves as results.json stores them -----------------------------------------------------


def roc_curve(y_true, score) -> dict:
    """``fpr``, ``tpr`` and ``thresholds`` of :func:`roc` (its ``auc`` is a metric of its own)."""
    curve = roc(y_true, score)
    return {key: curve[key] for key in ("fpr", "tpr", "thresholds")}


def reliability_curve(y_true, prob, n_bins: int = 10) -> dict:
    """:func:`reliability` per bin: ``bin_centres``, ``observed`` (frequency of positives),
    ``predicted`` (mean probability) and ``counts``."""
    table = reliability(y_true, prob, n_bins)
    return {"bin_centres": table["bin_centres"], "observed": table["observed_frequency"],
            "predicted": table["mean_predicted"], "counts": table["counts"]}


def _multiclass_inputs(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ValueError(f"probs must have shape (N={y.size}, classes), got {p.shape}")
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must lie in 0..{p.shape[1] - 1}")
    return y, p


def one_vs_rest_auc(y_true, probs) -> list[float]:
    """AUC of each class's probability column against all other classes."""
    y, p = _multiclass_inputs(y_true, probs)
    aucs = []
    for k in range(p.shape[1]):
        positive = (y == k).astype(np.int64)
        _both_classes(positive, f"the AUC of class {k}")
        aucs.append(float(skm.roc_auc_score(positive, p[:, k])))
    return aucs


def macro_auc(y_true, probs) -> float:
    """Unweighted mean of the one-vs-rest AUCs (the macro AUC of Deshmukh+23, Tables 1-2)."""
    return float(np.mean(one_vs_rest_auc(y_true, probs)))


def _regression_inputs(y_true, y_pred, names) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(truth, prediction) as float64 (N, parameters) arrays and the parameter names."""
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    truth = truth.reshape(truth.shape[0], -1)
    predicted = predicted.reshape(predicted.shape[0], -1)
    names = list(names)
    if truth.shape != predicted.shape or truth.shape[1] != len(names):
        raise ValueError(f"y_true {truth.shape}, y_pred {predicted.shape} and {len(names)} names do not agree")
    return truth, predicted, names


def _per_parameter(error: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[..., dict]:
    """A regression metric ``compute(y_true, y_pred, names) -> {name: float}`` from
    ``error(truth, predicted) -> (parameters,)``, in the parameters' own units."""

    def compute(y_true, y_pred, names) -> dict[str, float]:
        truth, predicted, names = _regression_inputs(y_true, y_pred, names)
        return {name: float(value) for name, value in zip(names, error(truth, predicted))}

    return compute


def binomial_interval(k: int, n: int, confidence: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Confidence interval for a proportion k/n: "wilson" (score) or "clopper-pearson" (exact)."""
    methods = {"wilson": "wilson", "clopper-pearson": "exact"}
    if method not in methods:
        raise ValueError(f"method must be one of: {', '.join(methods)}; got {method!r}")
    interval = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method=methods[method])
    return float(interval.low), float(interval.high)


# ----- named metrics a spec can ask for -------------------------------------------------------

NEEDS = ("positive_probability", "probabilities", "predicted_class", "regression_outputs")
"""What a metric is computed from; see :class:`Metric`."""


@dataclass(frozen=True)
class Metric:
    """A metric a spec may request by name.

    Attributes
    ----------
    task : str
        "classify" or "regress".
    needs : str
        What ``compute`` takes after the true labels ``y_true`` (N,):

        - "positive_probability": the positive-class probability (N,); two classes only.
        - "probabilities": the class probabilities (N, classes).
        - "predicted_class": the predicted class (N,) and the number of classes. Two classes are
          scored at probability 0.5 and at the Youden threshold (key ``<name>_youden``), more
          classes at the most probable class.
        - "regression_outputs": outputs (N, parameters) in label units and the parameter names.
    compute : callable
        ``compute(y_true, inputs, *extra, **options)`` -> a JSON-ready value.
    label : str or None
        Label in the report's headline table; for "predicted_class" without the threshold
        (see :func:`metric_label`). None for a value that is not a headline number.
    curve : str or None
        Key under ``results["curves"]`` for a curve; None for a value under ``results["metrics"]``.
    always : bool
        Computed in every evaluation it fits, whether the spec asks for it or not.
    options : tuple of str
        Keyword options ``compute`` accepts (e.g. ``n_bins``).
    """

    task: str
    needs: str
    compute: Callable[..., Any]
    label: str | None = None
    curve: str | None = None
    always: bool = False
    options: tuple[str, ...] = ()

    def __post_init__(self):
        if self.task not in ("classify", "regress"):
            raise ValueError(f"a metric's task is 'classify' or 'regress', not '{self.task}'")
        if self.needs not in NEEDS:
            raise ValueError(f"a metric needs one of: {', '.join(NEEDS)}; got '{self.needs}'")


METRICS: Registry[Metric] = Registry("metric")
for _name, _metric in {
    "auc": Metric("classify", "positive_probability", auc, label="AUC", always=True),
    "brier": Metric("classify", "positive_probability", brier, label="Brier score", always=True),
    "ece": Metric("classify", "positive_probability", expected_calibration_error, label="ECE", always=True,
                  options=("n_bins",)),
    "roc": Metric("classify", "positive_probability", roc_curve, curve="roc"),
    "calibration": Metric("classify", "positive_probability", reliability_curve, curve="reliability",
                          options=("n_bins",)),
    "macro_auc": Metric("classify", "probabilities", macro_auc, label="macro AUC"),
    "accuracy": Metric("classify", "predicted_class", accuracy, label="accuracy"),
    "precision": Metric("classify", "predicted_class", _label_score("precision_score"), label="precision"),
    "recall": Metric("classify", "predicted_class", _label_score("recall_score"), label="recall"),
    "f1": Metric("classify", "predicted_class", _label_score("f1_score"), label="F1"),
    "confusion": Metric("classify", "predicted_class", confusion),
    "mse": Metric("regress", "regression_outputs", _per_parameter(lambda t, p: np.mean((p - t) ** 2, axis=0))),
    "rmse": Metric("regress", "regression_outputs",
                   _per_parameter(lambda t, p: np.sqrt(np.mean((p - t) ** 2, axis=0)))),
    "mae": Metric("regress", "regression_outputs", _per_parameter(lambda t, p: np.mean(np.abs(p - t), axis=0))),
    "bias": Metric("regress", "regression_outputs", _per_parameter(lambda t, p: np.mean(p - t, axis=0))),
    "r2": Metric("regress", "regression_outputs",
                 _per_parameter(lambda t, p: skm.r2_score(t, p, multioutput="raw_values"))),
}.items():
    METRICS.register(_name)(_metric)


def task_metrics(task: str) -> list[str]:
    """Names of the registered metrics of ``task``, in registration order."""
    return [name for name in METRICS.in_registration_order() if METRICS.get(name).task == task]


def regression_metrics(y_true, y_pred, names) -> dict:
    """Every registered regression metric of regressed parameters, in their own units.

    Returns
    -------
    dict
        ``mse``, ``rmse``, ``mae``, ``bias`` (mean of prediction - truth) and ``r2``
        (1 - SS_res / SS_tot), each a dict {parameter name: float}, then any registered later.
    """
    return {name: METRICS.get(name).compute(y_true, y_pred, names) for name in task_metrics("regress")}


# ----- labels of the report's headline table --------------------------------------------------

YOUDEN_SUFFIX = "_youden"
"""Suffix of a "predicted_class" metric's key when scored at the Youden threshold."""

HEADLINE_ORDER = ("auc", "accuracy", "precision", "recall", "f1", "accuracy_youden", "f1_youden", "ece", "brier",
                  "macro_auc")
"""Keys of ``results["metrics"]`` in the built-in metrics' order of the report's headline table."""


def headline_metrics() -> tuple[str, ...]:
    """Keys of the headline table in order: :data:`HEADLINE_ORDER`, then every other registered
    metric with a label, in registration order."""
    labelled = [name for name in METRICS.in_registration_order() if METRICS.get(name).label is not None]
    return HEADLINE_ORDER + tuple(name for name in labelled if name not in HEADLINE_ORDER)


def metric_label(key: str, *, binary: bool = True) -> str:
    """The report label of a key of ``results["metrics"]``.

    Parameters
    ----------
    key : str
        A metric name, or ``<name>_youden`` for a "predicted_class" metric at the Youden threshold.
    binary : bool
        Whether the classifier has two classes: its "predicted_class" metrics read
        "accuracy (0.5)" or "accuracy (Youden)", those of more classes
        "accuracy (most probable class)".

    Raises
    ------
    KeyError
        For a key that names no registered metric (message lists the metrics).
    ValueError
        For a metric without a label (a curve, the confusion matrix, a regression metric).
    """
    name, youden = key, False
    if key not in METRICS and key.endswith(YOUDEN_SUFFIX):
        name, youden = key[: -len(YOUDEN_SUFFIX)], True
    metric = METRICS.get(name)
    if metric.label is None or (youden and metric.needs != "predicted_class"):
        raise ValueError(f"metric '{key}' has no label in the report")
    if metric.needs != "predicted_class":
        return metric.label
    if not binary:
        return f"{metric.label} (most probable class)"
    return f"{metric.label} (Youden)" if youden else f"{metric.label} (0.5)"
