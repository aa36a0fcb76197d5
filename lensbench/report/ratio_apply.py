"""The figure of ``lensbench apply`` with a likelihood-ratio model: the combined -2 Delta ln r map
over (f_sub, beta) with its 68 % and 95 % CL contours (2 dof; Brehmer+19 Fig. 3 style).

Plain arrays in (:class:`lensbench.scoring.ratio.RatioApplyResult`'s), a PNG out, written
atomically beside ``apply.json``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lensbench.io.atomic import write_atomic
from lensbench.report.document import render_png
from lensbench.report.figures import new_figure

FIGURE_NAME = "combined_map.png"
DPI = 110
COLOUR_LIMIT_Q = 30.0
"""Colours saturate at q = 30 so the contours' neighbourhood keeps its contrast."""


def combined_map_figure(f_sub: np.ndarray, beta: np.ndarray, q_map: np.ndarray, mle: tuple[float, float],
                        thresholds: dict[str, float], beta_slice: float, title: str):
    """The combined map q = -2 Delta ln r (B, F) with a contour per level.

    Parameters
    ----------
    f_sub, beta : numpy.ndarray
        Grid axes (F,) and (B,) (f_sub dimensionless, beta the SHMF slope).
    q_map : numpy.ndarray
        (B, F) combined test statistic, 0 at the MLE.
    mle : tuple of float
        (f_sub, beta) of the MLE.
    thresholds : dict
        Level label (``"0.95"``) -> q threshold (chi^2, 2 dof).
    beta_slice : float
        beta of the f_sub interval (drawn as a dotted line).
    title : str
        Figure title (images used, calibration).
    """
    fig = new_figure(6.4, 5.0)
    ax = fig.subplots()
    half_f, half_b = (f_sub[1] - f_sub[0]) / 2, (beta[1] - beta[0]) / 2  # cells centred on the grid points
    image = ax.imshow(np.minimum(q_map, COLOUR_LIMIT_Q), origin="lower", aspect="auto", cmap="viridis_r",
                      extent=(f_sub[0] - half_f, f_sub[-1] + half_f, beta[0] - half_b, beta[-1] + half_b),
                      vmin=0.0, vmax=COLOUR_LIMIT_Q)
    fig.colorbar(image, ax=ax, label=f"combined -2 Δln r (capped at {COLOUR_LIMIT_Q:g})")
    for (label, cut), style in zip(sorted(thresholds.items()), ("--", "-")):
        ax.contour(f_sub, beta, q_map, levels=[cut], colors="white", linestyles=style)
        ax.plot([], [], color="black", linestyle=style, label=f"{float(label):.0%} CL (q = {cut:.2f})")
    ax.axhline(beta_slice, color="black", linestyle=":", linewidth=1.0, label=f"beta = {beta_slice:g}")
    ax.plot(*mle, marker="*", color="black", markeredgecolor="white", markersize=14, linestyle="none", label="MLE")
    ax.set_xlabel("f_sub")
    ax.set_ylabel("beta")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4, frameon=False)
    return fig


def write_ratio_figure(result) -> Path:
    """Draw :func:`combined_map_figure` of a :class:`lensbench.scoring.ratio.RatioApplyResult`
    into its ``out_dir`` (:data:`FIGURE_NAME`) and return the path."""
    summary = result.summary
    calibration = "calibrated" if result.calibrated else "uncalibrated"
    title = f"{summary['images']['used']} lens image(s), {calibration}"
    thresholds = {label: region["threshold"] for label, region in summary["regions"].items()}
    fig = combined_map_figure(result.grid.f_sub, result.grid.beta, result.q_map,
                              (summary["mle"]["f_sub"], summary["mle"]["beta"]), thresholds,
                              summary["f_sub_interval"]["beta"], title)
    path = Path(result.out_dir) / FIGURE_NAME
    write_atomic(path, render_png(fig, DPI))
    return path
