"""The ratio_infer step: per-lens log-ratio maps, expected limits, posterior and coverage.

Simulates (seeded) ``n_fiducial`` lenses at the fiducial point and ``coverage_ensembles``
ensembles at points drawn from the Fig. 5 prior (f_sub uniform, beta ~ N(-0.9, 0.1), inside the
proposal box), evaluates the estimator on the 25 x 25 grid, calibrates with the calibrate
step's tables, and writes ``results.json`` (the flat metrics: f_sub limits per lens count,
calibrated and raw, and coverages; the ``metrics.json`` schema's part), ``inference.json``
(limits, 2-D regions, coverage per estimator), ``maps.npz`` (what the report draws) and
``lenses.npz`` (the simulated fiducial and coverage lenses, float32, on which the sbi baseline
is tested too). Its role in the task is ``evaluate``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.stats import truncnorm

from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.io.canonical import finite_or_none
from lensbench.physics.cosmology import host_m200_from_sigma_v
from lensbench.sbi.calibration import load_calibration
from lensbench.sbi.inference import (ParameterGrid, coverage, expected_statistic, limits, log_prior,
                                     mass_function_band, posterior, test_statistic)
from lensbench.sbi.saved import load_estimator, log_ratio_of_images, mass_range
from lensbench.sbi.simulation import simulate_at
from lensbench.simulate.register import SIMULATION_KINDS
from lensbench.steps.base import STEP_KINDS, StepContext

SHMF_MASSES = np.geomspace(1e7, 1e10, 40)
"""Subhalo masses (Msun) at which the posterior SHMF band is drawn."""
ACCUMULATION_COUNTS = (1, 2, 3, 5, 8, 12, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)
"""Lens counts at which the posterior of the first fiducial lenses is drawn as they accumulate."""


def accumulating_posteriors(grid, calibrated: np.ndarray, prior: np.ndarray, largest: int):
    """Posteriors (K, G) of one realisation: the first k fiducial lenses' calibrated maps summed,
    for each k of :data:`ACCUMULATION_COUNTS` up to ``largest`` and the lenses there are."""
    counts = np.array([k for k in ACCUMULATION_COUNTS if k <= min(largest, len(calibrated))], dtype=int)
    totals = np.cumsum(calibrated, axis=0)[counts - 1]
    return counts, np.stack([posterior(grid, total, prior) for total in totals])


def estimator_maps(model, calibration, images, grid, device) -> tuple[np.ndarray, np.ndarray]:
    """Raw and calibrated ln r maps (N, G) of images (N, C, H, W)."""
    raw = log_ratio_of_images(model, images, grid.points, device)
    return raw, calibration.apply(raw)


def prior_draws(box, section, rng, k: int) -> np.ndarray:
    """k points of the Fig. 5 prior inside the proposal box (beta's normal truncated to it)."""
    f_sub = box.f_sub_low + rng.random(k) * (box.f_sub_high - box.f_sub_low)
    a = (box.beta_low - section.prior_beta_mean) / section.prior_beta_sigma
    b = (box.beta_high - section.prior_beta_mean) / section.prior_beta_sigma
    beta = truncnorm.rvs(a, b, loc=section.prior_beta_mean, scale=section.prior_beta_sigma, size=k, random_state=rng)
    return np.stack([f_sub, beta], axis=1)


def limits_table(grid, maps, section) -> dict:
    """The expected 95 % CL limits (:class:`lensbench.sbi.inference.Limits` as dicts) of per-lens
    maps (N, G) at the fiducial point, for each of the section's lens counts (keys: the counts)."""
    out = {}
    for n in section.n_lenses:
        found = limits(grid, expected_statistic(maps, n), section.fiducial_beta)
        out[str(n)] = dataclasses.asdict(found)
    return out


@STEP_KINDS.register("ratio_infer")
class RatioInferStep:
    """Expected limits at the fiducial point, the posterior, Fig. 2 lenses and coverage."""

    VERSION = 3  # 3: lenses.npz
    CACHED = True
    THREADS_IN_KEY = True
    COMPILE_IN_KEY = True  # it renders lenses

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        section = p["likelihood_ratio"]
        model, card = load_estimator(ctx.inputs["model"], ctx.device)
        calibration = load_calibration(ctx.inputs["calibration"] / "calibration.npz")
        grid = ParameterGrid.over(model.box, section.grid_size)
        kind = SIMULATION_KINDS.get(p["simulation_kind"])
        execution = ctx.extra["execution"]
        rng = np.random.default_rng([p["seed"], 23])
        fiducial = np.array([[section.fiducial_f_sub, section.fiducial_beta]])
        ctx.log.info("simulating %d lenses at the fiducial point", section.n_fiducial)
        images, _ = simulate_at(kind, p["simulation"], p["survey"], fiducial, section.n_fiducial, rng, execution)
        raw, calibrated = estimator_maps(model, calibration, images, grid, ctx.device)
        largest = max(section.n_lenses)
        prior = log_prior(grid, section.prior_beta_mean, section.prior_beta_sigma)
        probabilities = posterior(grid, largest * calibrated.mean(axis=0), prior)
        accumulated_counts, accumulated = accumulating_posteriors(grid, calibrated, prior, largest)
        masses = mass_range(card)
        ctx.log.info("coverage: %d ensembles of %d lenses", section.coverage_ensembles, max(section.coverage_lenses))
        truths = prior_draws(model.box, section, rng, section.coverage_ensembles)
        per = max(section.coverage_lenses)
        cover_images, _ = simulate_at(kind, p["simulation"], p["survey"], truths, per, rng, execution)
        cover_raw, cover_cal = estimator_maps(model, calibration, cover_images, grid, ctx.device)
        coverage_out = {}
        for n in section.coverage_lenses:
            for name, maps in (("calibrated", cover_cal), ("raw", cover_raw)):
                summed = maps.reshape(len(truths), per, -1)[:, :n].sum(axis=1)
                coverage_out[f"{name}_n{n}"] = coverage(grid, summed, truths)
        inference = {
            "fiducial": {"f_sub": section.fiducial_f_sub, "beta": section.fiducial_beta},
            "limits": {"calibrated": limits_table(grid, calibrated, section), "raw": limits_table(grid, raw, section)},
            "coverage": coverage_out,
            "n_fiducial": section.n_fiducial,
            "coverage_ensembles": section.coverage_ensembles,
            "calibration_effective_size_min": float(calibration.effective_size.min()),
        }
        results = {"task": "likelihood_ratio", "metrics": flat_metrics(inference), "curves": {},
                   "n_test": section.n_fiducial}
        write_json(ctx.work / "results.json", results)  # the metrics.json schema's part
        write_json(ctx.work / "inference.json", inference)  # limits, regions, coverage: what the report reads
        examples = min(section.n_examples, len(images))
        band = mass_function_band(grid, probabilities, SHMF_MASSES, masses.m_def, _fiducial_m_max(p["simulation"]))
        write_atomic(ctx.work / "lenses.npz", npz_bytes({
            "fiducial_images": images.astype(np.float32), "coverage_images": cover_images.astype(np.float32),
            "coverage_truths": truths}))
        write_atomic(ctx.work / "maps.npz", npz_bytes({
            "f_sub": grid.f_sub, "beta": grid.beta, "mean_raw": raw.mean(axis=0), "mean_calibrated": calibrated.mean(axis=0),
            "example_images": images[:examples, 0], "example_maps": raw[:examples],
            "example_q": test_statistic(raw[:examples]), "posterior": probabilities,
            "shmf_masses": SHMF_MASSES, "shmf_band": band, "coverage_truths": truths,
            "accumulated_counts": accumulated_counts, "accumulated_posteriors": accumulated}))
        return {"n_fiducial": section.n_fiducial, **{k: v for k, v in results["metrics"].items() if k.startswith("f_sub")
                                                     and "calibrated" in k}}


def _fiducial_m_max(simulation) -> float:
    """Upper subhalo mass (Msun) of the fiducial host for the SHMF band: the population's m_max
    fraction of the host M200 from the lens_sigma_v prior's centre, else its fixed m_max."""
    population = simulation.regression
    sigma = simulation.priors.get("lens_sigma_v")
    if population.m_max_host_fraction is None or sigma is None:
        return float(population.m_max)
    centre = sigma.value if sigma.dist == "fixed" else sigma.mu
    return float(population.m_max_host_fraction * host_m200_from_sigma_v(np.array([centre]))[0])


def flat_metrics(inference: dict) -> dict:
    """One number per key: f_sub limits per estimator and lens count (``f_sub_low_<estimator>_n<n>``;
    None where there is no interval) and coverages (``coverage<level>_<estimator>_n<n>``) of an
    ``inference.json``-shaped dict."""
    out = {}
    for name, table in inference["limits"].items():
        for n, found in table.items():
            out[f"f_sub_low_{name}_n{n}"] = finite_or_none(found["f_sub_low"])
            out[f"f_sub_high_{name}_n{n}"] = finite_or_none(found["f_sub_high"])
    for key, levels in inference["coverage"].items():
        for level, value in levels.items():
            out[f"coverage{level}_{key}"] = value
    return out
