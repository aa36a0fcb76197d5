"""The train step: fit the spec's architecture on the train split, keep the best weights.

Outputs ``model.pt`` (a state dict; load it with ``torch.load(..., weights_only=True)``),
``model.json`` (everything ``lensbench apply`` needs to rebuild and feed the model on its own)
and ``history.json`` (per-epoch losses, accuracies and learning rates).
"""

from __future__ import annotations

import shutil


from lensbench.io.atomic import write_json
from lensbench.io.canonical import to_jsonable
from lensbench.models import build_model
from lensbench.io.preprocess import DATASET_NORMALISATIONS, dataset_constants
from lensbench.models.saved import normaliser
from lensbench.simulate.store import ShardedDataset
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.training import Supervised, fit, save_weights


@STEP_KINDS.register("train")
class TrainStep:
    """Train one model on the train split with the val split for early stopping."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True  # other thread counts train other weights (smoke: up to 2.7e-3)

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        training = p["training"]
        train_set = ShardedDataset(ctx.inputs["train"])
        constants = None
        if training.normalize in DATASET_NORMALISATIONS:  # from the training split only, saved in model.json
            constants = dataset_constants(train_set.image_batches())
        train_set.transform = transform = normaliser(training.normalize, constants)
        val_set = ShardedDataset(ctx.inputs["val"], transform=transform)
        manifest = train_set.manifest
        channels, height, width = manifest["image_shape"]
        classify = p["task"] == "classify"
        num_outputs = len(manifest["classes"]) if classify else len(manifest["labels"])
        model = build_model(p["model"].architecture, in_channels=channels, num_outputs=num_outputs,
                            input_size=(height, width), seed=training.seed, **p["model"].options)
        history = fit(model, train_set, val_set, training, objective=Supervised(p["task"]), device=ctx.device,
                      checkpoint_dir=ctx.work / "checkpoints", progress=ctx.progress, log=ctx.log.info)
        save_weights(model, ctx.work / "model.pt")
        info = {
            "format": "lensbench.model/1",
            "architecture": p["model"].architecture,
            "options": dict(p["model"].options),
            "in_channels": channels,
            "input_size": [height, width],
            "num_outputs": num_outputs,
            "task": p["task"],
            "classes": manifest["classes"],
            "labels": manifest["labels"],
            "label_scale": manifest["label_scale"],
            "normalize": training.normalize,
            "normalize_constants": constants,  # per-channel mean and std of the train split ("dataset")
            "training": to_jsonable(training),
            "simulation_kind": manifest["kind"],
            "pixel_scale": getattr(p.get("survey"), "pixel_scale", None),  # arcsec/px; None: no pixels
            "simulation": to_jsonable(p.get("simulation")),
            "survey": to_jsonable(p.get("survey")),
        }
        write_json(ctx.work / "model.json", info)
        write_json(ctx.work / "history.json", history.to_dict())
        shutil.rmtree(ctx.work / "checkpoints", ignore_errors=True)
        return {"best_epoch": history.best_epoch, "epochs_run": len(history.train_loss)}
