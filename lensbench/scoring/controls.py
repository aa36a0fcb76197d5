"""What a real-galaxy "halo" fraction can mean: controls run beside an application.

Ko's single-galaxy halo (NFW, r_s = 10-100 arcsec, Ko 2024 Table I) is far larger than the 2
arcsec stamp: over the stamp it is a nearly uniform convergence, i.e. a magnification that makes
a galaxy ~7 % larger, with little shear. One image cannot tell that from the galaxy's own size,
so a classifier trained on it scores apparent size, and the fraction of real galaxies it calls
"halo" compares the real size distribution with the simulated size prior. Three controls show it:

* the **size-matched control** (:func:`run_size_matched_control`): simulated galaxies *without*
  a halo, from the model's own training simulation, matched to the scored real stamps in
  half-light radius and flux (:mod:`lensbench.scoring.measure`), scored by the same model. A
  classifier that saw halos would call few of them "halo"; one that sees size calls about as
  many as it calls real galaxies;
* the **zoom curve** (:class:`ZoomCurve`): the real fraction after magnifying every stamp by
  factors of 0.9-1.1 (:class:`~lensbench.io.preprocess.Preprocessing` ``zoom``);
* the **score-size correlation** (:func:`score_size_correlation`): Spearman's rank correlation
  of score and half-light radius over the scored real stamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from lensbench.execution import ExecutionConfig
from lensbench.scoring.measure import half_light_radius_and_flux
from lensbench.simulate import galaxy
from lensbench.simulate.priors import Prior
from lensbench.simulate.strong import StrongLensingSurvey
from lensbench.training import predict

ZOOMS = (0.9, 0.95, 1.0, 1.05, 1.1)
BOOTSTRAP_RESAMPLES = 1000
CONFIDENCE = 0.95
"""Confidence level of every interval of an application (bootstrap and Wilson)."""
RADIUS_EDGES_ARCSEC = np.geomspace(0.03, 1.5, 26)  # bins of the radius histograms (arcsec)


@dataclass(frozen=True)
class ControlConfig:
    """The simulation the size-matched control draws from, and how it matches.

    Parameters
    ----------
    simulation : lensbench.simulate.galaxy.GalaxyConfig
        The model's training simulation (its priors; the halo is not used: every control galaxy
        is of class ``no_halo``).
    survey : lensbench.simulate.strong.StrongLensingSurvey
        Its survey (pixels, pixel scale in arcsec, PSF, noise).
    pool_size : int
        Simulated no-halo galaxies to match from.
    neighbours : int
        Simulated galaxies matched to each real stamp (nearest in log radius and log flux).
    seed : int
        Seed of the pool's generator (and of the bootstrap).
    """

    simulation: galaxy.GalaxyConfig
    survey: StrongLensingSurvey
    pool_size: int = 2000
    neighbours: int = 10
    seed: int = 0


def control_from_card(card: dict) -> tuple[ControlConfig | None, str]:
    """The control of a model card's training simulation, or None and the reason there is none.

    The card must come from a ``galaxy``-kind model whose train step recorded ``simulation`` and
    ``survey`` (``lensbench.steps.train``); only the galaxy priors and the survey are read.
    """
    if card.get("simulation_kind") != "galaxy":
        return None, (f"the model was trained on simulation kind "
                      f"'{card.get('simulation_kind')}'; the size-matched control simulates "
                      f"single galaxies (kind 'galaxy')")
    if not isinstance(card.get("simulation"), dict) or not isinstance(card.get("survey"), dict):
        return None, ("the model card does not record its training simulation and survey "
                      "(a model trained before they were recorded): retrain it, or run the "
                      "application from its spec with `lensbench run`")
    priors = {name: Prior.from_spec(value["prior"])
              for name, value in card["simulation"]["priors"].items()}
    simulation = galaxy.GalaxyConfig(backend=card["simulation"]["backend"], priors=priors)
    return ControlConfig(simulation, StrongLensingSurvey(**card["survey"])), ""


def score_images(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int,
                 device: str) -> np.ndarray:
    """(N, classes) softmax probabilities of network inputs (N, 1, H, W)."""
    return predict(model, inputs, batch_size=batch_size, device=device, task="classify")


@dataclass
class ZoomCurve:
    """Counts of stamps predicted positive at each zoom factor, accumulated batch by batch."""

    zooms: tuple[float, ...] = ZOOMS

    def __post_init__(self):
        self.positive = np.zeros(len(self.zooms), dtype=np.int64)
        self.scored = np.zeros(len(self.zooms), dtype=np.int64)

    def add(self, index: int, predicted_positive: np.ndarray) -> None:
        """Add one batch's positive flags (bool, one per scored stamp) at zoom ``zooms[index]``."""
        self.positive[index] += int(np.count_nonzero(predicted_positive))
        self.scored[index] += int(predicted_positive.size)

    def to_dict(self) -> dict:
        """Zoom factors, positives, scored and fractions (None where nothing was scored)."""
        fractions = [int(k) / int(n) if n else None for k, n in zip(self.positive, self.scored)]
        return {"zooms": list(self.zooms), "positive": self.positive.tolist(),
                "scored": self.scored.tolist(), "fraction": fractions}


