"""Vattis, Toomey & Koushiappas 2021 (arXiv:2008.11577): Figs 3-7 and a training check of a run.

:func:`sections` is the paper analysis registered as ``"vattis21"``. From the branches of an
astrometric classification run it draws

* Figs 3-4: noise-free lensing fields and noisy data of the first test population
  (:mod:`lensbench.papers.vattis21_sky`);
* Fig 6: ROC curves of every survey trained with the run's main architecture, the paper's AUC
  beside ours, with a table of the per-pixel noise of each survey;
* Fig 5: ROC curves of the architectures trained on one survey;
* Fig 7: integrated gradients of the scenario-D model beside the most-signalling subhalos, with
  an enrichment number (:mod:`lensbench.papers.vattis21_attribution`);
* a training check: whether each branch learned anything (losses against ln 2).
"""

from __future__ import annotations

import json
import math
from collections import Counter

import healpy as hp

from lensbench.models.saved import read_model_card
from lensbench.papers.vattis21_attribution import attribution_blocks
from lensbench.papers.vattis21_sky import sky_map_blocks
from lensbench.report import figures as F
from lensbench.report.branch import BranchData
from lensbench.report.document import Figure, Paragraph, Section, Table
from lensbench.simulate.astrometric import SCENARIOS

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
        "Sky maps (Figs 3-4)", "Surveys and architectures (Figs 5-6)", "Attribution (Fig 7)"
        and "Training check".
    """
    main = main_architecture(branches)
    return [
        Section("Sky maps (Figs 3-4)", sky_map_blocks(branches)),
        Section("Surveys and architectures (Figs 5-6)", _roc_blocks(branches, paper)),
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
    npix = hp.nside2npix(branch.simulation.data_nside)
    return branch.survey.sigma_u / math.sqrt(branch.survey.n_quasars / npix)


def _roc_blocks(branches: dict[str, BranchData], paper: dict[str, dict[str, float]]) -> list:
    with_roc = {n: b for n, b in branches.items() if "roc" in b.results.get("curves", {})}
    if not with_roc:
        return [Paragraph("No branch computed ROC curves (add \"roc\" to evaluation.metrics).")]

    def paper_auc(name: str):
        return paper.get(name, {}).get("auc")

    main = main_architecture(with_roc)
    surveys = {n: b for n, b in with_roc.items() if b.architecture == main}
    blocks = []
    if len(surveys) > 1:
        labels = {n: f"{_survey_label(b)} ({_survey_text(b)})" for n, b in surveys.items()}
        curves = {labels[n]: _roc_entry(b) for n, b in surveys.items()}
        quoted = {labels[n]: paper_auc(n) for n in surveys if paper_auc(n) is not None}
        blocks.append(Figure.from_matplotlib("astro-roc-surveys", F.roc_curves(curves, quoted or None), (
            f"Fig 6: ROC curves of {main} on the test set of each survey (N_q quasars, velocity uncertainty "
            "σ_u per quasar in muas/yr), with the paper's AUC in brackets where it gives one. "
            "A '*' marks a survey changed from Table I.")))
        rows = tuple((_survey_label(b), b.survey.n_quasars, b.survey.sigma_u, _pixel_noise(b),
                      b.results["metrics"].get("auc"), paper_auc(n)) for n, b in surveys.items())
        blocks.append(Table(("survey", "N_q", "σ_u (muas/yr)", "pixel noise (muas/yr)", "AUC", "paper AUC"), rows,
                            f"AUC of {main} per survey; pixel noise is σ_u / sqrt(N_q / 12 nside^2), the "
                            "standard deviation of each velocity component of a data pixel."))
    for index, group in enumerate(_architecture_groups(with_roc)):
        first = next(iter(group.values()))
        labels = _architecture_labels(group)
        curves = {labels[n]: _roc_entry(b) for n, b in group.items()}
        quoted = {labels[n]: paper_auc(n) for n in group if paper_auc(n) is not None}
        blocks.append(Figure.from_matplotlib(f"astro-roc-architectures-{index}", F.roc_curves(curves, quoted or None), (
            f"Fig 5: ROC curves of the architectures trained on survey {_survey_label(first)} "
            f"({_survey_text(first)} muas/yr), same training and test data for each.")))
    return blocks


def _training_config(branch: BranchData) -> dict:
    """The training settings recorded in the branch's model card (empty without a train output)."""
    folder = branch.outputs.get("train")
    return read_model_card(folder).get("training", {}) if folder is not None else {}


def _architecture_groups(branches: dict[str, BranchData]) -> list[dict[str, BranchData]]:
    """Branches with the same test data and training settings, for groups of several architectures.

    The test data folder stands for the simulation, survey, seed and data sizes (its cache key
    holds them all); the training settings come from each model card.
    """
    groups: dict = {}
    for name, b in branches.items():
        key = (str(b.outputs.get("simulate:test")), json.dumps(_training_config(b), sort_keys=True))
        groups.setdefault(key, {})[name] = b
    return [g for g in groups.values() if len({b.architecture for b in g.values()}) > 1]


def _architecture_labels(group: dict[str, BranchData]) -> dict[str, str]:
    """Branch name -> curve label: the architecture, with the branch name where one repeats."""
    counts = Counter(b.architecture for b in group.values())
    return {n: b.architecture if counts[b.architecture] == 1 else f"{b.architecture} ({n})" for n, b in group.items()}


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
