"""The figures of a report, drawn with matplotlib's Agg renderer.

Each function returns a :class:`matplotlib.figure.Figure` made without pyplot (no global state,
no display needed); turn it into a report block with
:meth:`lensbench.report.document.Figure.from_matplotlib`. Images are drawn pixel for pixel
(nearest-neighbour): a diverging, zero-centred colour map for signed data (e.g. astrometric velocity
maps in muas/yr), a sequential one otherwise (e.g. surface brightness in counts/s). Example images
share one scale per channel, with a colour bar; gallery panels are each scaled to their own range.
Epochs are counted from 1 on every axis.

One module of ~420 lines because every report figure shares its canvas, colour-map and
panel-grid helpers; each function is one figure.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

PANEL_HEIGHT_IN = 1.6
MAX_WIDTH_IN = 12.0
SEQUENTIAL_CMAP = "magma"
DIVERGING_CMAP = "RdBu_r"
CLIP_PERCENTILE = 99.5  # example images: colour scales span the 0.5th to the 99.5th percentile
SIGNED_FRACTION = 0.25  # ... diverging when the low end is below -0.25 x the high end
COLORBAR_WIDTH_IN = 1.1
MAX_OVERLAID = 4  # loss curves: more runs than this get one panel each
SMALL_MULTIPLE_COLUMNS = 4


def new_figure(width_in: float, height_in: float) -> Figure:
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _as_float_array(values, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        raise ValueError(f"{name}: expected {' or '.join(map(str, allowed))} dimensions, "
                         f"got shape {array.shape}")
    return array


def _show_image(ax, image: np.ndarray) -> None:
    """Draw one 2-D image without ticks; zero-centred diverging colours for signed data."""
    finite = image[np.isfinite(image)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    if low < 0 < high:
        limit = max(-low, high)
        ax.imshow(image, cmap=DIVERGING_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")
    else:
        ax.imshow(image, cmap=SEQUENTIAL_CMAP, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _blank(ax) -> None:
    """Hide a panel's frame and ticks but keep its labels (a row label may sit on it)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _panel_grid(nrows: int, ncols: int, aspect: float, extra_height_in: float = 0.4):
    """A figure of nrows x ncols image panels of width/height ``aspect``, at most 12 in wide."""
    width = ncols * PANEL_HEIGHT_IN * aspect + 0.6
    scale = min(1.0, MAX_WIDTH_IN / width)
    fig = new_figure(width * scale, nrows * PANEL_HEIGHT_IN * scale + extra_height_in)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _shared_limits(images: np.ndarray) -> tuple[str, float, float, str]:
    """One colour scale for a set of images: (colour map, vmin, vmax, colour-bar extension).

    The scale spans the 0.5th to 99.5th percentiles of the values. Data with both signs in earnest
    (the low end below -:data:`SIGNED_FRACTION` of the high end, e.g. velocity maps) get the
    diverging map, symmetric about zero; other data (surface brightness with a little negative
    noise) the sequential one. Values beyond are drawn in the end colours (the colour bar shows an
    arrow there).
    """
    finite = images[np.isfinite(images)]
    if not finite.size:
        return SEQUENTIAL_CMAP, 0.0, 1.0, "neither"
    low, high = np.percentile(finite, [100.0 - CLIP_PERCENTILE, CLIP_PERCENTILE])
    if high <= low:
        low, high = float(finite.min()), float(finite.max()) + (finite.max() == finite.min())
    if low < -SIGNED_FRACTION * high and high > 0:
        limit = max(-low, high)
        return DIVERGING_CMAP, -limit, limit, _extend(finite, -limit, limit)
    return SEQUENTIAL_CMAP, float(low), float(high), _extend(finite, low, high)


def _extend(values: np.ndarray, low: float, high: float) -> str:
    """Which ends of a colour bar to draw as arrows: those the values pass."""
    below, above = values.min() < low, values.max() > high
    return {(True, True): "both", (True, False): "min", (False, True): "max"}.get((below, above), "neither")


