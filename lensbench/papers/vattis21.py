"""Vattis, Toomey & Koushiappas 2021 (arXiv:2008.11577): Figs 3-7 and a training check of a run.

:func:`sections` is the paper analysis registered as ``"vattis21"``. From the branches of an
astrometric classification run it draws

* Figs 3-4: noise-free lensing fields and noisy data of the first test population
  (:mod:`lensbench.papers.vattis21_sky`);
* Fig 6: ROC curves of every survey trained with the run's main architecture beside the two
  physics baselines of that survey (:mod:`lensbench.papers.vattis21_baselines`: the
  known-template oracle and the template-free local-energy detector), the paper's AUC beside
  ours, with a table of the per-pixel noise and the baselines of each survey;
* Fig 5: ROC curves of the networks trained on the same maps of one survey (architectures, and
  input representations such as the HEALPix faces), with that survey's baselines;
* what the network input keeps: projection, data pixels used, signal power kept, normalisation;
* Fig 7: integrated gradients of the scenario-D model beside the most-signalling subhalos, with
  an enrichment number (:mod:`lensbench.papers.vattis21_attribution`);
* a training check: whether each branch learned anything (losses against ln 2).
"""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np

from lensbench.models.saved import read_model_card
from lensbench.papers.vattis21_attribution import attribution_blocks
from lensbench.papers.vattis21_baselines import (
    EXPECTED_MEDIAN_CHI2,
    baseline_curves,
    branch_baselines,
    input_summary,
    roc_panels,
)
from lensbench.papers.vattis21_sky import sky_map_blocks
from lensbench.report.branch import BranchData
from lensbench.report.document import Figure, Paragraph, Section, Table
from lensbench.simulate.astrometric import SCENARIOS
from lensbench.simulate.astrometric_baselines import pixel_noise

#: Training loss of a classifier that learned nothing: cross-entropy of two balanced classes.
CHANCE_LOSS = math.log(2.0)


def sections(branches: dict[str, BranchData], paper: dict[str, dict[str, float]], device: str) -> list[Section]:
    """The Vattis+21 sections of a run's report.

    Parameters
    ----------
    branches : dict[str, BranchData]
        Every branch of the run by name; each needs the outputs ``train``, ``simulate:test`` and
        (for Figs 3-4 and 7) ``signal:test``, and the evaluate step's results.
    paper : dict[str, dict[str, float]]
        The paper's numbers: branch name -> metric name -> value (``auc`` is read).
    device : str
        "cpu" or "cuda": where the integrated gradients are computed.

    Returns
    -------
    list of Section
        "Sky maps (Figs 3-4)", "Surveys and architectures (Figs 5-6)", "Network input",
        "Attribution (Fig 7)" and "Training check".
    """
    main = main_architecture(branches)
    return [
        Section("Sky maps (Figs 3-4)", sky_map_blocks(branches)),
        Section("Surveys and architectures (Figs 5-6)", _roc_blocks(branches, paper)),
        Section("Network input", _input_blocks(branches)),
        Section("Attribution (Fig 7)", attribution_blocks(branches, main, device)),
        Section("Training check", _training_check_blocks(branches)),
    ]


def main_architecture(branches: dict[str, BranchData]) -> str:
    """The architecture most branches use (the first such one on a tie)."""
    return Counter(b.architecture for b in branches.values()).most_common(1)[0][0]


# ----------------------------------------------------------------------------------------------
# Figs 5-6


def _survey_label(branch: BranchData) -> str:
    """Scenario name, or its name marked as modified when the survey differs from Table I."""
    name = branch.survey_scenario
    if name in SCENARIOS and SCENARIOS[name] == branch.survey:
        return name
    return f"{name or 'custom'}*"


def _survey_text(branch: BranchData) -> str:
    return f"N_q={branch.survey.n_quasars:.0e}, σ_u={branch.survey.sigma_u:g}"


def _roc_entry(branch: BranchData) -> dict:
    return {**branch.results["curves"]["roc"], "auc": branch.results["metrics"].get("auc")}


def _pixel_noise(branch: BranchData) -> float:
    """Per-pixel, per-component noise sigma_u / sqrt(N_q / npix) of a survey [muas/yr]."""
    return pixel_noise(branch.survey.sigma_u, branch.survey.n_quasars, branch.simulation.data_nside)


def _network_label(branch: BranchData) -> str:
    return f"{branch.architecture}, {branch.simulation.projection}"


