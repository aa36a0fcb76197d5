"""The ``ssl_regress`` step: regress log10(m_a / eV) on the vortex-class images (Deshmukh+23
sec. 2.2, Fig. 2) with an encoder and a one-output fully connected head, once per ``[finetune]``
seed, under ``[training]`` with the row's augmentations (MSE in dex^2, every label); from the
pre-trained weights (``init = "pretrained"``) or from random initialisation (``"random"``: the
supervised baseline of sec. 3).

Writes ``regress.json`` (per seed: RMSE and mean bias of log10 m_a on the test vortex images,
epochs, losses, seconds; the training targets' mean and std) and the arrays ``truth.npy``
(log10 m_a of the test vortex images) and ``predicted_<seed>.npy`` (float64, in the same order).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from lensbench.io.atomic import npy_bytes, write_atomic, write_json
from lensbench.ssl.finetune import AugmentedSupervised
from lensbench.ssl.regression import (
    TargetSet,
    log10_axion_mass,
    predictions_file,
    regression_head,
    rmse_and_bias,
    target_scale,
)
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.pretrain import (
    image_set,
    load_encoder,
    new_encoder,
    without_single_last_batch,
)
from lensbench.training import fit, predict


def vortex_set(folder, normalize: str, vortex_class: str) -> TargetSet:
    """The vortex images of a simulated split, normalised, with their log10(m_a / eV)."""
    images = image_set(folder, normalize)
    classes = images.manifest["classes"]
    if vortex_class not in classes:
        raise ValueError(f"class '{vortex_class}' is not among the split's classes ({', '.join(classes)})")
    indices, targets = log10_axion_mass(images.labels, images.params()["axion_mass"], classes.index(vortex_class))
    if len(indices) == 0:
        raise ValueError(f"the split at {folder} holds no image of class '{vortex_class}' to regress")
    return TargetSet(images, indices, targets)


@STEP_KINDS.register("ssl_regress")
class RegressStep:
    """Fine-tune (or train from scratch) encoder + one-output head on log10 m_a, per seed."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        train, val, test = (vortex_set(ctx.inputs[split], p["normalize"], p["vortex_class"])
                            for split in ("train", "val", "test"))
        manifest = train.images.manifest
        centre, scale = target_scale(train.targets.numpy())
        truth = test.targets.numpy().astype(np.float64).reshape(-1)
        write_atomic(ctx.work / "truth.npy", npy_bytes(truth))
        runs = []
        for seed in p["seeds"]:
            training = dataclasses.replace(p["training"], seed=seed)
            if p["init"] == "pretrained":
                encoder = load_encoder(ctx.inputs["encoder"], p["model"], manifest, seed)
            else:
                encoder = new_encoder(p["model"], manifest, seed)
            model = regression_head(encoder, seed, centre, scale)
            objective = AugmentedSupervised("regress", p["augmentations"], p["noise_sigma"], seed)
            started = time.perf_counter()
            history = fit(model, without_single_last_batch(train, training.batch_size), val, training,
                          objective=objective, device=ctx.device, checkpoint_dir=None,  # minutes at most
                          progress=ctx.progress, log=ctx.log.info)
            seconds = time.perf_counter() - started
            predicted = predict(model, test, batch_size=256, device=ctx.device, task="regress").reshape(-1)
            write_atomic(ctx.work / predictions_file(seed), npy_bytes(predicted))
            rmse, bias = rmse_and_bias(truth, predicted)
            runs.append({"seed": seed, "rmse": rmse, "bias": bias,
                         "epochs_run": len(history.train_loss), "best_epoch": history.best_epoch,
                         "train_loss": history.train_loss, "val_loss": history.val_loss, "seconds": seconds})
            ctx.log.info("%s regression seed %d: RMSE %.3f dex", p["init"], seed, rmse)
        write_json(ctx.work / "regress.json", {
            "init": p["init"], "target": "log10(m_a / eV)", "n_train": len(train), "n_val": len(val),
            "n_test": len(test), "train_target_mean": centre, "train_target_std": scale, "runs": runs})
        return {"rmse": float(np.mean([run["rmse"] for run in runs]))}
