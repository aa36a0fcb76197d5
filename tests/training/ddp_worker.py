"""Trains a tiny CNN with :func:`lensbench.training.fit` for tests/training/test_distributed.py.

Run as ``python ddp_worker.py OUT EPOCHS`` (one process) or under
``torchrun --nproc_per_node 2 ddp_worker.py OUT EPOCHS``. Writes, into OUT: ``history_<rank>.json``
(the History), ``indices_<rank>.json`` (the training examples this rank read, in order) and
``writer_<rank>`` when this rank called the checkpoint writer; checkpoints go to OUT/checkpoints.
Not a test module: pytest does not collect it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from lensbench.models import build_model
from lensbench.training import Supervised, TrainConfig, fit
from lensbench.training import loop

N_TRAIN, N_VAL, BATCH = 100, 40, 15  # batches of 15 split 8 + 7 over two ranks; the last one 5 + 5


def blobs(n: int, seed: int) -> TensorDataset:
    """1x8x8 images: class 1 has mean +0.5, class 0 mean -0.5, unit Gaussian noise per pixel."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.normal(size=(n, 1, 8, 8)) + (labels[:, None, None, None] - 0.5)
    return TensorDataset(torch.from_numpy(images).float(), torch.from_numpy(labels).long())


class Recording(Dataset):
    """A dataset that records which examples were read, in order."""

    def __init__(self, dataset: Dataset):
        self.dataset, self.read = dataset, []

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        self.read.append(int(index))
        return self.dataset[index]


def main(out: Path, epochs: int) -> None:
    """Train for ``epochs`` (continuing from OUT/checkpoints if there) and write OUT's files."""
    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    real_writer = loop.write_checkpoints

    def recording_writer(*args, **kwargs):
        (out / f"writer_{rank}").touch()
        real_writer(*args, **kwargs)

    loop.write_checkpoints = recording_writer
    train = Recording(blobs(N_TRAIN, 0))
    model = build_model("cnn", in_channels=1, num_outputs=2, input_size=(8, 8), seed=3,
                        channels=(4, 8, 8), hidden=16, dropout=0.0)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=1e-2, seed=3)
    try:
        history = fit(model, train, blobs(N_VAL, 1), config, objective=Supervised("classify"),
                      checkpoint_dir=out / "checkpoints", progress=False)
    finally:
        loop.write_checkpoints = real_writer
    (out / f"history_{rank}.json").write_text(json.dumps(history.to_dict()))
    (out / f"indices_{rank}.json").write_text(json.dumps(train.read))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
