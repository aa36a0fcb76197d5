"""Figures of the ``ssl`` task: the collapse monitor, the 2-D PCA of test embeddings coloured by
class, per-class one-vs-rest ROC curves, the label-fraction sweep, and for the axion-mass
regression the predicted-against-simulated mass (Deshmukh+23 Fig. 2 form) and the RMSE per bin of
m_a."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import MaxNLocator

from lensbench.report.figures import new_figure
from lensbench.ssl.collapse import COLLAPSED_BELOW

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
           "tab:gray", "tab:olive", "tab:cyan")


def collapse_curves(spreads: Mapping[str, Sequence[float]]) -> Figure:
    """Spread ratio (std of normalised embeddings x sqrt(d)) per pre-training epoch, one line per
    branch; 1 = uniform on the sphere, 0 = collapsed (dashed: the collapse threshold)."""
    fig = new_figure(7.0, 3.6)
    ax = fig.add_subplot()
    for i, (name, values) in enumerate(spreads.items()):
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", ms=3, color=COLOURS[i % len(COLOURS)],
                label=name, linestyle="-" if i < len(COLOURS) else "--")
    ax.axhline(COLLAPSED_BELOW, color="k", linestyle="--", lw=1, label="collapse threshold")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("pre-training epoch")
    ax.set_ylabel("spread ratio  std·√d")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=6, ncol=2)
    return fig


def pca_panels(embeddings: Mapping[str, Mapping[str, np.ndarray]], labels: Mapping[str, np.ndarray],
               class_names: Sequence[str]) -> Figure:
    """First two principal components of the test embeddings, coloured by class: one row per
    branch, the pre-trained encoder left and a random encoder right."""
    rows = len(embeddings)
    fig = new_figure(6.0, 2.4 * rows + 0.4)
    axes = fig.subplots(rows, 2, squeeze=False)
    for r, (name, pair) in enumerate(embeddings.items()):
        for c, which in enumerate(("pretrained", "random")):
            ax = axes[r][c]
            xy = pair[which]
            for k, cls in enumerate(class_names):
                chosen = labels[name] == k
                ax.scatter(xy[chosen, 0], xy[chosen, 1], s=3, color=COLOURS[k], label=cls, alpha=0.6)
            ax.set_title(f"{name}: {which}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0][0].legend(fontsize=6, markerscale=3)
    return fig


def class_roc(curves: Mapping[str, Mapping[str, Mapping]], aucs: Mapping[str, Sequence[float]]) -> Figure:
    """One panel per branch: the one-vs-rest ROC curve of each class, with its AUC."""
    names = list(curves)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig = new_figure(2.6 * cols, 2.5 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        for k, (cls, curve) in enumerate(curves[name].items()):
            ax.plot(curve["fpr"], curve["tpr"], color=COLOURS[k], lw=1, label=f"{cls} {aucs[name][k]:.3f}")
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set_title(name, fontsize=7)
        ax.set_xlabel("false positive rate", fontsize=7)
        ax.set_ylabel("true positive rate", fontsize=7)
        ax.legend(fontsize=6, loc="lower right")
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    return fig


def fraction_sweep(sweeps: Mapping[str, Mapping[str, Mapping]]) -> Figure:
    """Macro AUC against the fraction of labels, fine-tuned (solid) and supervised (dashed), with
    the seed standard deviation as error bars, one colour per branch."""
    fig = new_figure(7.0, 3.6)
    ax = fig.add_subplot()
    for i, (name, sweep) in enumerate(sweeps.items()):
        colour = COLOURS[i % len(COLOURS)]
        for kind, style in (("ssl", "-"), ("supervised", "--")):
            fractions = [float(f) for f in sweep[kind]["mean"]]
            means = list(sweep[kind]["mean"].values())
            errors = [e or 0.0 for e in sweep[kind]["std"].values()]
            ax.errorbar(fractions, means, yerr=errors, color=colour, linestyle=style, marker="o", ms=3, capsize=2,
                        label=f"{name} ({'SSL + fine-tune' if kind == 'ssl' else 'supervised'})")
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training labels")
    ax.set_ylabel("macro AUC (test)")
    ax.legend(fontsize=5, ncol=2)
    return fig


MAX_SCATTER_POINTS = 1500
"""Points per series of :func:`mass_scatter` (evenly spaced test images beyond it)."""


def _evenly(n: int, most: int) -> np.ndarray:
    """At most ``most`` evenly spaced indices into ``n`` items."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(int)) if n else np.arange(0)