def _roc_blocks(branches: dict[str, BranchData], paper: dict[str, dict[str, float]]) -> list:
    with_roc = {n: b for n, b in branches.items() if "roc" in b.results.get("curves", {})}
    if not with_roc:
        return [Paragraph("No branch computed ROC curves (add \"roc\" to evaluation.metrics).")]

    def paper_auc(name: str):
        return paper.get(name, {}).get("auc")

    main = main_architecture(with_roc)
    surveys = {n: b for n, b in with_roc.items() if b.architecture == main}
    baselines = {n: branch_baselines(b) for n, b in with_roc.items()}
    blocks = []
    if surveys:
        titles = {n: f"{_survey_label(b)} ({_survey_text(b)})" for n, b in surveys.items()}
        panels = {titles[n]: {_network_label(b): _roc_entry(b), **(baseline_curves(baselines[n]) if baselines[n] else {})}
                  for n, b in surveys.items()}
        quoted = {titles[n]: paper_auc(n) for n in surveys if paper_auc(n) is not None}
        blocks.append(Figure.from_matplotlib("astro-roc-surveys", roc_panels(panels, quoted), (
            f"Fig 6: ROC curves of {main} on the test set of each survey (N_q quasars, velocity uncertainty "
            "σ_u per quasar in muas/yr), beside the two physics baselines on the same test signals: the "
            "known-template likelihood-ratio test (oracle: the true signal of each map is known; no classifier "
            "can do better) and the template-free local-energy detector (the squared velocity, averaged over each "
            "pixel and its neighbours, summed over the sky in units of its noise). Both baselines see fresh "
            "noise of the same survey. A '*' marks a survey changed from Table I.")))
        rows = []
        for n, b in surveys.items():
            base = baselines[n]
            rows.append((_survey_label(b), b.survey.n_quasars, b.survey.sigma_u, _pixel_noise(b),
                         float(np.median(base.chi2)) if base else None,
                         EXPECTED_MEDIAN_CHI2.get(_survey_label(b)),
                         base.oracle["auc"] if base else None, base.oracle_expected_auc if base else None,
                         base.energy["auc"] if base else None, b.results["metrics"].get("auc"), paper_auc(n)))
        blocks.append(Table(
            ("survey", "N_q", "σ_u (muas/yr)", "pixel noise (muas/yr)", "median χ²", "median χ², expected",
             "oracle AUC", "oracle AUC, expected", "local-energy AUC", f"{main} AUC", "paper AUC"), tuple(rows),
            f"AUC of {main} per survey beside the physics baselines. Pixel noise σ = σ_u / sqrt(N_q / 12 nside^2), "
            "the standard deviation of each velocity component of a data pixel; χ² = Σ |s|²/σ² is the squared "
            "signal-to-noise of a test map's known signal s (median over the positive test maps; 'expected' is an "
            "independent computation with the paper's population on the nside 32 data grid; a coarser signal grid "
            "than the paper's nside 128, as in the quick and smoke presets, averages less within each data pixel "
            "and gives larger values). The oracle's expected AUC is the "
            "mean of Φ(sqrt(χ²/2)) over the maps. The baselines use the test split's signals with noise drawn anew "
            f"({max((b.n_per_class for b in baselines.values() if b), default=0)} maps per class)."))
    for index, group in enumerate(_network_groups(with_roc)):
        first_name, first = next(iter(group.items()))
        labels = _network_labels(group)
        curves = {labels[n]: _roc_entry(b) for n, b in group.items()}
        if baselines[first_name]:
            curves.update(baseline_curves(baselines[first_name]))
        title = f"{_survey_label(first)} ({_survey_text(first)})"
        quoted = [paper_auc(n) for n in group if paper_auc(n) is not None]
        figure = roc_panels({title: curves}, {title: quoted[0]} if quoted else {})
        blocks.append(Figure.from_matplotlib(f"astro-roc-architectures-{index}", figure, (
            f"Fig 5: ROC curves of the networks trained on survey {_survey_label(first)} "
            f"({_survey_text(first)} muas/yr), on the same simulated maps (the same signals and noise, shown to each "
            "network through its own input representation), with the survey's two physics baselines; the paper's "
            "AUC for the survey (its ResNet-18) in the title where it gives one.")))
    return blocks


def _fraction(value: float | None) -> str | None:
    """A fraction close to 1 with enough digits to tell 0.99990 from 1."""
    return None if value is None else f"{value:.5f}"


