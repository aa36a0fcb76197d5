"""Report sections of the ``ssl`` task (Deshmukh+23): Tables 1-2 as ours (mean ± std over seeds)
beside the paper's, the SSL − supervised difference with its standard error and a verdict, the
probes against random encoders, the label-fraction sweep, the collapse monitor, PCA embeddings,
per-class ROC curves and reliability; the axion-mass regression (Fig. 2) comes from
:mod:`lensbench.report.ssl_regression`.

Every function reads plain :class:`~lensbench.report.branch.BranchData` (``results`` is the
``ssl_evaluate`` step's ``results.json``; ``outputs["probe"]`` holds ``pca.npz``).
"""

from __future__ import annotations

import numpy as np

from lensbench.report import figures as F
from lensbench.report import ssl_figures as S
from lensbench.report.document import Figure, Notice, Paragraph, Table
from lensbench.report.ssl_cells import pm as _pm
from lensbench.report.ssl_cells import row as _row
from lensbench.report.ssl_cells import survey as _survey
from lensbench.report.ssl_regression import regression_blocks
from lensbench.report.summary import paper_column
from lensbench.ssl.collapse import COLLAPSED_BELOW
from lensbench.ssl.compare import RESOLVING_SIGMAS, verdict

MAX_PCA_ROWS = 7


def _3(value) -> str | None:
    """A macro AUC as the paper prints it (three decimals); None stays None."""
    return None if value is None else f"{value:.3f}"


def paper_tables(branches: dict, context) -> list:
    """Tables 1-2: supervised and SSL + fine-tune macro AUC, ours beside the paper's, and the
    difference with its verdict."""
    paper = paper_column(branches)
    rows = []
    for name, b in branches.items():
        m = b.results["metrics"]
        comparison = {"difference": m["macro_auc_difference"], "error": m["macro_auc_difference_error"],
                      "resolved": m["difference_resolved_by_fraction"]["1"]}
        comparison["resolved"] = None if comparison["resolved"] is None else bool(comparison["resolved"])
        paper_diff = None
        p_ssl, p_sup = context.paper_value(name, "macro_auc"), context.paper_value(name, "macro_auc_supervised")
        if p_ssl is not None and p_sup is not None:
            paper_diff = p_ssl - p_sup
        rows.append((_row(name), b.architecture, _survey(b), _pm(m["macro_auc_supervised"], m["macro_auc_supervised_std"]),
                     _3(p_sup), _pm(m["macro_auc"], m["macro_auc_std"]), _3(p_ssl),
                     _pm(m["macro_auc_difference"], m["macro_auc_difference_error"]), _3(paper_diff),
                     verdict(comparison)))
    seeds = {len(b.results["metrics"]["macro_auc_seeds"]) for b in branches.values()}
    caption = (f"Deshmukh+23 Tables 1 (hst = Model A) and 2 (euclid = Model B): test macro AUC of the supervised "
               f"baseline and of SSL + fine-tuning with every label, ours as mean ± sample std over "
               f"{'/'.join(map(str, sorted(seeds)))} training seed(s) from the same pre-trained encoder, beside the "
               f"paper's single numbers. The difference is mean SSL − mean supervised ± its standard error; it is "
               f"'beyond the seed spread' when larger than {RESOLVING_SIGMAS:g} standard errors. The paper's "
               "differences are 0.001-0.03.")
    return [Table(("row", "encoder", "survey", "supervised", f"supervised, {paper}", "SSL + fine-tune",
                   f"SSL + fine-tune, {paper}", "SSL − supervised", f"SSL − supervised, {paper}", "verdict"),
                  tuple(rows), caption), *_undertrained(branches)]


def _undertrained(branches: dict) -> list:
    """A warning when the trained classifiers score below a logistic regression on a random
    encoder's frozen features: their training was too short to say anything about the paper's."""
    below = [_row(name) for name, b in branches.items()
             if max(b.results["metrics"]["macro_auc"], b.results["metrics"]["macro_auc_supervised"])
             < b.results["metrics"]["linear_probe_random_macro_auc"]]
    if not below:
        return []
    return [Notice(f"In {len(below)} of {len(branches)} rows ({', '.join(below)}) both the fine-tuned and the "
                   "supervised classifier score below a logistic regression on the frozen features of a randomly "
                   "initialised encoder (probe table below): their training is too short at this scale for the "
                   "SSL − supervised comparison to say anything about the paper's.")]


