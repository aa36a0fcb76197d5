"""The ``likelihood_ratio`` task: neural likelihood-ratio inference of the subhalo population.

Brehmer, Mishra-Sharma, Hermans, Louppe & Cranmer 2019 (arXiv:1909.02005): images simulated with
(f_sub, beta) drawn from a proposal, their joint likelihood ratio and score mined from the
population (eq. 18), an estimator trained on ALICES (eq. 22) or a baseline loss, histogram
calibration (sec. 3.3), and limits and posteriors on a 25 x 25 grid (sec. 3.4, 4)::

    simulate:train  simulate:val         simulate:test (reference sample)
            \\           /                       |
               train ------------------- calibrate
                    \\                       /
                     `-- infer (evaluate) --'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from lensbench.tasks.base import TASKS, Task, TaskStep


@dataclass(frozen=True)
class LikelihoodRatioSection:
    """``[likelihood_ratio]``: the estimator's loss, the calibration and the inference settings.

    Attributes
    ----------
    loss : str
        ``alices`` (Brehmer+19 eq. 22), ``carl``, ``rolr`` or ``rascal``.
    alpha : float
        Weight of the score term (ALICES, RASCAL): 2e-3 in the paper, 2e-4 in the authors' code.
    flipped_score : bool
        Whether the score term also covers the flipped pairs (x, theta'), whose x was not drawn
        at theta' (eq. 22 as printed). Off by default, as in the authors' code: there the joint
        score t(x, z|theta') of a population drawn elsewhere reaches ~1e6 at small f_sub and
        swamps the cross-entropy.
    hidden : int
        Width of the first of the two fully connected layers after the trunk.
    reference_nodes : int
        Gauss-Legendre nodes in beta of the reference density p_ref(z).
    grid_size : int
        Points per axis of the (f_sub, beta) grid (25).
    calibration : {"simulated", "reweighted", "normalized"}
        Histograms (sec. 3.3) with images simulated at every grid point (the paper), or with the
        reference sample reweighted by the joint ratio (no simulation; few effective images); or
        ``normalized`` (beyond the paper): ln r_hat times a fitted temperature, re-centred so that
        E_ref[r] = 1 at every point (the reference sample only; one free number, for samples far
        too small for 50-bin histograms at each point).
    calibration_per_point : int
        Images simulated at each grid point for the ``simulated`` calibration (our choice; the
        paper does not say).
    calibration_bins : int
        Histogram bins of the calibration (50, edges at quantiles).
    fiducial_f_sub, fiducial_beta : float
        The true point of the expected limits (0.05, -0.9).
    n_fiducial : int
        Lenses simulated at the fiducial point for the expected maps.
    n_lenses : tuple of int
        Lens counts of the expected limits (5, 20, 100).
    n_examples : int
        Lenses shown with their own maps (Fig. 2).
    prior_beta_mean, prior_beta_sigma : float
        Fig. 5 prior on beta (normal); f_sub is uniform.
    coverage_ensembles : int
        Ensembles with theta drawn from the prior for the coverage check.
    coverage_lenses : tuple of int
        Lenses per ensemble at which coverage is measured.
    sbi_baseline : bool
        Also train the ``sbi`` package's amortised NRE-A on the same images with the same trunk
        ((x, theta) pairs only, no joint ratio or score) and report its limits and coverage beside
        ALICES's, with simulation-based calibration (SBC) of both.
    sbi_epochs : int or None
        The NRE's maximum epochs, at least 2 (None: ``[training] epochs``, or 2 if fewer); its
        batch size and early-stopping patience are ``[training]``'s.
    sbi_learning_rate : float
        The NRE's Adam learning rate (``sbi``'s default 5e-4).
    sbi_max_images : int
        The NRE trains on at most this many of the training images (the first ones): ``sbi``
        holds its training set in memory (16 kB per 64 x 64 image; 1.6 GB at the default).
    sbc_lenses : int
        Single lenses, each at its own point of the Fig. 5 prior, for SBC.
    """

    loss: Literal["alices", "carl", "rolr", "rascal"] = "alices"
    alpha: float = field(default=2e-3, metadata={"min": 0.0})
    flipped_score: bool = False
    hidden: int = field(default=256, metadata={"min": 1})
    reference_nodes: int = field(default=400, metadata={"min": 16})
    grid_size: int = field(default=25, metadata={"min": 3})
    calibration: Literal["simulated", "reweighted", "normalized"] = "simulated"
    calibration_per_point: int = field(default=100, metadata={"min": 1})
    calibration_bins: int = field(default=50, metadata={"min": 2})
    fiducial_f_sub: float = 0.05
    fiducial_beta: float = -0.9
    n_fiducial: int = field(default=2000, metadata={"min": 1})
    n_lenses: tuple[int, ...] = (5, 20, 100)
    n_examples: int = field(default=4, metadata={"min": 0})
    prior_beta_mean: float = -0.9
    prior_beta_sigma: float = field(default=0.1, metadata={"min": 0.0})
    coverage_ensembles: int = field(default=100, metadata={"min": 1})
    coverage_lenses: tuple[int, ...] = (20, 100)
    sbi_baseline: bool = False
    sbi_epochs: int | None = field(default=None, metadata={"min": 2})
    sbi_learning_rate: float = field(default=5e-4, metadata={"min": 0.0})
    sbi_max_images: int = field(default=100_000, metadata={"min": 2})
    sbc_lenses: int = field(default=200, metadata={"min": 2})

    def __post_init__(self):
        if not self.n_lenses or min(self.n_lenses) < 1:
            raise ValueError(f"n_lenses must be lens counts >= 1, got {self.n_lenses}")
        if not self.coverage_lenses or min(self.coverage_lenses) < 1:
            raise ValueError(f"coverage_lenses must be lens counts >= 1, got {self.coverage_lenses}")


@dataclass(frozen=True)
class EstimatorOptions:
    """The part of ``[likelihood_ratio]`` that training reads: only these enter the training
    step's cache key, so changing the calibration or the inference settings does not retrain."""

    loss: str
    alpha: float
    hidden: int
    reference_nodes: int
    flipped_score: bool = False

    @classmethod
    def of(cls, section: LikelihoodRatioSection) -> "EstimatorOptions":
        """The training options of ``section``."""
        return cls(section.loss, section.alpha, section.hidden, section.reference_nodes, section.flipped_score)


def _section(spec) -> LikelihoodRatioSection:
    return spec.task_sections.get("likelihood_ratio", LikelihoodRatioSection())


def ratio_steps(spec) -> list[TaskStep]:
    """train -> calibrate -> infer for one branch; the infer step has the role ``evaluate`` (the
    role whose ``results.json`` the report shell and ``metrics.json`` read)."""
    section = _section(spec)
    training = dataclasses.replace(spec.training.seeded(spec.experiment.seed), device="auto")
    train = {"estimator": EstimatorOptions.of(section), "training": training, "model": spec.model,
             "simulation": spec.simulation}
    infer = {"likelihood_ratio": section, "simulation_kind": spec.simulation_kind, "simulation": spec.simulation,
             "survey": spec.survey, "seed": spec.experiment.seed}
    calibrate = infer  # it simulates its own calibration lenses
    steps = [
        TaskStep("train", "ratio_train", train, {"train": "simulate:train", "val": "simulate:val"}),
        TaskStep("calibrate", "ratio_calibrate", calibrate, {"model": "train", "reference": "simulate:test"}),
        TaskStep("evaluate", "ratio_infer", infer, {"model": "train", "calibration": "calibrate"}),
    ]
    if section.sbi_baseline:
        baseline = {**infer, "training": training, "model": spec.model}
        steps.append(TaskStep("baseline", "ratio_sbi", baseline,
                              {"train": "simulate:train", "model": "train", "calibration": "calibrate",
                               "evaluate": "evaluate"}))
    return steps


def ratio_sections(branches, context) -> dict:
    """:func:`lensbench.report.likelihood_ratio.ratio_sections`, imported when a report is written."""
    from lensbench.report.likelihood_ratio import ratio_sections as sections

    return sections(branches, context)


TASKS.register("likelihood_ratio")(Task(
    name="likelihood_ratio",
    steps=ratio_steps,
    report=ratio_sections,
    labels="parameters",
    sections={"likelihood_ratio": LikelihoodRatioSection},
    report_roles=("train", "calibrate", "evaluate", "baseline"),
    metric_roles=("baseline",),
    description="likelihood-ratio inference of (f_sub, beta) with mined joint ratios and scores (Brehmer+19)",
))
