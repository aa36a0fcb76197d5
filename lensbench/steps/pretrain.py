"""The ``ssl_pretrain`` step: pre-train an encoder with a self-supervised objective on the train
split (labels unused), the val split giving the validation loss and the collapse record.

Outputs ``encoder.pt`` (the encoder's state dict after the last epoch, ``torch.load(...,
weights_only=True)``), ``encoder.json`` (how to rebuild it) and ``pretrain.json`` (losses, the
spread ratio of the normalised validation embeddings per epoch, images per second).
"""

from __future__ import annotations

import shutil
import time

import torch
from torch.utils.data import Subset

from lensbench.io.atomic import write_json
from lensbench.models import build_model
from lensbench.models.saved import normaliser
from lensbench.simulate.store import ShardedDataset
from lensbench.ssl.methods import build_objective
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.training import TrainConfig, fit, kept_epoch, save_weights

PER_IMAGE_NORMALISATIONS = ("none", "max", "standardize")


def image_set(folder, normalize: str) -> ShardedDataset:
    """A simulated split, each image normalised on its own (``[training] normalize``)."""
    if normalize not in PER_IMAGE_NORMALISATIONS:
        raise ValueError(f"task ssl normalises each image on its own: [training] normalize must be one of "
                         f"{', '.join(PER_IMAGE_NORMALISATIONS)}, got {normalize!r}")
    return ShardedDataset(folder, transform=normaliser(normalize))


def new_encoder(model_section, manifest: dict, seed: int) -> torch.nn.Module:
    """The ``[model]`` architecture for the split's image shape, weights drawn from ``seed`` (its
    own final layer is unused: heads are put on ``forward_features``)."""
    channels, height, width = manifest["image_shape"]
    return build_model(model_section.architecture, in_channels=channels, num_outputs=len(manifest["classes"]),
                       input_size=(height, width), seed=seed, **model_section.options)


def load_encoder(folder, model_section, manifest: dict, seed: int) -> torch.nn.Module:
    """An encoder of ``new_encoder`` shape with the weights of a pre-training folder."""
    encoder = new_encoder(model_section, manifest, seed)
    encoder.load_state_dict(torch.load(folder / "encoder.pt", map_location="cpu", weights_only=True))
    return encoder


def without_single_last_batch(dataset, batch_size: int):
    """``dataset`` less its last item when that item would form a training batch of one (the
    projectors' BatchNorm needs two examples)."""
    return Subset(dataset, range(len(dataset) - 1)) if len(dataset) % batch_size == 1 else dataset


@STEP_KINDS.register("ssl_pretrain")
class PretrainStep:
    """Self-supervised pre-training of the ``[model]`` encoder under ``[pretrain]``."""

    VERSION = 4  # 2: the collapse record of the head outputs; 3: the last epoch's weights, not the lowest loss's;
                 # 4: the heads' initial weights drawn from the seed
    CACHED = True
    THREADS_IN_KEY = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        config, seed = p["pretrain"], p["seed"]
        train = image_set(ctx.inputs["train"], p["normalize"])
        val = image_set(ctx.inputs["val"], p["normalize"])
        encoder = new_encoder(p["model"], train.manifest, seed)
        objective = build_objective(config, encoder, seed)
        schedule = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, optimizer="adamw",
                               weight_decay=config.weight_decay, normalize=p["normalize"], seed=seed)
        started = time.perf_counter()
        history = fit(encoder, without_single_last_batch(train, config.batch_size), val, schedule,
                      objective=objective, device=ctx.device, checkpoint_dir=ctx.work / "checkpoints",
                      progress=ctx.progress, log=ctx.log.info)
        seconds = time.perf_counter() - started
        spread = objective.finish()
        save_weights(encoder, ctx.work / "encoder.pt")
        write_json(ctx.work / "encoder.json", {"architecture": p["model"].architecture,
                                               "options": dict(p["model"].options), "method": config.method,
                                               "normalize": p["normalize"], "seed": seed})
        train_seconds = sum(history.epoch_seconds)
        kept = kept_epoch(history, objective)
        write_json(ctx.work / "pretrain.json", {
            "method": config.method, "objective": objective.name, "train_loss": history.train_loss,
            "val_loss": history.val_loss, "lowest_val_loss_epoch": history.best_epoch,
            "kept_epoch": kept, "epoch_seconds": history.epoch_seconds,
            "spread_ratio": spread, "embedding_dim": int(encoder.embedding_dim),
            "images_per_second": len(train) * len(history.train_loss) / max(train_seconds, 1e-9),
            "wall_seconds": seconds})
        shutil.rmtree(ctx.work / "checkpoints", ignore_errors=True)
        return {"kept_epoch": kept, "final_spread_ratio": spread[-1] if spread else None}