def example_images(images, labels, class_names: Sequence[str], per_class: int = 4,
                   channels: Sequence[tuple[str, str]] = ()) -> Figure:
    """Example images of every class, one row per class, one block of columns per channel.

    Every panel of a channel shares one colour scale, drawn as a colour bar labelled with the
    channel's name and unit, so brightness can be compared between classes.

    Parameters
    ----------
    images : array (N, C, H, W)
        Images in their physical units (counts/s, muas/yr, ...). With C = 2 both channels are
        shown (two blocks of columns); otherwise the first channel.
    labels : array of int (N,)
        Class index of each image.
    class_names : sequence of str
        Name of each class index.
    per_class : int
        Examples per class (the first ones of each class); missing ones leave blank panels.
    channels : sequence of (name, unit)
        What each channel holds, e.g. ``[("u_l", "muas/yr"), ("u_b", "muas/yr")]``; without it the
        channels are numbered and have no unit.
    """
    images = _as_float_array(images, "images", 4)
    labels = np.asarray(labels)
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels: expected shape ({images.shape[0]},), got {labels.shape}")
    shown = 2 if images.shape[1] == 2 else 1
    aspect = images.shape[3] / images.shape[2]
    width = shown * (per_class * PANEL_HEIGHT_IN * aspect + COLORBAR_WIDTH_IN) + 0.4
    scale = min(1.0, MAX_WIDTH_IN / width)
    fig = new_figure(width * scale, len(class_names) * PANEL_HEIGHT_IN * scale + 0.6)
    chosen = [np.flatnonzero(labels == row)[:per_class] for row in range(len(class_names))]
    for channel, subfigure in enumerate(np.atleast_1d(fig.subfigures(1, shown))):
        name, unit = channels[channel] if channel < len(channels) else (f"channel {channel}", "")
        axes = subfigure.subplots(len(class_names), per_class, squeeze=False)
        cmap, vmin, vmax, extend = _shared_limits(images[np.concatenate(chosen).astype(int), channel])
        drawn = None
        for row, class_name in enumerate(class_names):
            for column, ax in enumerate(axes[row]):
                if column < len(chosen[row]):
                    drawn = ax.imshow(images[chosen[row][column], channel], cmap=cmap, vmin=vmin, vmax=vmax,
                                      interpolation="nearest")
                _blank(ax)
            axes[row, 0].set_ylabel(class_name, fontsize=10)
        label = f"{name} ({unit})" if unit else name
        if shown == 2:
            subfigure.suptitle(label, fontsize=10)
        if drawn is not None:
            subfigure.colorbar(drawn, ax=axes, label=label, extend=extend, shrink=0.9)
    return fig


def loss_curves(histories: Mapping[str, Mapping], max_overlaid: int = MAX_OVERLAID) -> Figure:
    """Training and validation loss per epoch (and accuracy when recorded), epochs counted from 1.

    Up to ``max_overlaid`` runs share one loss panel (one colour each; an accuracy panel beside it
    when any records accuracy); more get one small loss panel each (small multiples), titled by
    name. Training is drawn solid, validation dashed, and a dot marks the kept (best) epoch.

    Parameters
    ----------
    histories : mapping of name to history
        Each history holds ``train_loss`` and ``val_loss`` (one value per epoch), optionally
        ``train_acc`` and ``val_acc`` (fractions; empty for regression) and ``best_epoch``
        (0-based, as :class:`lensbench.training.History` records it; drawn at epoch
        ``best_epoch + 1``).
    max_overlaid : int
        The most runs drawn in one panel.
    """
    if len(histories) > max_overlaid:
        ncols = min(SMALL_MULTIPLE_COLUMNS, len(histories))
        nrows = math.ceil(len(histories) / ncols)
        fig = new_figure(3.0 * ncols, 2.3 * nrows + 0.3)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, (name, history) in zip(axes, histories.items()):
            _plot_history(ax, history, "loss", "C0")
            ax.set_title(name, fontsize=9)
            _epoch_axis(ax, "loss")
        for ax in axes[len(histories):]:
            ax.set_axis_off()
        axes[0].legend(handles=_style_legend(), fontsize=7)
        return fig
    has_accuracy = any(np.size(history.get(key, ())) > 0
                       for history in histories.values() for key in ("train_acc", "val_acc"))
    fig = new_figure(10.0 if has_accuracy else 6.0, 4.0)
    axes = fig.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]
    for ax, key, title in [(axes[0], "loss", "loss")] + ([(axes[1], "acc", "accuracy")] if has_accuracy else []):
        for index, history in enumerate(histories.values()):
            _plot_history(ax, history, key, f"C{index % 10}")
        ax.set_title(title, fontsize=10)
        _epoch_axis(ax, title)
    names = [Line2D([], [], color=f"C{index % 10}", label=name) for index, name in enumerate(histories)]
    axes[0].legend(handles=names + _style_legend(), fontsize=8)
    return fig


