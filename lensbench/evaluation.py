"""Score a model's test-set outputs with the metrics registered in :data:`lensbench.metrics.METRICS`.

The result is the per-branch ``results.json`` of :mod:`lensbench.report.schema`:
``{"task", "class_names" | "parameter_names", "metrics", "curves"}``. Which metrics are computed
and where they go comes from each :class:`~lensbench.metrics.Metric`: its task, what it needs, and
whether it is a curve; nothing here lists metric names.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from lensbench.metrics import HALF, METRICS, YOUDEN_SUFFIX, Metric, regression_metrics, youden_threshold


def chosen_metrics(task: str, requested: Iterable[str]) -> list[tuple[str, Metric]]:
    """The metrics an evaluation computes: every ``always`` metric of ``task`` in registration
    order, then the requested ones in the order given (each once).

    Raises
    ------
    KeyError
        For an unknown name (the message lists the registered metrics).
    ValueError
        For a requested metric of another task.
    """
    names = [name for name in METRICS.in_registration_order()
             if METRICS.get(name).always and METRICS.get(name).task == task]
    names += [name for name in dict.fromkeys(requested) if name not in names]
    chosen = [(name, METRICS.get(name)) for name in names]
    for name, metric in chosen:
        if metric.task != task:
            raise ValueError(f"metric '{name}' is for task '{metric.task}', not '{task}'")
    return chosen


def _with_options(metric: Metric, options: dict) -> dict:
    return {key: value for key, value in options.items() if key in metric.options}


def evaluate_classifier(labels, probs, class_names: list[str], metric_names: Iterable[str],
                        calibration_bins: int) -> dict:
    """Metrics and curves of a classifier on its test set.

    Two classes score the last class as positive: metrics that need its probability are computed,
    and "predicted_class" metrics are given at probability 0.5 (key ``<name>``) and at the Youden
    threshold (key ``<name>_youden``), beside ``n_positive`` and ``youden_threshold``. More classes
    skip the metrics that need a positive class and score the most probable class.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        True class indices.
    probs : array_like, shape (N, classes)
        Predicted class probabilities.
    class_names : list of str
        Names of the classes, in label order.
    metric_names : iterable of str
        Metrics the spec requests (``[evaluation] metrics``); ``always`` metrics are added.
    calibration_bins : int
        Equal-width probability bins of the reliability curve and the ECE.

    Returns
    -------
    dict
        ``task`` ("classify"), ``class_names``, ``metrics`` (name -> value) and ``curves``
        (curve name -> dict of lists).
    """
    y = np.asarray(labels).reshape(-1).astype(np.int64)
    p = np.asarray(probs, dtype=np.float64)
    n_classes = len(class_names)
    if p.shape != (y.size, n_classes):
        raise ValueError(f"probs must have shape (N={y.size}, classes={n_classes}), got {p.shape}")
    chosen = [(name, metric) for name, metric in chosen_metrics("classify", metric_names)
              if n_classes == 2 or metric.needs != "positive_probability"]
    options = {"n_bins": calibration_bins}
    metrics: dict = {}
    curves: dict = {}
    for name, metric in chosen:
        if metric.needs == "predicted_class":
            continue
        scores = p[:, 1] if metric.needs == "positive_probability" else p
        value = metric.compute(y, scores, **_with_options(metric, options))
        if metric.curve is None:
            metrics[name] = value
        else:
            curves[metric.curve] = value
    if n_classes == 2:
        threshold = youden_threshold(y, p[:, 1])
        metrics["n_positive"] = int(y.sum())
        metrics["youden_threshold"] = threshold
        predictions = {"": p[:, 1] >= HALF, YOUDEN_SUFFIX: p[:, 1] >= threshold}
    else:
        predictions = {"": p.argmax(axis=1)}
    for suffix, predicted in predictions.items():
        for name, metric in chosen:
            if metric.needs == "predicted_class":
                metrics[name + suffix] = metric.compute(y, predicted.astype(np.int64), n_classes,
                                                        **_with_options(metric, options))
    return {"task": "classify", "class_names": list(class_names), "metrics": metrics, "curves": curves}


def evaluate_regressor(labels, outputs, parameter_names: list[str], label_scale: dict[str, float]) -> dict:
    """Every registered regression metric, per parameter, in the labels' own units.

    Parameters
    ----------
    labels, outputs : array_like, shape (N, parameters)
        True and predicted parameters, both divided by ``label_scale`` (as the model learns them).
    parameter_names : list of str
        Names of the parameters, in column order.
    label_scale : dict of str to float
        Scale each parameter was divided by for training (1 where absent); undone here.

    Returns
    -------
    dict
        ``task`` ("regress"), ``parameter_names``, ``metrics`` (metric -> {parameter: value})
        and ``curves`` (empty).
    """
    scale = np.array([label_scale.get(name, 1.0) for name in parameter_names])
    metrics = regression_metrics(np.asarray(labels) * scale, np.asarray(outputs) * scale, parameter_names)
    return {"task": "regress", "parameter_names": list(parameter_names), "metrics": metrics, "curves": {}}
