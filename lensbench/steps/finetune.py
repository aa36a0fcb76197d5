"""The ``ssl_finetune`` step: an encoder with a fully connected head trained on labels, once per
``[finetune]`` seed and label fraction, under ``[training]`` with the row's augmentations
(Deshmukh+23 sec. 2.2); from the pre-trained weights (``init = "pretrained"``) or from random
initialisation (``"random"``: the supervised baseline of sec. 3).

Writes ``runs.json`` (one entry per seed and fraction: macro AUC, accuracy, epochs, seconds) and
``probs_<fraction>_<seed>.npy`` (test-set class probabilities, float32).
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from torch.utils.data import Subset

from lensbench.io.atomic import npy_bytes, write_atomic, write_json
from lensbench.metrics import macro_auc
from lensbench.ssl.finetune import AugmentedSupervised, label_subset, with_head
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.pretrain import (
    image_set,
    load_encoder,
    new_encoder,
    without_single_last_batch,
)
from lensbench.training import fit, predict


def probabilities_file(fraction: float, seed: int) -> str:
    """File name of the test probabilities of one fine-tuning run."""
    return f"probs_{fraction:g}_{seed}.npy"


@STEP_KINDS.register("ssl_finetune")
class FinetuneStep:
    """Fine-tune (or train from scratch) encoder + head per seed and label fraction."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        config = p["finetune"]
        train = image_set(ctx.inputs["train"], p["normalize"])
        val = image_set(ctx.inputs["val"], p["normalize"])
        test = image_set(ctx.inputs["test"], p["normalize"])
        classes = train.manifest["classes"]
        labels = np.asarray(train.labels)
        runs = []
        for fraction in config.label_fractions:
            subset = Subset(train, label_subset(labels, fraction, p["data_seed"]).tolist())
            for seed in config.seeds:
                training = dataclasses.replace(p["training"], seed=seed)
                if p["init"] == "pretrained":
                    encoder = load_encoder(ctx.inputs["encoder"], p["model"], train.manifest, seed)
                else:
                    encoder = new_encoder(p["model"], train.manifest, seed)
                model = with_head(encoder, len(classes), seed)
                objective = AugmentedSupervised("classify", p["augmentations"], p["noise_sigma"], seed)
                started = time.perf_counter()
                history = fit(model, without_single_last_batch(subset, training.batch_size), val, training,
                              objective=objective, device=ctx.device, checkpoint_dir=None,  # minutes at most
                              progress=ctx.progress, log=ctx.log.info)
                seconds = time.perf_counter() - started
                probs = predict(model, test, batch_size=256, device=ctx.device, task="classify")
                write_atomic(ctx.work / probabilities_file(fraction, seed), npy_bytes(probs.astype(np.float32)))
                runs.append({"fraction": fraction, "seed": seed, "n_labels": len(subset),
                             "macro_auc": macro_auc(test.labels, probs),
                             "accuracy": float(np.mean(probs.argmax(axis=1) == np.asarray(test.labels))),
                             "epochs_run": len(history.train_loss), "best_epoch": history.best_epoch,
                             "train_loss": history.train_loss, "val_loss": history.val_loss, "seconds": seconds})
                ctx.log.info("%s fraction %g seed %d: macro AUC %.4f", p["init"], fraction, seed, runs[-1]["macro_auc"])
        write_json(ctx.work / "runs.json", {"init": p["init"], "classes": classes, "runs": runs})
        return {"runs": len(runs)}
