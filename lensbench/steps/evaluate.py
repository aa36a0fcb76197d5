"""The evaluate step: predict the test split and compute the spec's metrics.

Writes ``predictions.npy`` (class probabilities, or regression outputs in label units) and
``results.json``: ``{"task", "class_names" | "labels", "metrics", "curves", "n_test"}``, the
per-branch part of ``metrics.json`` (see :mod:`lensbench.report.schema`).
"""

from __future__ import annotations


import numpy as np

from lensbench import metrics as M
from lensbench.io.atomic import npy_bytes, write_atomic, write_json
from lensbench.simulate.store import ShardedDataset
from lensbench.steps import STEP_KINDS, StepContext
from lensbench.models.saved import load_model, normaliser
from lensbench.train import predict


@STEP_KINDS.register("evaluate")
class EvaluateStep:
    """Score the trained model on the test split."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def params(spec) -> dict:
        return {"evaluation": spec.evaluation, "task": spec.experiment.task}

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        model, info = load_model(ctx.inputs["model"])
        test = ShardedDataset(ctx.inputs["test"], transform=normaliser(info["normalize"]))
        outputs = predict(model, test, batch_size=256, device=ctx.device, task=p["task"])
        write_atomic(ctx.work / "predictions.npy", npy_bytes(outputs.astype(np.float32)))
        if p["task"] == "classify":
            results = classification_results(test.labels, outputs, info["classes"], p["evaluation"])
        else:
            results = regression_results(test.labels, outputs, info)
        results["n_test"] = len(test)
        write_json(ctx.work / "results.json", results)
        return {"n_test": len(test)}


def classification_results(labels: np.ndarray, probs: np.ndarray, class_names: list[str], evaluation) -> dict:
    """Metrics and curves of a classifier; binary tasks score the last class as positive.

    Threshold metrics are given at 0.5 (``accuracy``, ``precision``, ``recall``, ``f1``,
    ``confusion``) and at the Youden threshold (the same names with ``_youden``).
    """
    wanted = set(evaluation.metrics)
    curves: dict = {}
    if len(class_names) == 2:
        score = probs[:, 1]
        summary = M.classification_metrics(labels, score, n_bins=evaluation.calibration_bins)
        metrics = {"auc": summary["auc"], "brier": summary["brier"], "ece": summary["ece"],
                   "n_positive": summary["n_positive"], "youden_threshold": summary["at_youden"]["threshold"]}
        for suffix, block in (("", summary["at_half"]), ("_youden", summary["at_youden"])):
            for name in ("accuracy", "precision", "recall", "f1", "confusion"):
                metrics[name + suffix] = block[name]
        if "roc" in wanted:
            roc = M.roc(labels, score)
            curves["roc"] = {"fpr": roc["fpr"], "tpr": roc["tpr"], "thresholds": roc["thresholds"]}
        if "calibration" in wanted:
            table = M.reliability(labels, score, n_bins=evaluation.calibration_bins)
            curves["reliability"] = {"bin_centres": table["bin_centres"], "observed": table["observed_frequency"],
                                     "predicted": table["mean_predicted"], "counts": table["counts"]}
    else:
        names = [m for m in evaluation.metrics if m in ("macro_auc", "accuracy", "precision", "recall", "f1",
                                                          "confusion")]
        metrics = M.compute_metrics(names, labels, probs, task="classify")
    return {"task": "classify", "class_names": list(class_names), "metrics": metrics, "curves": curves}


def regression_results(labels: np.ndarray, outputs: np.ndarray, info: dict) -> dict:
    """Per-parameter errors in the labels' own units (the label scaling undone)."""
    scale = np.array([info["label_scale"].get(name, 1.0) for name in info["labels"]])
    metrics = M.regression_metrics(labels * scale, outputs * scale, info["labels"])
    return {"task": "regress", "parameter_names": info["labels"], "metrics": metrics, "curves": {}}
