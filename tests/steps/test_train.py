"""The train step's dataset normalisation: constants from the training split, saved in model.json,
and the same numbers used by the evaluate step and by ``apply``'s network inputs."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from lensbench.io.preprocess import dataset_constants, normaliser
from lensbench.models.saved import load_model
from lensbench.scoring.stream import network_inputs
from lensbench.simulate.store import write_manifest, write_shard
from lensbench.steps import StepContext
from lensbench.steps.evaluate import EvaluateStep
from lensbench.steps.train import TrainStep
from lensbench.training import TrainConfig

MEAN, STD = np.array([3.0, -1.0]), np.array([2.0, 0.5])  # per channel, image units


def _split(folder, n: int, seed: int) -> np.ndarray:
    """A two-class split of (2, 8, 8) images with channel means MEAN and spreads STD; the positive
    class has twice the variance of the negative (the excess-variance signal)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    spread = np.where(labels == 1, np.sqrt(2.0), 1.0)[:, None, None, None]
    images = (MEAN[None, :, None, None] + STD[None, :, None, None] * spread
              * rng.standard_normal((n, 2, 8, 8))).astype(np.float32)
    write_shard(folder, 0, images, labels.astype(np.int64), {})
    write_manifest(folder, {"n": n, "image_shape": [2, 8, 8], "classes": ["noise", "signal"], "labels": [],
                            "label_scale": {}, "kind": "astrometric", "shard_size": n, "shards": [{"index": 0, "n": n}]})
    return images


def test_dataset_constants_match_numpy_over_all_pixels():
    images = np.random.default_rng(0).normal(MEAN[None, :, None, None], STD[None, :, None, None], (50, 2, 4, 4))
    found = dataset_constants([images[:20], images[20:]])
    np.testing.assert_allclose(found["mean"], images.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(found["std"], images.std(axis=(0, 2, 3)), rtol=1e-12)
    with pytest.raises(ValueError, match="needs the training split's constants"):
        normaliser("dataset")


def test_dataset_normalisation_keeps_the_excess_variance_that_standardize_removes():
    quiet = torch.randn(2, 8, 8, generator=torch.Generator().manual_seed(1))
    loud = 3.0 * quiet
    constants = {"mean": [0.0, 0.0], "std": [1.0, 1.0]}
    dataset, per_image = normaliser("dataset", constants), normaliser("standardize")
    assert torch.allclose(per_image(loud), per_image(quiet), atol=1e-6)
    assert dataset(loud).std() / dataset(quiet).std() == pytest.approx(3.0, rel=1e-5)


def test_constants_saved_with_the_model_and_used_by_evaluate_and_apply(tmp_path):
    train = _split(tmp_path / "train", 16, seed=1)
    _split(tmp_path / "val", 4, seed=2)
    test = _split(tmp_path / "test", 6, seed=3)
    training = TrainConfig(epochs=1, batch_size=8, normalize="dataset", seed=0)
    model_section = SimpleNamespace(architecture="cnn", options={"hidden": 8})
    log = logging.getLogger("test")
    TrainStep.run(StepContext("train", {"training": training, "model": model_section, "task": "classify"},
                              tmp_path / "model", {"train": tmp_path / "train", "val": tmp_path / "val"}, log,
                              progress=False))
    card = json.loads((tmp_path / "model" / "model.json").read_text())
    assert card["normalize"] == "dataset"
    np.testing.assert_allclose(card["normalize_constants"]["mean"], train.astype(np.float64).mean(axis=(0, 2, 3)),
                               rtol=1e-9)
    np.testing.assert_allclose(card["normalize_constants"]["std"], train.astype(np.float64).std(axis=(0, 2, 3)),
                               rtol=1e-9)
    # evaluate feeds the test images through the saved constants, not the test split's own
    evaluation = SimpleNamespace(metrics=["auc"], calibration_bins=2)
    EvaluateStep.run(StepContext("evaluate", {"evaluation": evaluation, "task": "classify"}, tmp_path / "eval",
                                 {"model": tmp_path / "model", "test": tmp_path / "test"}, log, progress=False))
    model, _ = load_model(tmp_path / "model")
    mean = np.asarray(card["normalize_constants"]["mean"])[None, :, None, None]
    std = np.asarray(card["normalize_constants"]["std"])[None, :, None, None]
    expected_inputs = torch.from_numpy(((test - mean) / std).astype(np.float32))
    with torch.no_grad():
        expected = torch.softmax(model(expected_inputs), dim=1).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "eval" / "predictions.npy"), expected, atol=1e-5)
    # apply's network inputs use the card's constants too
    fed = network_inputs(test[:, :1].copy(), card["normalize"], {"mean": card["normalize_constants"]["mean"][:1],
                                                                  "std": card["normalize_constants"]["std"][:1]})
    np.testing.assert_allclose(fed.numpy(), expected_inputs[:, :1].numpy(), atol=1e-6)