def _plot_history(ax, history: Mapping, key: str, colour: str) -> None:
    """Training (solid) and validation (dashed) ``key`` per epoch, the best epoch as a dot."""
    best = history.get("best_epoch")
    for split, style in (("train", "-"), ("val", "--")):
        values = np.asarray(history.get(f"{split}_{key}", []), dtype=np.float64)
        if not values.size:
            continue
        epochs = np.arange(1, values.size + 1)
        ax.plot(epochs, values, style, color=colour, marker="o" if values.size == 1 else None, markersize=3)
        if split == "val" and best is not None and 0 <= best < values.size:
            ax.plot([best + 1], [values[best]], "o", color=colour, markersize=6, markeredgecolor="black")


def _epoch_axis(ax, ylabel: str) -> None:
    """Label an epoch axis (epochs from 1): every epoch ticked up to 10 drawn, else integer ticks."""
    epochs = max((line.get_xdata()[-1] for line in ax.get_lines() if len(line.get_xdata())), default=1)
    if epochs <= 10:
        ax.set_xticks(np.arange(1, int(epochs) + 1))
        ax.set_xlim(0.5, epochs + 0.5)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _style_legend() -> list:
    return [Line2D([], [], color="0.3", linestyle="-", label="training"),
            Line2D([], [], color="0.3", linestyle="--", label="validation"),
            Line2D([], [], color="0.3", linestyle="", marker="o", markeredgecolor="black", label="kept epoch")]


def roc_curves(curves: Mapping[str, Mapping], paper_auc: Mapping[str, float] | None = None) -> Figure:
    """Receiver operating characteristic curves with the chance diagonal.

    Parameters
    ----------
    curves : mapping of name to {"fpr", "tpr", "auc"}
        False- and true-positive rates (fractions) and the area under the curve (None when
        not known).
    paper_auc : mapping of name to float, optional
        Published AUC of the same configuration, shown beside ours in the legend.
    """
    fig = new_figure(5.8, 5.2)
    ax = fig.subplots()
    ax.plot([0.0, 1.0], [0.0, 1.0], linestyle=":", color="0.55", label="chance (AUC 0.5)")
    for index, (name, curve) in enumerate(curves.items()):
        label = f"{name}: AUC {_short(curve.get('auc'))}"
        if paper_auc and name in paper_auc:
            label += f" (paper {_short(paper_auc[name])})"
        ax.plot(np.asarray(curve["fpr"], dtype=np.float64), np.asarray(curve["tpr"], dtype=np.float64),
                color=f"C{index % 10}", linestyle="-" if index < 10 else "--", label=label)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.0)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    return fig


def _short(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def reliability_diagram(curves: Mapping[str, Mapping], ece: Mapping[str, float]) -> Figure:
    """Observed frequency against predicted probability, with the number of examples per bin.

    Parameters
    ----------
    curves : mapping of name to {"bin_centres", "observed", "predicted", "counts"}
        Per probability bin: its centre, the fraction of positives, the mean predicted
        probability (None or NaN for empty bins) and the number of test examples.
    ece : mapping of name to float
        Expected calibration error of each name, shown in the legend (fraction).
    """
    fig = new_figure(5.8, 6.0)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0.0, 1.0], [0.0, 1.0], linestyle=":", color="0.55", label="perfect calibration")
    for index, (name, curve) in enumerate(curves.items()):
        colour = f"C{index % 10}"
        label = f"{name}: ECE {_short(ece[name])}" if name in ece else name
        top.plot(np.asarray(curve["predicted"], dtype=np.float64),
                 np.asarray(curve["observed"], dtype=np.float64),
                 "o-", color=colour, markersize=3, label=label)
        bottom.step(np.asarray(curve["bin_centres"], dtype=np.float64),
                    np.asarray(curve["counts"], dtype=np.float64), where="mid", color=colour)
    top.set_xlim(0.0, 1.0)
    top.set_ylim(0.0, 1.0)
    top.set_ylabel("observed frequency")
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize=7)
    bottom.set_xlabel("predicted probability")
    bottom.set_ylabel("count")
    bottom.grid(alpha=0.3)
    return fig


