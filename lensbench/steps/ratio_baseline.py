"""The ratio_sbi step: the ``sbi`` package's amortised NRE beside ALICES, and SBC of both.

Trains ``sbi``'s NRE-A (:mod:`lensbench.sbi.neural_ratio`) on the train split's images and theta
alone, with the ALICES estimator's trunk architecture, then evaluates it exactly where the
ratio_infer step evaluated ALICES: on that step's fiducial lenses and coverage ensembles
(``lenses.npz``), so the two estimators' limits and coverages differ only by what they learnt.
Simulation-based calibration (Talts et al. 2018): ``sbc_lenses`` single lenses, each at its own
point of the Fig. 5 prior, and the marginal posterior CDF of each truth under both estimators
(calibrated ALICES and NRE). Writes ``baseline.json``, ``sbc.npz`` and
``results.json`` (the flat metrics the report adds to ``metrics.json``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import kstest

from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.io.preprocess import dataset_constants
from lensbench.sbi.calibration import load_calibration
from lensbench.sbi.inference import ParameterGrid, coverage, log_prior, marginal_pit
from lensbench.sbi.neural_ratio import NormalisedTrunk, neural_log_ratio_grid, train_neural_ratio
from lensbench.sbi.objective import parameters_of
from lensbench.sbi.saved import load_estimator
from lensbench.sbi.simulation import population_box_and_masses, simulate_at
from lensbench.simulate.register import SIMULATION_KINDS
from lensbench.simulate.store import ShardedDataset
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.infer import estimator_maps, flat_metrics, limits_table, prior_draws

SBC_SEED = 29
"""Second word of the SBC lenses' generator seed ([seed, 29]); the infer step uses 23."""


def _first_images(folder, limit: int) -> tuple[torch.Tensor, np.ndarray, float, float]:
    """The first ``limit`` images of a split (N, C, H, W) as one float32 tensor (sbi keeps its
    training set in memory), their theta (N, 2), and the split's global mean and standard
    deviation, which the estimators normalise by."""
    data = ShardedDataset(folder)
    n = min(len(data), limit)
    images = torch.as_tensor(np.concatenate([data.images(range(lo, min(lo + 256, n))) for lo in range(0, n, 256)]))
    constants = dataset_constants(data.image_batches())
    return images, parameters_of(data.params())[:n], float(constants["mean"][0]), float(constants["std"][0])


@STEP_KINDS.register("ratio_sbi")
class RatioBaselineStep:
    """Train sbi's NRE-A on the train split; its limits and coverage where ALICES's were taken; SBC."""

    VERSION = 3  # 2: results.json with the flat metrics; 3: the infer step's lenses
    CACHED = True
    THREADS_IN_KEY = True
    COMPILE_IN_KEY = True  # it renders lenses

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        section, training = p["likelihood_ratio"], p["training"]
        box, _ = population_box_and_masses(p["simulation"])
        images, theta, mean, std = _first_images(ctx.inputs["train"], section.sbi_max_images)
        channels, height, width = images.shape[1:]
        trunk = NormalisedTrunk(p["model"].architecture, channels, (height, width), mean, std, seed=training.seed,
                                options=dict(p["model"].options))
        epochs = max(section.sbi_epochs or training.epochs, 2)  # sbi's loop runs at least two
        ctx.log.info("training sbi NRE-A on %d images, at most %d epochs", len(images), epochs)
        estimator, summary = train_neural_ratio(
            images, torch.as_tensor(theta), box, trunk, seed=training.seed, epochs=epochs,
            batch_size=training.batch_size, lr=section.sbi_learning_rate,
            patience=training.early_stopping_patience or epochs, hidden=section.hidden)
        del images

        grid = ParameterGrid.over(box, section.grid_size)
        kind = SIMULATION_KINDS.get(p["simulation_kind"])
        execution = ctx.extra["execution"]
        with np.load(ctx.inputs["evaluate"] / "lenses.npz") as lenses:  # the lenses ALICES was tested on
            nre = neural_log_ratio_grid(estimator, torch.as_tensor(lenses["fiducial_images"]), grid.points)
            cover_maps = neural_log_ratio_grid(estimator, torch.as_tensor(lenses["coverage_images"]), grid.points)
            truths = lenses["coverage_truths"]
        per = max(section.coverage_lenses)
        coverage_out = {}
        for n in section.coverage_lenses:
            summed = cover_maps.reshape(len(truths), per, -1)[:, :n].sum(axis=1)
            coverage_out[f"nre_n{n}"] = coverage(grid, summed, truths)

        ctx.log.info("SBC: %d lenses from the prior", section.sbc_lenses)
        sbc_rng = np.random.default_rng([p["seed"], SBC_SEED])
        sbc_truths = prior_draws(box, section, sbc_rng, section.sbc_lenses)
        sbc_images, _ = simulate_at(kind, p["simulation"], p["survey"], sbc_truths, 1, sbc_rng, execution)
        prior = log_prior(grid, section.prior_beta_mean, section.prior_beta_sigma)
        model, _ = load_estimator(ctx.inputs["model"], ctx.device)
        calibration = load_calibration(ctx.inputs["calibration"] / "calibration.npz")
        _, alices_maps = estimator_maps(model, calibration, sbc_images, grid, ctx.device)
        nre_maps = neural_log_ratio_grid(estimator, torch.as_tensor(sbc_images), grid.points)
        pit = {"alices_calibrated": marginal_pit(grid, alices_maps, sbc_truths, prior),
               "nre": marginal_pit(grid, nre_maps, sbc_truths, prior)}
        sbc = {name: {param: {"ks_statistic": float(test.statistic), "ks_pvalue": float(test.pvalue)}
                      for param, test in zip(("f_sub", "beta"), (kstest(values[:, 0], "uniform"),
                                                                 kstest(values[:, 1], "uniform")))}
               for name, values in pit.items()}
        baseline = {"method": "sbi NRE-A", "epochs": epochs, **summary, "n_train": int(len(theta)),
                    "learning_rate": section.sbi_learning_rate,
                    "limits": {"nre": limits_table(grid, nre, section)}, "coverage": coverage_out,
                    "coverage_ensembles": section.coverage_ensembles, "sbc": sbc, "sbc_lenses": section.sbc_lenses}
        write_json(ctx.work / "baseline.json", baseline)
        write_json(ctx.work / "results.json", {"metrics": _flat_metrics(baseline)})  # joins metrics.json
        write_atomic(ctx.work / "sbc.npz", npz_bytes({"truths": sbc_truths, **{f"pit_{k}": v for k, v in pit.items()},
                                                      "mean_nre": nre.mean(axis=0)}))
        return {"epochs_run": summary["epochs_run"]}


def _flat_metrics(baseline: dict) -> dict:
    """One number per key: the NRE's f_sub limits and coverages (as the infer step names them,
    with the estimator ``nre``) and the SBC KS p-values of both estimators
    (``sbc_pvalue_<estimator>_<parameter>``)."""
    sbc = {f"sbc_pvalue_{estimator}_{parameter}": values["ks_pvalue"]
           for estimator, per in baseline["sbc"].items() for parameter, values in per.items()}
    return {**flat_metrics(baseline), **sbc}
