"""The ``ssl_evaluate`` step: gather a branch's pre-training, probes, fine-tuning and supervised
runs into its ``results.json`` (the branch's part of ``metrics.json``).

Fine-tuned and supervised numbers are means over the ``[finetune]`` seeds with their sample
standard deviations; the label fraction 1 is the paper's setting (Deshmukh+23 Tables 1-2). Curves
(per-class one-vs-rest ROC, top-label reliability) are of the first seed's fine-tuned model. With
the inputs ``regress`` and ``regress_supervised`` (``[axion_regression] enabled``) the metrics
gain the errors of log10 m_a (:func:`lensbench.ssl.regression.seed_summary`), overall and per
bin of ``axion_mass_bins``.
"""

from __future__ import annotations

import json

import numpy as np

from lensbench.io.atomic import write_json
from lensbench.metrics import (
    expected_calibration_error,
    one_vs_rest_auc,
    reliability_curve,
    roc_curve,
)
from lensbench.simulate.store import ShardedDataset
from lensbench.ssl.compare import difference, mean_std
from lensbench.ssl.regression import predictions_file, seed_summary
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.finetune import probabilities_file


def _read(folder, name) -> dict:
    return json.loads((folder / name).read_text())


def _calibration(labels: np.ndarray, probs: np.ndarray, bins: int) -> tuple[float, float]:
    """Top-label ECE and class-wise ECE (the mean over classes of each one-vs-rest ECE)."""
    correct = (probs.argmax(axis=1) == labels).astype(np.int64)
    top = expected_calibration_error(correct, probs.max(axis=1), bins)
    classwise = np.mean([expected_calibration_error((labels == c).astype(np.int64), probs[:, c], bins)
                         for c in range(probs.shape[1])])
    return float(top), float(classwise)


def _by_fraction(runs: list[dict], key: str) -> dict[float, list[float]]:
    out: dict[float, list[float]] = {}
    for run in runs:
        out.setdefault(run["fraction"], []).append(run[key])
    return out


def _regression(ctx: StepContext) -> dict:
    """The regression metrics of the ``regress`` and ``regress_supervised`` inputs."""
    ssl, supervised = ctx.inputs["regress"], ctx.inputs["regress_supervised"]
    truth = np.load(ssl / "truth.npy")
    predictions = {suffix: [np.load(folder / predictions_file(run["seed"])) for run in _read(folder, "regress.json")["runs"]]
                   for suffix, folder in (("", ssl), ("_supervised", supervised))}
    train_mean = _read(ssl, "regress.json")["train_target_mean"]
    return seed_summary(truth, predictions, ctx.params["axion_mass_bins"], train_mean)


@STEP_KINDS.register("ssl_evaluate")
class SSLEvaluateStep:
    """Collect one branch's numbers and curves."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        bins = ctx.params["calibration_bins"]
        pretrain = _read(ctx.inputs["pretrain"], "pretrain.json")
        probe = _read(ctx.inputs["probe"], "probe.json")
        finetune = _read(ctx.inputs["finetune"], "runs.json")
        supervised = _read(ctx.inputs["supervised"], "runs.json")
        test = ShardedDataset(ctx.inputs["test"])
        labels = np.asarray(test.labels).astype(np.int64)
        classes = finetune["classes"]
        metrics: dict = {}
        for prefix, runs in (("", finetune["runs"]), ("_supervised", supervised["runs"])):
            for key in ("macro_auc", "accuracy"):
                by_fraction = _by_fraction(runs, key)
                mean, std = mean_std(by_fraction[1.0])
                metrics[f"{key}{prefix}"], metrics[f"{key}{prefix}_std"] = mean, std
                if key == "macro_auc":
                    metrics[f"macro_auc{prefix}_seeds"] = by_fraction[1.0]
                    stats = {f"{f:g}": mean_std(v) for f, v in sorted(by_fraction.items())}
                    metrics[f"macro_auc{prefix}_by_fraction"] = {f: s[0] for f, s in stats.items()}
                    metrics[f"macro_auc{prefix}_by_fraction_std"] = {f: s[1] for f, s in stats.items()}
        ssl_by, sup_by = _by_fraction(finetune["runs"], "macro_auc"), _by_fraction(supervised["runs"], "macro_auc")
        comparisons = {f"{f:g}": difference(ssl_by[f], sup_by[f]) for f in sorted(ssl_by)}
        metrics["macro_auc_difference"] = comparisons["1"]["difference"]
        metrics["macro_auc_difference_error"] = comparisons["1"]["error"]
        metrics["difference_by_fraction"] = {f: c["difference"] for f, c in comparisons.items()}
        metrics["difference_error_by_fraction"] = {f: c["error"] for f, c in comparisons.items()}
        metrics["difference_resolved_by_fraction"] = {f: (None if c["resolved"] is None else float(c["resolved"]))
                                                      for f, c in comparisons.items()}
        for probe_name in ("linear", "knn"):
            metrics[f"{probe_name}_probe_macro_auc"] = probe["pretrained"][f"{probe_name}_macro_auc"]
            mean, std = mean_std([r[f"{probe_name}_macro_auc"] for r in probe["random"]])
            metrics[f"{probe_name}_probe_random_macro_auc"], metrics[f"{probe_name}_probe_random_macro_auc_std"] = mean, std
        metrics["spread_ratio_pretrained"] = pretrain["spread_ratio"][-1] if pretrain["spread_ratio"] else None
        metrics["spread_ratio_test_pretrained"] = probe["pretrained"]["spread_ratio"]
        metrics["spread_ratio_test_random"] = mean_std([r["spread_ratio"] for r in probe["random"]])[0]
        metrics["pretrain_images_per_second"] = pretrain["images_per_second"]
        full = [run for run in finetune["runs"] if run["fraction"] == 1.0]
        probs = [np.load(ctx.inputs["finetune"] / probabilities_file(1.0, run["seed"])).astype(np.float64) for run in full]
        metrics["one_vs_rest_auc"] = np.mean([one_vs_rest_auc(labels, p) for p in probs], axis=0).tolist()
        calibration = np.array([_calibration(labels, p, bins) for p in probs])
        metrics["top_label_ece"], metrics["classwise_ece"] = calibration.mean(axis=0).tolist()
        if "regress" in ctx.inputs:
            metrics.update(_regression(ctx))
        first = probs[0]
        curves = {
            "roc": {name: {k: v for k, v in roc_curve((labels == c).astype(np.int64), first[:, c]).items()
                           if k in ("fpr", "tpr")} for c, name in enumerate(classes)},
            "reliability": reliability_curve((first.argmax(axis=1) == labels).astype(np.int64), first.max(axis=1), bins),
            "collapse": {"spread_ratio": pretrain["spread_ratio"]},
            "pretrain_loss": {"train_loss": pretrain["train_loss"], "val_loss": pretrain["val_loss"]},
        }
        write_json(ctx.work / "results.json", {"task": "ssl", "class_names": classes, "metrics": metrics,
                                               "curves": curves, "n_test": len(test)})
        return {"macro_auc": metrics["macro_auc"], "macro_auc_supervised": metrics["macro_auc_supervised"]}
