"""Figures of the likelihood_ratio task (Brehmer+19 Figs 2, 3 and 5 styles, calibration, coverage).

Plain arrays in, matplotlib figures out (:func:`lensbench.report.figures.new_figure`). Maps are
(B, F) arrays over the grid's beta (rows) and f_sub (columns).
"""

from __future__ import annotations

import io

import numpy as np

from lensbench.report.document import render_png
from lensbench.report.figures import new_figure

LINESTYLES = (":", "--", "-", "-.")
CL95_2DOF = 5.991464547107979
"""chi^2 95 % quantile with 2 degrees of freedom (the paper's contour threshold)."""


def _extent(f_sub, beta):
    return (f_sub[0], f_sub[-1], beta[0], beta[-1])


def expected_limits(f_sub, beta, mean_map, n_lenses, fiducial, beta_slice, paper_intervals=None):
    """Fig. 3: expected -2 ln r per lens (colours, 2-D) with the 95 % CL contours for each lens
    count, and the slice at ``beta_slice`` (q for each count) with the paper's intervals."""
    fig = new_figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    per_lens = -2.0 * (mean_map - mean_map.max())
    image = left.imshow(per_lens, origin="lower", extent=_extent(f_sub, beta), aspect="auto", cmap="viridis_r",
                        vmax=np.percentile(per_lens, 95))
    fig.colorbar(image, ax=left, label="expected -2 Δln r per lens")
    for n, style in zip(n_lenses, LINESTYLES):
        left.contour(f_sub, beta, n * per_lens, levels=[CL95_2DOF], colors="white", linestyles=style)
        left.plot([], [], color="k", linestyle=style, label=f"{n} lenses")
    left.plot(*fiducial, marker="*", color="red", markersize=12, linestyle="none", label="true")
    left.set_xlabel("f_sub")
    left.set_ylabel("beta")
    left.legend(fontsize=7, loc="upper right")
    j = int(np.clip(np.searchsorted(beta, beta_slice) - 1, 0, len(beta) - 2))
    t = (beta_slice - beta[j]) / (beta[j + 1] - beta[j])
    row = (1.0 - t) * mean_map[j] + t * mean_map[j + 1]
    for k, (n, style) in enumerate(zip(n_lenses, LINESTYLES)):
        q = -2.0 * n * (row - mean_map.max())
        right.plot(f_sub, q, color=f"C{k}", linestyle=style, label=f"{n} lenses (ours)")
        if paper_intervals and n in paper_intervals:
            low, high = paper_intervals[n]
            right.axvspan(low, high, color=f"C{k}", alpha=0.12, label=f"{n}: paper Fig. 3")
    right.axhline(CL95_2DOF, color="grey", linewidth=0.8)
    right.axvline(fiducial[0], color="red", linewidth=0.8)
    right.set_ylim(0, 4 * CL95_2DOF)
    right.set_xlabel(f"f_sub (beta = {beta_slice:g})")
    right.set_ylabel("expected -2 Δln r")
    right.legend(fontsize=7)
    return fig


def example_lenses(images, q_maps, f_sub, beta, fiducial):
    """Fig. 2: lens images (counts/s per pixel) over their own -2 Δln r maps with 95 % CL contours."""
    k = len(images)
    fig = new_figure(2.6 * k, 5.0)
    axes = np.atleast_2d(fig.subplots(2, k, squeeze=False))
    for i in range(k):
        axes[0, i].imshow(images[i], origin="lower", cmap="gray_r")
        axes[0, i].set_axis_off()
        axes[1, i].imshow(q_maps[i], origin="lower", extent=_extent(f_sub, beta), aspect="auto", cmap="viridis_r",
                          vmax=np.percentile(q_maps[i], 95) + 1e-9)
        axes[1, i].contour(f_sub, beta, q_maps[i], levels=[CL95_2DOF], colors="black")
        axes[1, i].plot(*fiducial, marker="*", color="red", markersize=10)
        axes[1, i].set_xlabel("f_sub")
        if i == 0:
            axes[1, i].set_ylabel("beta")
    return fig


