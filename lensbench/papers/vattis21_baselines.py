"""Vattis+21: the networks beside what the data allow, and what their input keeps of the data.

For each survey of a run this computes the physics baselines of
:mod:`lensbench.simulate.astrometric_baselines` on the test split's own signal maps (the signal
step's ``signal:test`` folder): the known-template (oracle) likelihood-ratio test, an upper bound
for any classifier, and the template-free local-energy detector. Their data maps are the test
signals (positive class) and empty skies (negative class), each observed with noise drawn anew
(generator seeded by the experiment seed): the same signals the networks were tested on, other
noise realisations of the same survey. It also measures, on the same test signals, the fraction
of the signal power each branch's network input keeps (:mod:`lensbench.simulate.sky_projection`).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from lensbench.metrics import roc
from lensbench.report.branch import BranchData
from lensbench.simulate.astrometric import data_maps
from lensbench.simulate.astrometric_baselines import (
    local_energy_statistic,
    oracle_auc,
    oracle_chi2,
    oracle_statistic,
    pixel_noise,
)
from lensbench.simulate.sky_projection import coverage, input_shape, kept_power_fraction
from lensbench.simulate.store import load_signal

#: Second word of the generator seed of the baselines' noise: [experiment seed, this].
NOISE_STREAM = 13
#: Maps per chunk of the baseline computation (bounds memory at paper scale).
CHUNK = 256
#: Curve labels of the two baselines.
ORACLE_LABEL = "known-template χ² (oracle)"
ENERGY_LABEL = "local energy (template-free)"
#: Median known-template chi^2 per map from an independent computation (shared/NOTES.md: nside 32,
#: the paper's population), for comparison with ours.
EXPECTED_MEDIAN_CHI2 = {"A": 1.0, "B": 103.0, "C": 10.3, "D": 1027.0, "E": 31.0}


@dataclasses.dataclass(frozen=True)
class Baselines:
    """The physics baselines of one survey on one test split.

    Attributes
    ----------
    oracle, energy : dict
        ROC (``fpr``, ``tpr``, ``thresholds``, ``auc``) of the known-template test and of the
        local-energy detector.
    chi2 : np.ndarray
        (n,) known-template chi^2 of each positive test map.
    oracle_expected_auc : float
        The oracle's expected AUC from the chi^2 alone (:func:`oracle_auc`).
    n_per_class : int
        Maps per class.
    sigma : float
        Pixel noise [muas/yr].
    """

    oracle: dict
    energy: dict
    chi2: np.ndarray
    oracle_expected_auc: float
    n_per_class: int
    sigma: float


@functools.lru_cache(maxsize=2)  # the baselines and the kept power read the same folder
def load_test_signals(folder: Path) -> np.ndarray:
    """Every signal map of a signal step's folder, shard after shard: (n, 2, npix) [muas/yr], RING.
    The array is shared between callers: read it, never write to it."""
    shards = sorted(Path(folder).glob("signal_[0-9]*.npy"))
    signals = np.concatenate([load_signal(folder, index)[0] for index in range(len(shards))])
    signals.flags.writeable = False
    return signals


def branch_baselines(branch: BranchData) -> Baselines | None:
    """The baselines of a branch's survey on its test signals (None without a signal folder).

    Branches with the same test signals, survey and seed share one computation.
    """
    folder = branch.outputs.get("signal:test")
    if folder is None:
        return None
    return _baselines(str(folder), branch.simulation, branch.survey, branch.seed)


@functools.lru_cache(maxsize=16)
def _baselines(folder: str, config, survey, seed: int) -> Baselines:
    signal = load_test_signals(Path(folder))
    sigma = pixel_noise(survey.sigma_u, survey.n_quasars, config.data_nside)
    rng = np.random.default_rng([seed, NOISE_STREAM])
    others = np.roll(signal, 1, axis=0)  # a noise-only map is tested for another map's template
    scores = {"oracle": ([], []), "energy": ([], [])}
    for lo in range(0, len(signal), CHUNK):
        part = signal[lo:lo + CHUNK]
        positive = data_maps(config, survey, part, True, rng)
        negative = data_maps(config, survey, part, False, rng)
        scores["oracle"][0].append(oracle_statistic(negative, others[lo:lo + CHUNK], sigma))
        scores["oracle"][1].append(oracle_statistic(positive, part, sigma))
        scores["energy"][0].append(local_energy_statistic(negative, sigma))
        scores["energy"][1].append(local_energy_statistic(positive, sigma))
    labels = np.repeat([0, 1], len(signal))
    curves = {name: roc(labels, np.concatenate([np.concatenate(neg), np.concatenate(pos)]))
              for name, (neg, pos) in scores.items()}
    chi2 = oracle_chi2(signal, sigma)
    return Baselines(curves["oracle"], curves["energy"], chi2, oracle_auc(chi2), len(signal), sigma)


@functools.lru_cache(maxsize=16)
def _kept_power(folder: str, projection: str, height: int, width: int) -> np.ndarray:
    """Fraction of each test signal's power the input keeps (:func:`kept_power_fraction`)."""
    return kept_power_fraction(load_test_signals(Path(folder)), projection, height, width)


