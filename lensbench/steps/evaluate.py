"""The evaluate step: predict the test split and compute the spec's metrics.

Writes ``predictions.npy`` (class probabilities, or regression outputs in label units) and
``results.json``: ``{"task", "class_names" | "parameter_names", "metrics", "curves", "n_test"}``, the
per-branch part of ``metrics.json`` (see :mod:`lensbench.report.schema`).
"""

from __future__ import annotations


import numpy as np

from lensbench.evaluation import evaluate_classifier, evaluate_regressor
from lensbench.io.atomic import npy_bytes, write_atomic, write_json
from lensbench.simulate.store import ShardedDataset
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.models.saved import load_model, normaliser
from lensbench.training import predict


@STEP_KINDS.register("evaluate")
class EvaluateStep:
    """Score the trained model on the test split."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True  # the model's forward pass rounds differently with other thread counts

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        model, info = load_model(ctx.inputs["model"])
        test = ShardedDataset(ctx.inputs["test"], transform=normaliser(info["normalize"], info.get("normalize_constants")))
        outputs = predict(model, test, batch_size=256, device=ctx.device, task=p["task"])
        write_atomic(ctx.work / "predictions.npy", npy_bytes(outputs.astype(np.float32)))
        if p["task"] == "classify":
            results = evaluate_classifier(test.labels, outputs, info["classes"], p["evaluation"].metrics,
                                          p["evaluation"].calibration_bins)
        else:
            results = evaluate_regressor(test.labels, outputs, info["labels"], info["label_scale"])
        results["n_test"] = len(test)
        write_json(ctx.work / "results.json", results)
        return {"n_test": len(test)}