def probe_blocks(branches: dict) -> list:
    """Linear and kNN probes of each pre-trained encoder against random encoders."""
    rows, beaten = [], []
    for name, b in branches.items():
        m = b.results["metrics"]
        better = m["linear_probe_macro_auc"] > m["linear_probe_random_macro_auc"] + (m["linear_probe_random_macro_auc_std"] or 0.0)
        if not better:
            beaten.append(_row(name))
        rows.append((_row(name), _survey(b), _3(m["linear_probe_macro_auc"]), _pm(m["linear_probe_random_macro_auc"], m["linear_probe_random_macro_auc_std"]),
                     _3(m["knn_probe_macro_auc"]), _pm(m["knn_probe_random_macro_auc"], m["knn_probe_random_macro_auc_std"]),
                     "yes" if better else "no"))
    blocks = [Table(("row", "survey", "linear probe, pre-trained", "linear probe, random encoder", "kNN, pre-trained",
                     "kNN, random encoder", "pre-training learnt something"), tuple(rows),
                    "Test macro AUC of a logistic regression (scikit-learn, standardised embeddings) and of a "
                    "cosine kNN on frozen embeddings of the pre-trained encoder, against the same probes on randomly "
                    "initialised encoders of the same architecture (mean ± std over the seeds). 'yes' when the "
                    "pre-trained linear probe beats the random encoders' mean plus one std.")]
    blocks.append(Paragraph("Every pre-trained encoder's linear probe beats the random encoders'." if not beaten else
                            f"The linear probe of {', '.join(beaten)} does not beat a random encoder: that pre-training "
                            "learnt no linearly usable features at this scale."))
    return blocks


def fraction_blocks(branches: dict) -> list:
    """The label-fraction sweep: fine-tuned and supervised macro AUC per fraction."""
    rows, sweeps = [], {}
    for name, b in branches.items():
        m = b.results["metrics"]
        for f in sorted(m["macro_auc_by_fraction"], key=float):
            comparison = {"difference": m["difference_by_fraction"][f], "error": m["difference_error_by_fraction"][f],
                          "resolved": m["difference_resolved_by_fraction"][f]}
            comparison["resolved"] = None if comparison["resolved"] is None else bool(comparison["resolved"])
            rows.append((_row(name), _survey(b), f"{float(f):.0%}", _pm(m["macro_auc_by_fraction"][f], m["macro_auc_by_fraction_std"][f]),
                         _pm(m["macro_auc_supervised_by_fraction"][f], m["macro_auc_supervised_by_fraction_std"][f]),
                         _pm(comparison["difference"], comparison["error"]), verdict(comparison)))
        sweeps[name] = {"ssl": {"mean": m["macro_auc_by_fraction"], "std": m["macro_auc_by_fraction_std"]},
                        "supervised": {"mean": m["macro_auc_supervised_by_fraction"],
                                       "std": m["macro_auc_supervised_by_fraction_std"]}}
    return [Table(("row", "survey", "labels", "SSL + fine-tune", "supervised", "SSL − supervised", "verdict"), tuple(rows),
                  "Label-fraction sweep (beyond the paper): test macro AUC (mean ± std over seeds) when fine-tuning "
                  "and the baseline see only this fraction of the training labels, drawn class by class once."),
            Figure.from_matplotlib("ssl-fractions", S.fraction_sweep(sweeps),
                                   "Macro AUC against the fraction of labels: SSL + fine-tune (solid) and supervised "
                                   "(dashed), error bars one seed std.")]


