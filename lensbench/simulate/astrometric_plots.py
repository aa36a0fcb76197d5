"""Mollweide figures of astrometric lensing maps, as Vattis+21 Figs 3 and 4 show them.

Functions take HEALPix maps (RING, components (l, b) first) and return a matplotlib Figure;
saving and placing figures is the report's job.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from lensbench.simulate.astrometric import mollweide

#: Axis titles and units of each field.
FIELD_LABELS = {
    "deflection": ("deflection", "muas"),
    "velocity": ("velocity u", "muas/yr"),
    "acceleration": ("acceleration a", "muas/yr$^2$"),
}


def _panel(figure: Figure, axes, healpix_map: np.ndarray, title: str, unit: str, width: int) -> None:
    """One Mollweide panel with a symmetric colour scale set by the 99.5th percentile of |value|."""
    image = mollweide(healpix_map, width=width)
    limit = float(np.nanpercentile(np.abs(image), 99.5)) or 1.0
    shown = axes.imshow(image, origin="lower", cmap="RdBu_r", vmin=-limit, vmax=limit)
    axes.set_title(title, fontsize=9)
    axes.set_axis_off()
    bar = figure.colorbar(shown, ax=axes, orientation="horizontal", fraction=0.05, pad=0.02, label=unit)
    bar.ax.xaxis.set_major_locator(MaxNLocator(nbins=3, symmetric=True))  # tick labels must not overlap
    bar.formatter = ScalarFormatter(useMathText=True)
    bar.formatter.set_powerlimits((-2, 3))
    bar.update_ticks()


def signal_figure(maps: dict[str, np.ndarray], width: int = 600) -> Figure:
    """Fig 3: noise-free lensing fields of one population, one row per field, columns l and b.

    Parameters
    ----------
    maps : dict
        Field name ("deflection", "velocity", "acceleration") -> (2, npix) map from
        :func:`lensbench.simulate.astrometric.signal_map`.
    width : int
        Width of each Mollweide image [pixels].
    """
    figure = Figure(figsize=(9, 2.6 * len(maps)), constrained_layout=True)
    axes = figure.subplots(len(maps), 2, squeeze=False)
    for row, (name, healpix_maps) in enumerate(maps.items()):
        label, unit = FIELD_LABELS[name]
        for column, component in enumerate(("l", "b")):
            _panel(figure, axes[row, column], healpix_maps[column], f"{label}, {component} component", unit, width)
    return figure


def data_figure(with_signal: np.ndarray, noise_only: np.ndarray, survey_name: str, width: int = 600) -> Figure:
    """Fig 4: simulated velocity data of one survey with the lensing signal (top) and without (bottom).

    Parameters
    ----------
    with_signal, noise_only : np.ndarray
        (2, npix) data maps from :func:`lensbench.simulate.astrometric.data_maps` [muas/yr].
    survey_name : str
        Scenario name for the titles (e.g. "C").
    width : int
        Width of each Mollweide image [pixels].
    """
    figure = Figure(figsize=(9, 5.2), constrained_layout=True)
    axes = figure.subplots(2, 2)
    for row, (maps, kind) in enumerate(((with_signal, "signal + noise"), (noise_only, "noise only"))):
        for column, component in enumerate(("l", "b")):
            title = f"scenario {survey_name}, {kind}: $u_{component}$"
            _panel(figure, axes[row, column], maps[column], title, "muas/yr", width)
    return figure