def score_size_correlation(scores: np.ndarray, radii: np.ndarray) -> dict:
    """Spearman's rank correlation of score and half-light radius over stamps where both are
    finite: ``{"rho", "p_value", "n"}`` (rho and p None for fewer than 3 stamps or
    constant scores or radii)."""
    finite = np.isfinite(scores) & np.isfinite(radii)
    n = int(finite.sum())
    if n < 3 or np.ptp(scores[finite]) == 0 or np.ptp(radii[finite]) == 0:
        return {"rho": None, "p_value": None, "n": n}  # too few, or constant: no rank correlation
    result = spearmanr(scores[finite], radii[finite])
    return {"rho": float(result.statistic), "p_value": float(result.pvalue), "n": n}


def _log_features(radii: np.ndarray, fluxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, 2) log radius and log flux of the usable entries, and their positions."""
    usable = np.flatnonzero(np.isfinite(radii) & (radii > 0) & np.isfinite(fluxes) & (fluxes > 0))
    return np.column_stack([np.log(radii[usable]), np.log(fluxes[usable])]), usable


def _counts(radii_arcsec: np.ndarray) -> list[int]:
    """Histogram of finite radii (arcsec) in :data:`RADIUS_EDGES_ARCSEC`."""
    return np.histogram(radii_arcsec[np.isfinite(radii_arcsec)], RADIUS_EDGES_ARCSEC)[0].tolist()


def _bootstrap_interval(per_stamp: np.ndarray, seed: int) -> list[float]:
    """95 % percentile interval of the mean of ``per_stamp`` over resampled real stamps."""
    rng = np.random.default_rng(seed)
    means = per_stamp[rng.integers(0, per_stamp.size, (BOOTSTRAP_RESAMPLES, per_stamp.size))]
    low, high = np.quantile(means.mean(axis=1), [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return [float(low), float(high)]


def run_size_matched_control(control: ControlConfig, model: torch.nn.Module, card: dict,
                             radii: np.ndarray, fluxes: np.ndarray, network_inputs,
                             batch_size: int = 256, device: str = "cpu") -> dict:
    """Score simulated no-halo galaxies matched to real stamps in half-light radius and flux.

    Parameters
    ----------
    control : ControlConfig
        The training simulation and the matching settings.
    model, card
        The classifier and its model card (classes; the last class is the positive one).
    radii, fluxes : numpy.ndarray, shape (M,)
        Half-light radius (network pixels) and flux (counts/s) of the scored real stamps, as
        measured on what the network got (:func:`~lensbench.scoring.measure.half_light_radius_and_flux`).
    network_inputs : callable
        (N, 1, H, W) float32 array -> network input tensor (the model's training normalisation).

    Returns
    -------
    dict
        ``pool`` (size and the fraction of the unmatched pool called positive: the classifier's
        false-positive rate on its own no-halo prior), ``matched_stamps`` (real stamps matched),
        ``neighbours``, ``fraction`` (mean over real stamps of the positive share of their
        neighbours) with its bootstrap ``interval`` over real stamps, the median real/matched
        ratios of radius and flux, and ``radius_histogram``: counts of the real stamps', the
        pool's and the matched galaxies' half-light radii (arcsec at the survey's pixel scale)
        in the bins ``edges``.
    """
    if tuple(card["input_size"]) != (control.survey.npix, control.survey.npix):
        return {"skipped": f"the simulation's {control.survey.npix} px images differ from the "
                           f"model's input {card['input_size']}"}
    rng = np.random.default_rng(control.seed)
    images, _ = galaxy.simulate_batch(control.simulation, control.survey, "no_halo",
                                      control.pool_size, rng, execution=ExecutionConfig())
    pool_radii, pool_fluxes = half_light_radius_and_flux(images[:, 0])
    probabilities = score_images(model, network_inputs(images), batch_size, device)
    positive = probabilities.argmax(axis=1) == len(card["classes"]) - 1
    pool_features, pool_usable = _log_features(pool_radii, pool_fluxes)
    real_features, real_usable = _log_features(np.asarray(radii), np.asarray(fluxes))
    arcsec = control.survey.pixel_scale
    histogram = {"edges": RADIUS_EDGES_ARCSEC.tolist(), "real": _counts(np.asarray(radii) * arcsec),
                 "pool": _counts(pool_radii * arcsec)}
    result = {"pool": {"size": control.pool_size, "fraction": float(positive.mean())},
              "neighbours": control.neighbours, "matched_stamps": int(real_usable.size),
              "pixel_scale": arcsec, "radius_histogram": histogram}
    if real_usable.size == 0 or pool_usable.size < control.neighbours:
        return {**result, "fraction": None, "interval": None}
    scale = pool_features.std(axis=0)
    finder = NearestNeighbors(n_neighbors=control.neighbours).fit(pool_features / scale)
    _, neighbours = finder.kneighbors(real_features / scale)
    matched = pool_usable[neighbours]  # (real, neighbours) positions in the pool
    per_stamp = positive[matched].mean(axis=1)
    ratio = np.exp(real_features[:, None, :] - pool_features[neighbours])
    return {**result, "fraction": float(per_stamp.mean()),
            "interval": _bootstrap_interval(per_stamp, control.seed),
            "median_radius_ratio": float(np.median(ratio[..., 0])),
            "median_flux_ratio": float(np.median(ratio[..., 1])),
            "radius_histogram": {**histogram, "matched": _counts(pool_radii[matched].ravel() * arcsec)}}
