"""Vattis+21 Figs 3-4: the lensing fields of one test population and the noisy data of one survey.

The population is re-drawn from the signal step's own generator (the seed convention of
:func:`lensbench.simulate.store.signal_rng`), so Fig 3 shows at full resolution the fields of
the first stored test signal. The figure functions take HEALPix maps (RING, components (l, b)
first) and return a matplotlib Figure drawn in Mollweide projection.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from lensbench.execution import ExecutionConfig
from lensbench.report.branch import BranchData
from lensbench.report.document import Figure, Paragraph
from lensbench.simulate.astrometric import (data_maps, degrade_nested, mollweide, ring_map, signal_field_nested,
                                          signal_map)
from lensbench.simulate.milky_way import sample_population
from lensbench.simulate.store import load_signal, signal_rng

#: Survey whose data Fig 4 shows, as in the paper.
FIG4_SCENARIO = "C"
#: Axis titles and units of each field.
FIELD_LABELS = {
    "deflection": ("deflection", "muas"),
    "velocity": ("velocity u", "muas/yr"),
    "acceleration": ("acceleration a", "muas/yr$^2$"),
}


def _first_with_signal(branches: dict[str, BranchData]) -> BranchData | None:
    """A branch whose test split has a signal folder (all share it), preferring scenario C."""
    with_signal = [b for b in branches.values() if b.outputs.get("signal:test") is not None]
    preferred = [b for b in with_signal if b.survey_scenario == FIG4_SCENARIO]
    return (preferred or with_signal or [None])[0]


def sky_map_blocks(branches: dict[str, BranchData]) -> list:
    """Figs 3 and 4 with their captions, or a paragraph saying why there are none."""
    branch = _first_with_signal(branches)
    if branch is None:
        return [Paragraph("No branch has a signal step: no sky maps to show.")]
    config = branch.simulation
    # eager: compiling the map engine pays off only beyond ~20 maps
    execution = ExecutionConfig(compile=False, block_nside=min(ExecutionConfig.block_nside, config.nside))
    signal, _ = load_signal(branch.outputs["signal:test"], 0)
    population = sample_population(config.population, signal_rng(branch.seed, "test", 0))
    nested, _ = signal_field_nested(config, population, execution)
    redrawn = degrade_nested(config, nested)
    mismatch = float(np.max(np.abs(redrawn - signal[0])) / np.max(np.abs(signal[0])))
    fields = {name: ring_map(nested, config.nside) if name == config.field else
              signal_map(dataclasses.replace(config, field=name), population, execution)
              for name in ("deflection", "velocity", "acceleration")}
    magnitude = np.hypot(*fields["velocity"])
    rng = np.random.default_rng([branch.seed, 4])
    survey_name = branch.survey_scenario or "of the first branch"
    with_signal = data_maps(config, branch.survey, signal[:1], True, rng)[0]
    noise_only = data_maps(config, branch.survey, signal[:1], False, rng)[0]
    return [
        Figure.from_matplotlib("astro-signal-maps", signal_figure(fields), (
            f"Fig 3: noise-free lensing of the first test population ({len(population['m200'])} subhalos, "
            f"1e7-1e10 Msun) at HEALPix nside {config.nside}, each subhalo cut at {config.truncation_deg:g} deg: "
            "deflection [muas], induced velocity u [muas/yr] and acceleration [muas/yr^2], components along "
            "Galactic longitude l and latitude b (Mollweide, l = 0 at the centre, increasing to the left). "
            f"|u| median {np.median(magnitude):.2e}, maximum {magnitude.max():.2e} muas/yr. The population is "
            "re-drawn from the signal step's generator; its velocity map averaged onto the data grid matches the "
            f"stored test signal to a relative {mismatch:.1e}.")),
        Figure.from_matplotlib("astro-data-maps", data_figure(with_signal, noise_only, survey_name), (
            f"Fig 4: simulated data of scenario {survey_name} (N_q = {branch.survey.n_quasars:.0e} quasars, "
            f"sigma_u = {branch.survey.sigma_u:g} muas/yr per quasar) at nside {config.data_nside}: the population "
            "of Fig 3 plus noise (top) and noise only (bottom), velocity components in muas/yr. The noise is "
            "drawn anew here (generator seeded by the experiment seed), not taken from the test set.")),
    ]


def _panel(figure: MplFigure, axes, healpix_map: np.ndarray, title: str, unit: str, width: int) -> None:
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


def signal_figure(maps: dict[str, np.ndarray], width: int = 600) -> MplFigure:
    """Fig 3: noise-free lensing fields of one population, one row per field, columns l and b.

    Parameters
    ----------
    maps : dict
        Field name ("deflection", "velocity", "acceleration") -> (2, npix) map from
        :func:`lensbench.simulate.astrometric.signal_map`.
    width : int
        Width of each Mollweide image [pixels].
    """
    figure = MplFigure(figsize=(9, 2.6 * len(maps)), constrained_layout=True)
    axes = figure.subplots(len(maps), 2, squeeze=False)
    for row, (name, healpix_maps) in enumerate(maps.items()):
        label, unit = FIELD_LABELS[name]
        for column, component in enumerate(("l", "b")):
            _panel(figure, axes[row, column], healpix_maps[column], f"{label}, {component} component", unit, width)
    return figure


def data_figure(with_signal: np.ndarray, noise_only: np.ndarray, survey_name: str, width: int = 600) -> MplFigure:
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
    figure = MplFigure(figsize=(9, 5.2), constrained_layout=True)
    axes = figure.subplots(2, 2)
    for row, (maps, kind) in enumerate(((with_signal, "signal + noise"), (noise_only, "noise only"))):
        for column, component in enumerate(("l", "b")):
            title = f"scenario {survey_name}, {kind}: $u_{component}$"
            _panel(figure, axes[row, column], maps[column], title, "muas/yr", width)
    return figure
