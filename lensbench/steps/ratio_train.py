"""The ratio_train step: train a likelihood-ratio estimator on mined gold (Brehmer+19 sec. 3.2).

Reads the train and val splits (images drawn with theta from the proposal, their parameters and
the population's sufficient statistics), pairs every image with a second proposal draw theta'
(seeded by the training seed), computes ln p_ref(z) once, and fits a
:class:`lensbench.sbi.estimator.RatioEstimator` on the spec's loss with
:func:`lensbench.training.fit`. Writes ``model.pt``, ``model.json`` (:mod:`lensbench.sbi.saved`) and ``history.json``.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np

from lensbench.io.atomic import write_json
from lensbench.io.preprocess import dataset_constants
from lensbench.sbi.estimator import RatioEstimator
from lensbench.sbi.objective import LATENT_COLUMNS, AugmentedImages, RatioObjective, latent_stats, parameters_of
from lensbench.sbi.population import log_reference
from lensbench.sbi.saved import save_estimator
from lensbench.sbi.simulation import population_box_and_masses
from lensbench.simulate.store import ShardedDataset
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.training import fit


def augmented(folder, box, masses, rng, nodes: int) -> AugmentedImages:
    """A split as :class:`AugmentedImages`: theta' ~ proposal from ``rng``, ln p_ref by quadrature."""
    images = ShardedDataset(folder)
    params = images.params()
    log_ref = log_reference(latent_stats(params), masses, box, nodes)
    latent = np.stack([params[name] for name in LATENT_COLUMNS], axis=1)
    return AugmentedImages(images, parameters_of(params), box.sample(rng, len(images)), latent, log_ref)


@STEP_KINDS.register("ratio_train")
class RatioTrainStep:
    """Fit the ratio estimator on the train split, the val split for the best epoch."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        section, training = p["estimator"], p["training"]
        box, masses = population_box_and_masses(p["simulation"])
        rng = np.random.default_rng([training.seed, 11])
        train = augmented(ctx.inputs["train"], box, masses, rng, section.reference_nodes)
        val = augmented(ctx.inputs["val"], box, masses, rng, section.reference_nodes)
        images = train.images
        constants = dataset_constants(images.image_batches())
        channels, height, width = images.manifest["image_shape"]
        model = RatioEstimator(p["model"].architecture, channels, (height, width), box, hidden=section.hidden,
                               mean=constants["mean"][0], std=constants["std"][0], seed=training.seed,
                               options=dict(p["model"].options))
        objective = RatioObjective(section.loss, section.alpha, masses, section.flipped_score)
        history = fit(model, train, val, training, objective=objective, device=ctx.device,
                      checkpoint_dir=ctx.work / "checkpoints", progress=ctx.progress, log=ctx.log.info)
        save_estimator(ctx.work, model, {
            "architecture": p["model"].architecture, "options": dict(p["model"].options), "in_channels": channels,
            "input_size": [height, width], "hidden": section.hidden, "loss": section.loss, "alpha": section.alpha,
            "flipped_score": section.flipped_score,
            "masses": dataclasses.asdict(masses), "n_train": len(train)})
        write_json(ctx.work / "history.json", history.to_dict())
        shutil.rmtree(ctx.work / "checkpoints", ignore_errors=True)
        return {"best_epoch": history.best_epoch, "epochs_run": len(history.train_loss)}