def diagnostic_blocks(branches: dict) -> list:
    """Collapse monitor, PCA embeddings, per-class ROC, reliability and calibration."""
    spreads = {name: b.results["curves"]["collapse"]["spread_ratio"] for name, b in branches.items()}
    collapsed = [_row(name) for name, values in spreads.items() if values and values[-1] < COLLAPSED_BELOW]
    blocks = [Figure.from_matplotlib("ssl-collapse", S.collapse_curves(spreads),
                                     "Collapse monitor: per-dimension std of the L2-normalised projection-head outputs "
                                     "(the projector's z; DINO's head outputs) of the validation images, times √d, after "
                                     "each pre-training epoch (1: spread uniformly over the sphere, 0: every image on "
                                     f"one point; dashed: {COLLAPSED_BELOW}, called collapsed)."),
              Paragraph("No encoder collapsed." if not collapsed else f"Collapsed (spread ratio below "
                        f"{COLLAPSED_BELOW}): {', '.join(collapsed)}.")]
    pca, labels = {}, {}
    for name, b in list(branches.items())[:MAX_PCA_ROWS]:
        with np.load(b.outputs["probe"] / "pca.npz") as data:
            pca[name] = {"pretrained": data["pretrained"], "random": data["random"]}
            labels[name] = data["labels"]
    class_names = next(iter(branches.values())).results["class_names"]
    shown = "" if len(branches) <= MAX_PCA_ROWS else f" (the first {MAX_PCA_ROWS} rows)"
    blocks.append(Figure.from_matplotlib("ssl-pca", S.pca_panels(pca, labels, class_names),
                                         f"Test embeddings projected on their two leading principal components, "
                                         f"coloured by class{shown}: pre-trained encoder (left), random encoder (right)."))
    curves = {name: b.results["curves"]["roc"] for name, b in branches.items()}
    aucs = {name: b.results["metrics"]["one_vs_rest_auc"] for name, b in branches.items()}
    blocks.append(Figure.from_matplotlib("ssl-roc", S.class_roc(curves, aucs),
                                         "One-vs-rest ROC curve of each class after fine-tuning with every label "
                                         "(first seed); the legend gives each class's AUC averaged over seeds."))
    reliability = {name: b.results["curves"]["reliability"] for name, b in branches.items()}
    ece = {name: b.results["metrics"]["top_label_ece"] for name, b in branches.items()}
    blocks.append(Figure.from_matplotlib("ssl-reliability", F.reliability_diagram(reliability, ece),
                                         "Top-label reliability of the fine-tuned classifiers (first seed): observed "
                                         "accuracy against the highest class probability, with the top-label ECE "
                                         "(mean over seeds)."))
    rows = tuple((_row(name), _survey(b), *map(_3, b.results["metrics"]["one_vs_rest_auc"]),
                  _3(b.results["metrics"]["top_label_ece"]), _3(b.results["metrics"]["classwise_ece"]))
                 for name, b in branches.items())
    blocks.append(Table(("row", "survey", *[f"AUC {c}" for c in class_names], "top-label ECE", "class-wise ECE"), rows,
                        "Per-class one-vs-rest AUC and calibration errors (10 equal-width bins by default) after "
                        "fine-tuning with every label, means over seeds; the paper reports neither."))
    return blocks


def pretraining_blocks(branches: dict) -> list:
    """Pre-training losses and speed."""
    curves = {name: b.results["curves"]["pretrain_loss"] for name, b in branches.items()}
    histories = {name: {"train_loss": c["train_loss"], "val_loss": c["val_loss"],
                        "best_epoch": len(c["train_loss"]) - 1}  # the encoder's: SSLObjective.keep_best is False
                 for name, c in curves.items()}
    rows = tuple((_row(name), _survey(b), len(h["train_loss"]), h["train_loss"][-1], h["val_loss"][-1],
                  b.results["metrics"]["pretrain_images_per_second"]) for (name, h), b in zip(histories.items(), branches.values()))
    return [Figure.from_matplotlib("ssl-pretrain-loss", F.loss_curves(histories),
                                   "Self-supervised loss per pre-training epoch, training (solid) and validation (dashed); "
                                   "the encoder kept is the last epoch's (BYOL's and DINO's validation loss is "
                                   "measured against a moving teacher and does not rank encoders); each method has "
                                   "its own loss scale (NT-Xent in nats, BYOL 0-8, SimSiam -1-1, DINO nats)."),
            Table(("row", "survey", "epochs", "final train loss", "final val loss", "pre-training images/s"), rows,
                  "Pre-training per row.")]


def ssl_sections(branches: dict, context) -> dict[str, list]:
    """``Results`` (Tables 1-2, probes, label fractions, diagnostics), ``Axion-mass regression``
    (Fig. 2; empty without ``[axion_regression] enabled``) and ``Training`` (pre-training)."""
    return {"Results": [*paper_tables(branches, context), *probe_blocks(branches), *fraction_blocks(branches),
                        *diagnostic_blocks(branches)],
            "Axion-mass regression": regression_blocks(branches),
            "Training": pretraining_blocks(branches)}