def _input_blocks(branches: dict[str, BranchData]) -> list:
    """What each branch's network sees: representation, data pixels used, signal power kept, normalisation."""
    rows = []
    for name, b in branches.items():
        summary = input_summary(b)
        card = read_model_card(b.outputs["train"]) if b.outputs.get("train") is not None else {}
        rows.append((name, summary["projection"], "x".join(str(n) for n in summary["shape"]),
                     f"{summary['pixels_used']} of {summary['npix']}", _fraction(summary["power_median"]),
                     _fraction(summary["power_min"]),
                     card.get("normalize")))
    return [
        Table(("branch", "projection", "input (H x W)", "data pixels used", "signal power kept (median)",
               "signal power kept (min)", "normalisation"), tuple(rows), (
            "How each network sees a data map. 'nearest' samples a Cartesian image at pixel centres; "
            "'area_weighted' averages every data pixel onto an equal-area cylindrical image (rows equal steps in "
            "sin b); 'healpix_faces' feeds the 12 HEALPix base faces without projection. Signal power kept: "
            "|Πs|²/|s|² over the test signals s, Π the projector onto what the input retains (the squared "
            "signal-to-noise the best detector working on the input reaches, relative to the sphere's, for white "
            "pixel noise). Normalisation: 'dataset' subtracts each channel's mean and divides by its standard "
            "deviation over the training split (constants saved in model.json), so a sky with more variance "
            "than another still shows it; 'standardize' rescales each map on its own, which removes exactly "
            "the excess variance that subhalos add.")),
    ]


def _training_config(branch: BranchData) -> dict:
    """The training settings recorded in the branch's model card (empty without a train output)."""
    folder = branch.outputs.get("train")
    return read_model_card(folder).get("training", {}) if folder is not None else {}


def _network_groups(branches: dict[str, BranchData]) -> list[dict[str, BranchData]]:
    """Branches that saw the same maps with the same training settings, for groups of several networks.

    The test signal folder and the survey stand for the maps (the noise is drawn the same way
    whatever the input representation; the signal folder's cache key holds the simulation, seed
    and data sizes); the training settings come from each model card less the input
    normalisation, which belongs to the network's input. A group compares architectures or input
    representations.
    """
    groups: dict = {}
    for name, b in branches.items():
        training = {k: v for k, v in _training_config(b).items() if k != "normalize"}
        key = (str(b.outputs.get("signal:test") or b.outputs.get("simulate:test")), repr(b.survey),
               json.dumps(training, sort_keys=True))
        groups.setdefault(key, {})[name] = b
    return [g for g in groups.values() if len({_network_label(b) for b in g.values()}) > 1]


def _network_labels(group: dict[str, BranchData]) -> dict[str, str]:
    """Branch name -> curve label: the architecture (and the projection where they differ), with
    the branch name where one repeats."""
    label = _network_label if len({b.simulation.projection for b in group.values()}) > 1 else (lambda b: b.architecture)
    counts = Counter(label(b) for b in group.values())
    return {n: label(b) if counts[label(b)] == 1 else f"{label(b)} ({n})" for n, b in group.items()}


# ----------------------------------------------------------------------------------------------
# Training check


def _training_check_blocks(branches: dict[str, BranchData]) -> list:
    rows, flat = [], []
    for name, b in branches.items():
        loss = b.results.get("curves", {}).get("loss", {})
        train, val = loss.get("train_loss") or [], loss.get("val_loss") or []
        lowest = min(train) if train else None
        lr = _training_config(b).get("lr")
        rows.append((name, lr, lowest, min(val) if val else None, b.results.get("metrics", {}).get("auc")))
        if lowest is not None and lowest > CHANCE_LOSS - 0.01:
            flat.append(f"{name} (initial learning rate {lr:g})")
    verdict = ("Every branch's training loss fell below chance." if not flat else
               "Did not learn (training loss never fell 0.01 below ln 2): " + "; ".join(flat) + ". At scenario A "
               "there may be nothing to learn; elsewhere suspect the learning rate (the paper prints 1e-1 with Adam).")
    return [Table(("branch", "initial lr", "lowest train loss", "lowest val loss", "AUC"), tuple(rows),
                  f"Cross-entropy losses against chance, ln 2 = {CHANCE_LOSS:.4f} (two balanced classes)."),
            Paragraph(verdict)]
