"""The ratio_calibrate step: histogram calibration of the estimator on the parameter grid.

Brehmer+19 sec. 3.3. The denominator sample is the reference sample (the test split, drawn with
theta from the proposal, i.e. from p_ref). The numerator sample of each grid point is, by the
section's ``calibration``:

- ``simulated`` (the paper): ``calibration_per_point`` images simulated (seeded) at every grid
  point, pooled across points with multiple-importance-sampling weights;
- ``reweighted``: the reference images weighted by their joint ratio r(x, z|theta_g);
- ``normalized`` (beyond the paper): no histograms; ln r_hat times a temperature fitted on the
  reference images at their own theta against the same images paired with other images' theta,
  re-centred so that E_ref[r] = 1 at every point (:mod:`lensbench.sbi.normalized_calibration`).

See :mod:`lensbench.sbi.calibration`. Writes ``calibration.npz`` (the calibration, the grid, and
calibrated ln r against ln r_hat at every point for the report's curves) and ``calibration.json``
(summary).
"""

from __future__ import annotations

import numpy as np
import torch

from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.sbi import normalized_calibration
from lensbench.sbi.calibration import calibrate, mixture_weights, reweighting_weights
from lensbench.sbi.inference import ParameterGrid
from lensbench.sbi.objective import latent_stats, parameters_of
from lensbench.sbi.population import LatentStats, log_prob, log_reference
from lensbench.sbi.saved import features_of, load_estimator, log_ratio_at, mass_range
from lensbench.sbi.simulation import simulate_at
from lensbench.simulate.register import SIMULATION_KINDS
from lensbench.simulate.store import ShardedDataset
from lensbench.steps.base import STEP_KINDS, StepContext

IMAGES_PER_CHUNK = 256
"""Images whose joint log-probabilities at every grid point are computed at once."""


def joint_log_prob_grid(stats: LatentStats, masses, points: np.ndarray) -> np.ndarray:
    """ln p(z_i|theta_g) (N, G) of every image's population at every grid point (Brehmer+19 eq. 18)."""
    out = []
    theta_all = torch.as_tensor(points, dtype=torch.float64)
    g = len(points)
    for lo in range(0, len(stats.count), IMAGES_PER_CHUNK):
        part = [t[lo:lo + IMAGES_PER_CHUNK] for t in (stats.count, stats.log_mass_sum, stats.roi_mass, stats.m_max)]
        n = len(part[0])
        flat = LatentStats(*(t[:, None].expand(n, g).reshape(-1) for t in part))
        theta = theta_all[None].expand(n, g, 2).reshape(-1, 2)
        out.append(log_prob(theta, flat, masses).reshape(n, g).numpy())
    return np.concatenate(out) if out else np.empty((0, g))


def fit_normalized(model, features: torch.Tensor, theta: np.ndarray, reference_log_r_hat: np.ndarray,
                   rng: np.random.Generator):
    """The normalized calibration from reference images (features) at their own theta (M, 2) and
    their ln r_hat at the grid points (M, G); the temperature from at most
    :data:`~lensbench.sbi.normalized_calibration.MAX_PAIRS_IMAGES` of them (seeded choice)."""
    rows = np.arange(len(theta))
    if len(rows) > normalized_calibration.MAX_PAIRS_IMAGES:
        rows = np.sort(rng.choice(rows, normalized_calibration.MAX_PAIRS_IMAGES, replace=False))
    return normalized_calibration.fit(log_ratio_at(model, features[rows], theta[rows]), reference_log_r_hat)


def calibration_curves(table, reference_log_r_hat: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(G, B) values of ln r_hat (at quantiles of the reference's) and their calibrated ln r: what
    the report draws for any calibration."""
    centres = np.quantile(reference_log_r_hat, (np.arange(bins) + 0.5) / bins, axis=0).T
    return centres, table.apply(centres.T).T


@STEP_KINDS.register("ratio_calibrate")
class RatioCalibrateStep:
    """Calibrate ln r_hat at every grid point (histograms of images simulated at the points or of
    the reweighted reference sample, or the temperature-scaled, self-normalised one)."""

    VERSION = 2
    CACHED = True
    THREADS_IN_KEY = True
    COMPILE_IN_KEY = True  # it renders lenses

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        section = p["likelihood_ratio"]
        model, card = load_estimator(ctx.inputs["model"], ctx.device)
        masses = mass_range(card)
        grid = ParameterGrid.over(model.box, section.grid_size)
        reference = ShardedDataset(ctx.inputs["reference"])
        reference_features = features_of(model, reference.images(range(len(reference))), device=ctx.device)
        reference_log_r_hat = log_ratio_at(model, reference_features, grid.points)
        numerator = reference_log_r_hat
        if section.calibration == "normalized":
            table = fit_normalized(model, reference_features, parameters_of(reference.params()), reference_log_r_hat,
                                   np.random.default_rng([p["seed"], 31]))
        elif section.calibration == "simulated":
            per_point = section.calibration_per_point
            ctx.log.info("simulating %d calibration lenses at each of the %d grid points", per_point, len(grid.points))
            rng = np.random.default_rng([p["seed"], 29])
            kind = SIMULATION_KINDS.get(p["simulation_kind"])
            images, params = simulate_at(kind, p["simulation"], p["survey"], grid.points, per_point, rng,
                                         ctx.extra["execution"])
            numerator = log_ratio_at(model, features_of(model, images, device=ctx.device), grid.points)
            weights = mixture_weights(joint_log_prob_grid(latent_stats(params), masses, grid.points))
            table = calibrate(numerator, reference_log_r_hat, weights, bins=section.calibration_bins)
        else:
            stats = latent_stats(reference.params())
            log_ref = log_reference(stats, masses, model.box, section.reference_nodes)
            weights = reweighting_weights(joint_log_prob_grid(stats, masses, grid.points) - log_ref[:, None])
            table = calibrate(numerator, reference_log_r_hat, weights, bins=section.calibration_bins)
        centres, curves = calibration_curves(table, reference_log_r_hat, section.calibration_bins)
        write_atomic(ctx.work / "calibration.npz", npz_bytes({
            **table.to_arrays(), "f_sub": grid.f_sub, "beta": grid.beta, "curve_log_r_hat": centres,
            "curve_log_r": curves}))
        summary = {"method": section.calibration, "n_reference": len(reference), "bins": section.calibration_bins,
                   "n_simulated": len(numerator) if section.calibration == "simulated" else 0,
                   "per_point": section.calibration_per_point if section.calibration == "simulated" else 0,
                   "effective_size_min": float(table.effective_size.min()),
                   "effective_size_median": float(np.median(table.effective_size)),
                   "temperature": getattr(table, "temperature", None)}
        write_json(ctx.work / "calibration.json", summary)
        return summary
