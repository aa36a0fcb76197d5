"""The ratio_calibrate step: histogram calibration of the estimator on the parameter grid.

Brehmer+19 sec. 3.3, with the reweighting option: the reference sample (the test split, drawn
with theta from the proposal, i.e. from p_ref) is the denominator sample, and the same images
weighted by their joint ratio r(x, z|theta_g) are the numerator sample of each grid point
(:mod:`lensbench.sbi.calibration`). Writes ``calibration.npz`` (edges, calibrated ln r per bin,
effective sample sizes, the grid) and ``calibration.json`` (summary).
"""

from __future__ import annotations

import numpy as np
import torch

from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.sbi.calibration import calibrate, reweighting_weights
from lensbench.sbi.inference import ParameterGrid
from lensbench.sbi.objective import latent_stats
from lensbench.sbi.population import LatentStats, log_prob, log_reference
from lensbench.sbi.saved import features_of, load_estimator, mass_range
from lensbench.simulate.store import ShardedDataset
from lensbench.steps.base import STEP_KINDS, StepContext


def joint_log_ratio_grid(stats: LatentStats, masses, log_ref: np.ndarray, points: np.ndarray) -> np.ndarray:
    """ln r(x_i, z_i|theta_g) (N, G) of every image at every grid point."""
    n, g = len(stats.count), len(points)
    flat = LatentStats(*(t[:, None].expand(n, g).reshape(-1) for t in (stats.count, stats.log_mass_sum,
                                                                       stats.roi_mass, stats.m_max)))
    theta = torch.as_tensor(points, dtype=torch.float64)[None].expand(n, g, 2).reshape(-1, 2)
    return log_prob(theta, flat, masses).reshape(n, g).numpy() - log_ref[:, None]


@STEP_KINDS.register("ratio_calibrate")
class RatioCalibrateStep:
    """Calibrate ln r_hat at every grid point with the reweighted reference sample."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        section = ctx.params["likelihood_ratio"]
        model, card = load_estimator(ctx.inputs["model"], ctx.device)
        masses = mass_range(card)
        grid = ParameterGrid.over(model.box, section.grid_size)
        reference = ShardedDataset(ctx.inputs["reference"])
        images = reference.images(range(len(reference)))
        features = features_of(model, images, device=ctx.device)
        log_r_hat = model.log_ratio_grid(features, torch.as_tensor(grid.points, dtype=features.dtype,
                                                                   device=features.device)).cpu().numpy()
        params = reference.params()
        stats = latent_stats(params)
        log_joint = joint_log_ratio_grid(stats, masses, log_reference(stats, masses, model.box, section.reference_nodes),
                                         grid.points)
        table = calibrate(log_r_hat, log_r_hat, reweighting_weights(log_joint), bins=section.calibration_bins)
        write_atomic(ctx.work / "calibration.npz", npz_bytes({
            "edges": table.edges, "log_ratio": table.log_ratio, "effective_size": table.effective_size,
            "f_sub": grid.f_sub, "beta": grid.beta, "bin_centres": table.bin_centres()}))
        summary = {"n_reference": len(reference), "bins": section.calibration_bins,
                   "effective_size_min": float(table.effective_size.min()),
                   "effective_size_median": float(np.median(table.effective_size))}
        write_json(ctx.work / "calibration.json", summary)
        return summary
