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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy import stats
from sklearn import metrics as skm

from lensbench.registry import Registry

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


def _scores_at(y: np.ndarray, p: np.ndarray, threshold: float) -> dict:
    predicted = (p >= threshold).astype(np.int64)
    confusion = skm.confusion_matrix(y, predicted, labels=[0, 1])
    return {
        "threshold": float(threshold),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "confusion": confusion.tolist(),
    }


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


def classification_metrics(y_true, prob_positive, *, n_bins: int = 10) -> dict:
    """Binary summary of a classifier's positive-class probabilities.

    Returns
    -------
    dict
        ``n``, ``n_positive``, ``auc``, ``brier``, ``ece`` (with ``n_bins``), and
        ``at_half`` / ``at_youden``: threshold, accuracy, precision, recall, F1 and the
        confusion matrix [[TN, FP], [FN, TP]] at probability 0.5 and at the Youden threshold.
    """
    y, p = _binary_inputs(y_true, prob_positive)
    _both_classes(y, "AUC and the Youden threshold")
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "auc": auc(y, p),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p, n_bins),
        "at_half": _scores_at(y, p, HALF),
        "at_youden": _scores_at(y, p, youden_threshold(y, p)),
    }


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


def regression_metrics(y_true, y_pred, names) -> dict:
    """Per-parameter errors of regressed parameters, in the parameters' own units.

    Returns
    -------
    dict
        ``mse``, ``rmse``, ``mae``, ``bias`` (mean of prediction - truth) and ``r2``
        (1 - SS_res / SS_tot), each a dict {parameter name: float}.
    """
    truth = np.asarray(y_true, dtype=np.float64)
    predicted = np.asarray(y_pred, dtype=np.float64)
    truth = truth.reshape(truth.shape[0], -1)
    predicted = predicted.reshape(predicted.shape[0], -1)
    names = list(names)
    if truth.shape != predicted.shape or truth.shape[1] != len(names):
        raise ValueError(f"y_true {truth.shape}, y_pred {predicted.shape} and {len(names)} names do not agree")
    error = predicted - truth
    mse = np.mean(error**2, axis=0)
    r2 = skm.r2_score(truth, predicted, multioutput="raw_values")

    def by_name(values):
        return {name: float(v) for name, v in zip(names, values)}

    return {"mse": by_name(mse), "rmse": by_name(np.sqrt(mse)), "mae": by_name(np.mean(np.abs(error), axis=0)),
            "bias": by_name(np.mean(error, axis=0)), "r2": by_name(r2)}


def binomial_interval(k: int, n: int, confidence: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Confidence interval for a proportion k/n: "wilson" (score) or "clopper-pearson" (exact)."""
    methods = {"wilson": "wilson", "clopper-pearson": "exact"}
    if method not in methods:
        raise ValueError(f"method must be one of: {', '.join(methods)}; got {method!r}")
    interval = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method=methods[method])
    return float(interval.low), float(interval.high)


# ----- named metrics a spec can ask for -------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A metric a spec may request by name.

    Attributes
    ----------
    task : str
        "classify" or "regress".
    compute : callable
        ``compute(y_true, outputs, **options)``; ``outputs`` is what :func:`lensbench.train.predict`
        returns: probabilities (N, classes) for "classify", raw outputs (N, parameters) for "regress".
    options : dict
        Accepted options and their defaults.
    """

    task: str
    compute: Callable[..., Any]
    options: dict = field(default_factory=dict)


def _positive_probability(outputs, metric: str) -> np.ndarray:
    """Positive-class column of (N, 2) probabilities, or 1-D positive probabilities as given."""
    p = np.asarray(outputs, dtype=np.float64)
    if p.ndim == 1:
        return p
    if p.ndim == 2 and p.shape[1] == 2:
        return p[:, 1]
    raise ValueError(f"metric '{metric}' needs two classes, got outputs of shape {p.shape}; "
                     "use 'macro_auc' for more classes")


def _predicted_labels(outputs) -> np.ndarray:
    """Class at probability >= 0.5 for two classes, the most probable class otherwise."""
    p = np.asarray(outputs, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 2:
        return (_positive_probability(p, "labels") >= HALF).astype(np.int64)
    return p.argmax(axis=1)


def _label_score(score: Callable, **averaging):
    """Wrap an sklearn label metric: binary (positive class 1) for two classes, macro otherwise."""

    def compute(y_true, outputs):
        predicted = _predicted_labels(outputs)
        binary = np.asarray(outputs).ndim == 1 or np.asarray(outputs).shape[1] == 2
        average = "binary" if binary else "macro"
        return float(score(np.asarray(y_true), predicted, average=average, **averaging))

    return compute


def _confusion(y_true, outputs) -> list[list[int]]:
    p = np.asarray(outputs)
    classes = 2 if p.ndim == 1 else p.shape[1]
    return skm.confusion_matrix(np.asarray(y_true), _predicted_labels(outputs), labels=list(range(classes))).tolist()


def _default_names(outputs) -> list[str]:
    p = np.asarray(outputs)
    return [f"output_{i}" for i in range(1 if p.ndim == 1 else p.shape[1])]


METRICS: Registry[Metric] = Registry("metric")
for _name, _metric in {
    "auc": Metric("classify", lambda y, out: auc(y, _positive_probability(out, "auc"))),
    "roc": Metric("classify", lambda y, out: roc(y, _positive_probability(out, "roc"))),
    "accuracy": Metric("classify", lambda y, out: float(skm.accuracy_score(np.asarray(y), _predicted_labels(out)))),
    "precision": Metric("classify", _label_score(skm.precision_score, zero_division=0)),
    "recall": Metric("classify", _label_score(skm.recall_score, zero_division=0)),
    "f1": Metric("classify", _label_score(skm.f1_score, zero_division=0)),
    "confusion": Metric("classify", _confusion),
    "calibration": Metric("classify", lambda y, out, n_bins=10: reliability(
        y, _positive_probability(out, "calibration"), n_bins), {"n_bins": 10}),
    "brier": Metric("classify", lambda y, out: brier(y, _positive_probability(out, "brier"))),
    "ece": Metric("classify", lambda y, out, n_bins=10: expected_calibration_error(
        y, _positive_probability(out, "ece"), n_bins), {"n_bins": 10}),
    "macro_auc": Metric("classify", macro_auc),
    "mse": Metric("regress", lambda y, out, names=None: regression_metrics(
        y, out, names or _default_names(out))["mse"], {"names": None}),
    "r2": Metric("regress", lambda y, out, names=None: regression_metrics(
        y, out, names or _default_names(out))["r2"], {"names": None}),
}.items():
    METRICS.register(_name)(_metric)


def compute_metrics(requested, y_true, outputs, *, task: str, **options) -> dict:
    """Evaluate the named metrics, passing each only the options it accepts.

    Raises
    ------
    KeyError
        For an unknown metric name (message lists the known ones).
    ValueError
        For a metric of another task.
    """
    results = {}
    for name in requested:
        metric = METRICS.get(name)
        if metric.task != task:
            raise ValueError(f"metric '{name}' is for task '{metric.task}', not '{task}'")
        accepted = {key: value for key, value in options.items() if key in metric.options}
        results[name] = metric.compute(y_true, outputs, **accepted)
    return results
