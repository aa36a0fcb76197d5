"""The ``ssl_probe`` step: linear and kNN probes of the pre-trained encoder's frozen embeddings,
and of randomly initialised encoders of the same architecture (one per ``[finetune] seeds``), on
the test split; every label of the train split is used.

Writes ``probe.json`` (macro AUC and accuracy of each probe, per encoder, and the spread ratio of
the normalised test embeddings) and ``pca.npz`` (the first two principal components of the test
embeddings of the pre-trained and of the first random encoder, with the test labels).
"""

from __future__ import annotations

import io

import numpy as np
import torch

from lensbench.io.atomic import write_atomic, write_json
from lensbench.metrics import macro_auc
from lensbench.ssl.collapse import spread_ratio
from lensbench.ssl.probes import embeddings, knn_probe, linear_probe
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.pretrain import image_set, load_encoder, new_encoder


def _scores(train_x, train_y, test_x, test_y, config, seed: int) -> dict:
    """Macro AUC and accuracy of the linear and kNN probes."""
    out = {}
    for name, probs in (("linear", linear_probe(train_x, train_y, test_x, seed=seed, max_iter=config.probe_max_iter)),
                        ("knn", knn_probe(train_x, train_y, test_x, neighbours=config.knn_neighbours))):
        out[f"{name}_macro_auc"] = macro_auc(test_y, probs)
        out[f"{name}_accuracy"] = float(np.mean(probs.argmax(axis=1) == test_y))
    return out


def _pca(x: np.ndarray) -> np.ndarray:
    """(N, 2) coordinates along the two leading principal axes of ``x``."""
    centred = x - x.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    return centred @ axes[:2].T


@STEP_KINDS.register("ssl_probe")
class ProbeStep:
    """Probe the pre-trained encoder and random encoders on frozen embeddings."""

    VERSION = 1
    CACHED = True
    THREADS_IN_KEY = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        config = p["finetune"]
        train = image_set(ctx.inputs["train"], p["normalize"])
        test = image_set(ctx.inputs["test"], p["normalize"])
        train_y, test_y = np.asarray(train.labels), np.asarray(test.labels)
        seed0 = config.seeds[0]
        pretrained = load_encoder(ctx.inputs["encoder"], p["model"], train.manifest, seed0)
        train_x = embeddings(pretrained, train, device=ctx.device)
        test_x = embeddings(pretrained, test, device=ctx.device)
        result = {"pretrained": {**_scores(train_x, train_y, test_x, test_y, config, seed0),
                                 "spread_ratio": spread_ratio(torch.from_numpy(test_x))},
                  "random": []}
        pca = {"labels": test_y, "pretrained": _pca(test_x)}
        for seed in config.seeds:
            random_encoder = new_encoder(p["model"], train.manifest, seed)
            r_train, r_test = embeddings(random_encoder, train, device=ctx.device), embeddings(random_encoder, test, device=ctx.device)
            result["random"].append({"seed": seed, **_scores(r_train, train_y, r_test, test_y, config, seed),
                                     "spread_ratio": spread_ratio(torch.from_numpy(r_test))})
            if seed == seed0:
                pca["random"] = _pca(r_test)
        write_json(ctx.work / "probe.json", result)
        buffer = io.BytesIO()
        np.savez(buffer, **pca)
        write_atomic(ctx.work / "pca.npz", buffer.getvalue())
        return {"linear_pretrained": result["pretrained"]["linear_macro_auc"]}
