"""Report sections of the supervised tasks: test metrics beside the paper's, ROC, reliability,
confusion matrices, predicted-against-true parameters, and training curves.

Every function reads plain branch data (:class:`lensbench.report.branch.BranchData`) and
returns ``{section title: blocks}``.
"""

from __future__ import annotations

import numpy as np

from lensbench.metrics import headline_metrics, metric_label
from lensbench.report import figures as F
from lensbench.report.diagnosis import VERDICTS, advice, diagnose, rules_text
from lensbench.report.document import Figure, Paragraph, Table
from lensbench.report.summary import paper_column
from lensbench.simulate.store import ShardedDataset

def classification_sections(branches: dict, context) -> dict[str, list]:
    """``Results`` (metrics beside the paper's, ROC, reliability, confusion) and ``Training``."""
    return {"Results": classification_blocks(branches, context), "Training": training_blocks(branches, "classify")}


def regression_sections(branches: dict, context) -> dict[str, list]:
    """``Results`` (errors per parameter beside the paper's, predicted against true) and ``Training``."""
    return {"Results": regression_blocks(branches, context), "Training": training_blocks(branches, "regress")}


def classification_blocks(branches: dict, context) -> list:
    """Test metrics of every classifier beside the paper's values, and their figures."""
    blocks = []
    names = [k for k in headline_metrics() if any(k in b.results["metrics"] for b in branches.values())]
    binary = all(len(b.results["class_names"]) == 2 for b in branches.values())
    labels = [metric_label(k, binary=binary) for k in names]
    caption = ("Test-set metrics (n = " + ", ".join(str(b.results["n_test"]) for b in branches.values()) + ")"
               " beside the paper's published values (a dash where the paper gives none). For two classes, "
               "'(0.5)' thresholds the positive-class probability at 0.5 and 'Youden' at the ROC point "
               "maximising TPR - FPR; macro AUC averages the one-vs-rest AUCs of several classes.")
    paper = paper_column(branches)
    if len(branches) == 1:  # one column of ours, one of the paper's
        (branch, b), = branches.items()
        rows = tuple((label, b.results["metrics"].get(k), context.paper_value(branch, k))
                     for k, label in zip(names, labels))
        blocks.append(Table(("metric", "lensbench", paper), rows, caption))
    else:  # one row per branch; the paper's value right after ours where it gives any
        with_paper = {k for k in names if any(context.paper_value(name, k) is not None for name in branches)}
        columns = ("branch", *[c for k, label in zip(names, labels)
                               for c in ((label, f"{label}, {paper}") if k in with_paper else (label,))])
        rows = tuple((name, *[v for k in names for v in ((b.results["metrics"].get(k), context.paper_value(name, k))
                                                         if k in with_paper else (b.results["metrics"].get(k),))])
                     for name, b in branches.items())
        blocks.append(Table(columns, rows, caption))
    roc = {name: {**b.results["curves"]["roc"], "auc": b.results["metrics"].get("auc")}
           for name, b in branches.items() if "roc" in b.results["curves"]}
    if roc:
        paper_auc = {name: context.paper_value(name, "auc") for name in roc}
        paper_auc = {k: v for k, v in paper_auc.items() if v is not None} or None
        blocks.append(Figure.from_matplotlib("roc", F.roc_curves(roc, paper_auc),
                                             "ROC curves on the test set; the dotted diagonal is chance."))
    rel = {name: b.results["curves"]["reliability"] for name, b in branches.items()
           if "reliability" in b.results["curves"]}
    if rel:
        ece = {name: branches[name].results["metrics"].get("ece") for name in rel}
        blocks.append(Figure.from_matplotlib("reliability", F.reliability_diagram(rel, ece),
                                             "Reliability diagram: observed frequency of the positive class "
                                             "against the predicted probability, with the expected calibration "
                                             "error (ECE)."))
    for i, (name, b) in enumerate(branches.items()):
        matrix = b.results["metrics"].get("confusion")
        if matrix is not None:
            rule = "threshold 0.5" if len(b.results["class_names"]) == 2 else "the most probable class"
            blocks.append(Figure.from_matplotlib(f"confusion-{i}", F.confusion_matrix(
                np.asarray(matrix), b.results["class_names"]), f"Confusion matrix at {rule} ({name})."))
    return blocks


def regression_blocks(branches: dict, context) -> list:
    """Per-parameter test errors of every regression beside the paper's, and predicted against true."""
    blocks = []
    for i, (name, b) in enumerate(branches.items()):
        res = b.results
        m = res["metrics"]
        rows = tuple((label, m["mse"][label], m["r2"][label], context.paper_value(name, f"mse_{label}"))
                     for label in res["parameter_names"])
        blocks.append(Table(("parameter", "MSE", "R²", f"MSE, {paper_column(branches)}"), rows,
                            f"Test-set errors per parameter in the parameter's own units ({name})."))
        test = ShardedDataset(b.outputs["simulate:test"])
        pred = np.load(b.outputs["evaluate"] / "predictions.npy")
        scale = np.array([test.manifest.get("label_scale", {}).get(p, 1.0) for p in res["parameter_names"]])
        blocks.append(Figure.from_matplotlib(f"agreement-{i}", F.agreement(test.labels * scale, pred * scale,
                                                                           res["parameter_names"]),
                                             f"Predicted against true parameters on the test set ({name})."))
    return blocks


def training_blocks(branches: dict, task: str) -> list:
    """Training and validation loss per epoch, which epoch was kept, and a diagnosis per branch
    (:mod:`lensbench.report.diagnosis`) with what the user could change."""
    keys = ("train_loss", "val_loss", "train_acc", "val_acc", "best_epoch")
    histories = {name: {k: v for k, v in b.history.items() if k in keys} for name, b in branches.items()}
    found = {name: diagnose(b.history, len(b.results.get("class_names", ())) if task == "classify" else None)
             for name, b in branches.items()}
    rows = tuple((name, len(b.history["train_loss"]), _epoch_from_one(b.history.get("best_epoch")),
                  "yes" if b.history.get("stopped_early") else "no", found[name].verdict)
                 for name, b in branches.items())
    loss = "cross-entropy, nats" if task == "classify" else "mean squared error of the scaled labels"
    caption = (f"Training (solid) and validation (dashed) loss ({loss}) per epoch, epochs counted from 1; a dot marks "
               "the kept epoch (the lowest validation loss).")
    if len(histories) > F.MAX_OVERLAID:
        caption += " One panel per branch."
    elif task == "classify":
        caption += " Right: accuracy (fraction correct) of the same epochs."
    blocks = [Figure.from_matplotlib(f"loss-{task}", F.loss_curves(histories), caption),
              Table(("branch", "epochs run", "best epoch", "stopped early", "diagnosis"), rows,
                    "The model kept is the one with the lowest validation loss (epochs counted from 1, as in the "
                    "figure); the diagnosis follows the rules below.")]
    for verdict in VERDICTS[:-1]:
        named = [name for name in branches if found[name].verdict == verdict]
        if not named:
            continue
        rates = {getattr(branches[name].training, "lr", None) for name in named}
        cases = "; ".join(f"{name} ({found[name].reason})" for name in named)
        blocks.append(Paragraph(f"{verdict.capitalize()}: {cases}. What could change: "
                                f"{advice(verdict, rates.pop() if len(rates) == 1 else None)}"))
    blocks.append(Paragraph(rules_text()))
    return blocks


def _epoch_from_one(best_epoch):
    """The 0-based best epoch of a history counted from 1 (None when none was kept)."""
    return best_epoch + 1 if best_epoch is not None and best_epoch >= 0 else None