def mass_scatter(panels: Mapping[str, Mapping[str, np.ndarray]], rmse: Mapping[str, Mapping[str, float]],
                 prior_range: Sequence[float]) -> Figure:
    """Deshmukh+23 Fig. 2 form: predicted against simulated log10(m_a / eV) of the test vortex
    images, one panel per branch, the fine-tuned encoder (filled) and its supervised baseline
    (hollow), with y = x.

    Parameters
    ----------
    panels : mapping
        Branch -> ``{"truth", "ssl", "supervised"}`` arrays (N,), log10(m_a / eV).
    rmse : mapping
        Branch -> ``{"ssl", "supervised"}`` RMSE (dex) for the legend.
    prior_range : (low, high)
        log10(m_a / eV) range of the prior, the axes' extent.
    """
    names = list(panels)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig = new_figure(2.6 * cols, 2.6 * rows + 0.3)
    axes = fig.subplots(rows, cols, squeeze=False)
    low, high = prior_range
    pad = 0.1 * (high - low)
    for i, name in enumerate(names):
        ax = axes[i // cols][i % cols]
        panel = panels[name]
        shown = _evenly(len(panel["truth"]), MAX_SCATTER_POINTS)
        ax.scatter(panel["truth"][shown], panel["supervised"][shown], s=6, facecolors="none", edgecolors="tab:orange",
                   lw=0.6, alpha=0.7, label=f"supervised {rmse[name]['supervised']:.2f}", rasterized=True)
        ax.scatter(panel["truth"][shown], panel["ssl"][shown], s=4, color="tab:blue", alpha=0.7,
                   label=f"SSL + fine-tune {rmse[name]['ssl']:.2f}", rasterized=True)
        ax.plot([low, high], [low, high], "k:", lw=0.8)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
        ax.set_aspect("equal")
        ax.set_title(name, fontsize=7)
        ax.set_xlabel("simulated log10 m_a (eV)", fontsize=7)
        ax.set_ylabel("predicted log10 m_a (eV)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5, loc="upper left", title="RMSE (dex)", title_fontsize=5)
    for j in range(len(names), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    return fig


def binned_rmse(curves: Mapping[str, Mapping[str, Sequence]], edges: Sequence[float]) -> Figure:
    """RMSE of log10 m_a per bin of simulated m_a: fine-tuned (solid) and supervised (dashed), one
    colour per branch, error bars one seed std; grey steps: predicting the training mean (the
    first branch's).

    Parameters
    ----------
    curves : mapping
        Branch -> ``{"ssl", "ssl_std", "supervised", "supervised_std", "mean_prediction"}``,
        lists with one value per bin (None for an empty bin).
    edges : sequence of float
        Bin edges, log10(m_a / eV).
    """
    fig = new_figure(7.0, 3.6)
    ax = fig.add_subplot()
    centres = 0.5 * (np.asarray(edges[:-1]) + np.asarray(edges[1:]))

    def values(seq) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in seq], dtype=np.float64)

    for i, (name, curve) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        for kind, style in (("ssl", "-"), ("supervised", "--")):
            ax.errorbar(centres, values(curve[kind]), yerr=np.nan_to_num(values(curve[f"{kind}_std"])), color=colour,
                        linestyle=style, marker="o", ms=3, capsize=2,
                        label=f"{name} ({'SSL + fine-tune' if kind == 'ssl' else 'supervised'})")
    first = next(iter(curves.values()))
    ax.stairs(values(first["mean_prediction"]), edges, baseline=None, color="0.5", lw=1,
              label="predicting the training mean")
    ax.set_xlabel("simulated log10 m_a (eV)")
    ax.set_ylabel("RMSE of log10 m_a (dex)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=5, ncol=2)
    return fig
