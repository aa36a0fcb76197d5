"""Fixtures of the training tests: tiny separable datasets, a tiny CNN, one torch thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from lensbench.models import build_model

SIDE = 8


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs on one torch thread (see ``one_torch_thread``)."""


def _blobs(n: int, seed: int, flip: bool = False) -> TensorDataset:
    """1x8x8 images: class 1 has mean +0.5, class 0 mean -0.5, unit Gaussian noise per pixel."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.normal(size=(n, 1, SIDE, SIDE)) + (labels[:, None, None, None] - 0.5)
    targets = 1 - labels if flip else labels
    return TensorDataset(torch.from_numpy(images).float(), torch.from_numpy(targets).long())


def _tiny_cnn(seed: int = 0, num_outputs: int = 2, dropout: float = 0.5):
    return build_model("cnn", in_channels=1, num_outputs=num_outputs, input_size=(SIDE, SIDE), seed=seed,
                       channels=(4, 8, 8), hidden=16, dropout=dropout)


def _state_bytes(module) -> list[bytes]:
    return [value.numpy().tobytes() for value in module.state_dict().values()]


class FailingAfter(Dataset):
    """Wraps a dataset and raises on its ``fail_at``-th item access, as a crash would."""

    def __init__(self, dataset: Dataset, fail_at: int):
        self.dataset, self.fail_at, self.calls = dataset, fail_at, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("simulated interruption")
        return self.dataset[index]


@pytest.fixture
def blobs():
    """``blobs(n, seed, flip=False)``: n two-class 1x8x8 images (labels flipped if ``flip``)."""
    return _blobs


@pytest.fixture
def tiny_cnn():
    """``tiny_cnn(seed=0, num_outputs=2, dropout=0.5)``: a small Ko CNN for 1x8x8 images."""
    return _tiny_cnn


@pytest.fixture
def state_bytes():
    """``state_bytes(module)``: the bytes of every tensor of its state dict, to compare exactly."""
    return _state_bytes


@pytest.fixture
def failing_after():
    """``failing_after(dataset, fail_at)``: raises KeyboardInterrupt at its ``fail_at``-th item."""
    return FailingAfter