def confusion_matrix(matrix, class_names: Sequence[str]) -> Figure:
    """Confusion matrix: colour is the fraction of each true class, text the count and fraction.

    Parameters
    ----------
    matrix : array (K, K)
        Counts; rows are true classes, columns predicted classes.
    class_names : sequence of str
        The K class names.
    """
    counts = _as_float_array(matrix, "matrix", 2)
    if counts.shape != (len(class_names), len(class_names)):
        raise ValueError(f"matrix: expected shape ({len(class_names)}, {len(class_names)}) for "
                         f"{len(class_names)} classes, got {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = 2.2 + 0.9 * len(class_names)
    fig = new_figure(size + 1.0, size)
    ax = fig.subplots()
    shown = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    for (row, column), count in np.ndenumerate(counts):
        fraction = fractions[row, column]
        ax.text(column, row, f"{count:.0f}\n{fraction:.1%}", ha="center", va="center", fontsize=9,
                color="white" if fraction > 0.5 else "black")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=class_names)
    ax.set_yticks(ticks, labels=class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(shown, ax=ax, label="fraction of true class")
    return fig


def agreement(true, pred, names: Sequence[str]) -> Figure:
    """Predicted against true value of each regressed parameter, with the line y = x.

    Parameters
    ----------
    true, pred : arrays (N, P)
        True and predicted values of P parameters for N test examples.
    names : sequence of str
        The P parameter names, with units (e.g. ``"theta_E (arcsec)"``).
    """
    true = _as_float_array(true, "true", 2)
    pred = _as_float_array(pred, "pred", 2)
    if true.shape != pred.shape or true.shape[1] != len(names):
        raise ValueError(f"true {true.shape} and pred {pred.shape} must both be (N, {len(names)})")
    ncols = min(len(names), 4)
    nrows = math.ceil(len(names) / ncols)
    fig = new_figure(3.0 * ncols, 3.0 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for index, ax in enumerate(axes):
        if index >= len(names):
            ax.set_axis_off()
            continue
        ax.scatter(true[:, index], pred[:, index], s=4, alpha=0.4, color="C0", rasterized=True)
        both = np.concatenate([true[:, index], pred[:, index]])
        both = both[np.isfinite(both)]
        low, high = (both.min(), both.max()) if both.size else (0.0, 1.0)
        ax.plot([low, high], [low, high], color="0.3", linewidth=1, label="y = x")
        ax.set_xlabel(f"true {names[index]}")
        ax.set_ylabel(f"predicted {names[index]}")
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    return fig


def histogram(values, bins, xlabel: str) -> Figure:
    """Histogram of the finite values (how many others were left out goes in the title).

    Parameters
    ----------
    values : array
        The values, flattened.
    bins : int or array
        Number of bins or bin edges, as :func:`numpy.histogram` takes them.
    xlabel : str
        What the values are, with units.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    fig = new_figure(6.0, 4.0)
    ax = fig.subplots()
    ax.hist(finite, bins=bins, color="C0", edgecolor="white", linewidth=0.5)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    left_out = values.size - finite.size
    ax.set_title(f"{finite.size} values" + (f" ({left_out} non-finite left out)" if left_out else ""),
                 fontsize=9)
    ax.grid(alpha=0.3)
    return fig


def image_gallery(images, captions: Sequence[str], ncols: int = 6) -> Figure:
    """A grid of single-channel images with a caption above each.

    Parameters
    ----------
    images : array (N, H, W) or (N, 1, H, W)
        The images in their physical units (e.g. counts/s).
    captions : sequence of str
        One short caption per image.
    ncols : int
        Images per row.
    """
    images = _as_float_array(images, "images", (3, 4))
    if images.ndim == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images: expected one channel, got shape {images.shape}")
        images = images[:, 0]
    if len(captions) != images.shape[0]:
        raise ValueError(f"captions: expected {images.shape[0]}, got {len(captions)}")
    ncols = max(1, min(ncols, images.shape[0]))
    nrows = max(1, math.ceil(images.shape[0] / ncols))
    fig, axes = _panel_grid(nrows, ncols, images.shape[2] / images.shape[1],
                            extra_height_in=0.25 * nrows)
    for index, ax in enumerate(axes.ravel()):
        if index < images.shape[0]:
            _show_image(ax, images[index])
            ax.set_title(captions[index], fontsize=8)
        else:
            ax.set_axis_off()
    return fig