def posterior_and_shmf(f_sub, beta, probabilities, masses, band, fiducial_shmf):
    """Fig. 5: the grid posterior for the largest lens count and the SHMF band per host mass."""
    fig = new_figure(10.0, 4.0)
    left, right = fig.subplots(1, 2)
    density = probabilities.reshape(len(beta), len(f_sub))
    image = left.imshow(density, origin="lower", extent=_extent(f_sub, beta), aspect="auto", cmap="Blues")
    fig.colorbar(image, ax=left, label="posterior probability per cell")
    left.set_xlabel("f_sub")
    left.set_ylabel("beta")
    right.fill_between(masses, masses * band[0], masses * band[4], color="tab:blue", alpha=0.3, label="95 %")
    right.fill_between(masses, masses * band[1], masses * band[3], color="tab:cyan", alpha=0.5, label="68 %")
    right.plot(masses, masses * band[2], color="k", label="median")
    right.plot(masses, masses * fiducial_shmf, color="red", linestyle=":", label="true")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("m200 (Msun)")
    right.set_ylabel("m² dn/dm / M200")
    right.legend(fontsize=7)
    return fig


def calibration_curves(centres, log_ratio, labels):
    """Calibrated ln r against the network's ln r_hat at a few grid points (diagonal: calibrated)."""
    fig = new_figure(5.0, 4.0)
    ax = fig.subplots()
    for k in range(len(labels)):
        ax.plot(centres[k], log_ratio[k], marker=".", label=labels[k])
    low = min(float(np.min(centres)), float(np.min(log_ratio)))
    high = max(float(np.max(centres)), float(np.max(log_ratio)))
    ax.plot([low, high], [low, high], color="grey", linestyle=":")
    ax.set_xlabel("network ln r_hat")
    ax.set_ylabel("calibrated ln r")
    ax.legend(fontsize=7)
    return fig


def coverage_bars(rows):
    """Empirical against nominal coverage: rows of (label, nominal, empirical)."""
    fig = new_figure(5.0, 3.5)
    ax = fig.subplots()
    x = np.arange(len(rows))
    ax.bar(x, [r[2] for r in rows], color="tab:blue", label="empirical")
    ax.scatter(x, [r[1] for r in rows], color="red", marker="_", s=400, label="nominal", zorder=3)
    ax.set_xticks(x, [r[0] for r in rows], rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction of ensembles covering the truth")
    ax.legend(fontsize=7)
    return fig


def sbc_histograms(pits: dict, bins: int = 10):
    """SBC: histograms of the truths' marginal posterior CDF values (one row per estimator, one
    column per parameter), with the uniform expectation and its 95 % binomial band."""
    names = list(pits)
    fig = new_figure(6.0, 1.9 * len(names) + 0.4)
    axes = np.atleast_2d(fig.subplots(len(names), 2, sharex=True))
    for row, name in enumerate(names):
        values = pits[name]
        expected = len(values) / bins
        band = 1.96 * np.sqrt(expected * (1 - 1 / bins))
        for col, label in enumerate(("f_sub", "beta")):
            ax = axes[row, col]
            ax.axhspan(expected - band, expected + band, color="0.85", zorder=0)
            ax.hist(values[:, col], bins=bins, range=(0, 1), color="tab:blue", edgecolor="white")
            ax.axhline(expected, color="k", lw=0.8, ls="--")
            ax.set_title(f"{name}: {label}", fontsize=8)
            ax.set_ylabel("lenses", fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("posterior CDF at the truth", fontsize=7)
    return fig


def posterior_animation(f_sub, beta, posteriors, counts, truth, frame_ms: int = 700) -> bytes:
    """An animated PNG (APNG, one frame per lens count; every current browser plays it) of the
    grid posterior as lenses accumulate, with the true point; the last frame stays longest."""
    from PIL import Image

    frames = []
    for probabilities, n in zip(posteriors, counts):
        fig = new_figure(4.2, 3.4)
        ax = fig.subplots()
        density = probabilities.reshape(len(beta), len(f_sub))
        ax.imshow(density, origin="lower", extent=_extent(f_sub, beta), aspect="auto", cmap="magma")
        ax.plot(*truth, marker="*", color="cyan", markersize=11, linestyle="none")
        ax.set_xlabel("f_sub")
        ax.set_ylabel("beta")
        ax.set_title(f"posterior after {n} lens{'es' if n > 1 else ''}", fontsize=9)
        frames.append(Image.open(io.BytesIO(render_png(fig, dpi=70))).convert("RGB"))
    out = io.BytesIO()
    durations = [frame_ms] * (len(frames) - 1) + [3 * frame_ms]
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return out.getvalue()