def input_summary(branch: BranchData) -> dict:
    """What a branch's network input keeps: projection, shape, data pixels used and signal power.

    Returns
    -------
    dict
        ``projection``, ``shape`` (H, W), ``pixels_used`` and ``npix`` (data pixels), and over
        the test signals ``power_median`` and ``power_min`` (fractions; None without signals).
    """
    config = branch.simulation
    nside = config.data_nside
    used = coverage(config.projection, nside, config.image_height, config.image_width)
    folder = branch.outputs.get("signal:test")
    kept = (_kept_power(str(folder), config.projection, config.image_height, config.image_width)
            if folder is not None else None)
    return {
        "projection": config.projection,
        "shape": input_shape(config.projection, nside, config.image_height, config.image_width),
        "pixels_used": int(used.sum()),
        "npix": int(used.size),
        "power_median": float(np.nanmedian(kept)) if kept is not None else None,
        "power_min": float(np.nanmin(kept)) if kept is not None else None,
    }


def baseline_curves(baselines: Baselines) -> dict[str, dict]:
    """The two baselines as ROC entries (label -> {"fpr", "tpr", "auc"}) for a ROC figure."""
    return {ORACLE_LABEL: baselines.oracle, ENERGY_LABEL: baselines.energy}


def roc_panels(panels: dict[str, dict[str, dict]], paper_auc: dict[str, float]) -> MplFigure:
    """One ROC panel per survey: its networks (solid) and the two baselines (dashed, dotted).

    Parameters
    ----------
    panels : dict
        Panel title -> curve label -> {"fpr", "tpr", "auc"}.
    paper_auc : dict
        Panel title -> the paper's AUC for that survey (shown in the title).
    """
    columns = min(3, len(panels))
    rows = -(-len(panels) // columns)
    figure = MplFigure(figsize=(4.0 * columns, 3.9 * rows), constrained_layout=True)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    styles = {ORACLE_LABEL: ("0.2", "--"), ENERGY_LABEL: ("tab:red", ":")}
    for ax, (title, curves) in zip(axes, panels.items()):
        ax.plot([0, 1], [0, 1], color="0.7", linewidth=0.8)
        for index, (label, curve) in enumerate(curves.items()):
            colour, style = styles.get(label, (f"C{index}", "-"))
            auc = curve.get("auc")
            ax.plot(curve["fpr"], curve["tpr"], color=colour, linestyle=style,
                    label=f"{label}: {auc:.3f}" if auc is not None else label)
        quoted = paper_auc.get(title)
        ax.set_title(title + (f" (paper AUC {quoted:g})" if quoted is not None else ""), fontsize=9)
        ax.set_xlim(-0.02, 1.0)  # margins keep a perfect curve (on the axes) visible
        ax.set_ylim(0.0, 1.02)
        ax.set_xlabel("false positive rate", fontsize=8)
        ax.set_ylabel("true positive rate", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(loc="lower right", fontsize=6.5, title="AUC", title_fontsize=7)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    return figure
