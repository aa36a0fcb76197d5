"""Datasets on disk: ``.npy`` shards plus a ``manifest.json``.

Layout of a dataset folder::

    manifest.json            shapes, dtypes, classes, parameter names, seed, per-shard counts
    images_00000.npy         float32 (n, C, H, W)
    labels_00000.npy         int64 class indices (classification) or float32 (n, L) (regression)
    params_00000.npz         every drawn parameter, arrays with leading dimension n
    shard_00000.json         written last: marks the shard complete

A signal folder (two-stage kinds: the survey-independent signal of the positive class) holds,
per shard, ``signal_00000.npy`` (the signals of that dataset shard's positive examples, in
order), ``signal_params_00000.npz`` and the same ``shard_00000.json`` marker.

Each file is written atomically and a shard counts as done only once its ``shard_*.json`` exists,
so a simulation killed half-way resumes at the first missing shard. Images are memory-mapped when
read, so datasets larger than memory train fine.

Every shard draws from its own generator, seeded by (seed, split, shard) only
(:func:`shard_rng`, :func:`signal_rng`): shards can be simulated in any order, anywhere, and a
figure can re-draw what a stored shard holds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lensbench.io.atomic import npy_bytes, npz_bytes, write_atomic, write_json

MANIFEST = "manifest.json"
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}
"""Each split's number in the seeds of its shards."""


def shard_rng(seed: int, split: str, shard: int) -> np.random.Generator:
    """The generator of one dataset shard: independent of every other shard, split and seed."""
    return np.random.default_rng([seed, SPLIT_CODES[split], shard])


def signal_rng(seed: int, split: str, shard: int) -> np.random.Generator:
    """The generator of one shard's signals, independent of the observation generator of that shard."""
    return np.random.default_rng([seed, SPLIT_CODES[split], shard, 1])


def shard_done(folder: Path, index: int) -> bool:
    """Whether shard ``index`` was written completely."""
    return (Path(folder) / f"shard_{index:05d}.json").is_file()


def _mark_done(folder: Path, index: int, n: int) -> None:
    """Write shard ``index``'s marker, last: from now on :func:`shard_done` is true."""
    write_json(Path(folder) / f"shard_{index:05d}.json", {"index": index, "n": n})


def _clear_leftovers(folder: Path, index: int) -> None:
    """Remove the temporary files an earlier attempt at shard ``index`` left when its process was
    killed mid-write (``.images_00003.npy.<hex>.tmp``), so the finished folder holds each file once."""
    for leftover in Path(folder).glob(f".*_{index:05d}.*.tmp"):
        leftover.unlink(missing_ok=True)


def write_shard(folder: Path, index: int, images: np.ndarray, labels: np.ndarray, params: dict[str, np.ndarray]) -> None:
    """Write one shard atomically (its marker file last).

    Parameters
    ----------
    images : ndarray, float32, shape (n, C, H, W)
    labels : ndarray, int64 (n,) or float32 (n, L)
    params : dict of ndarray, each with leading dimension n
    """
    folder = Path(folder)
    n = len(images)
    if len(labels) != n or any(len(v) != n for v in params.values()):
        raise ValueError("images, labels and every parameter array need the same leading dimension")
    _clear_leftovers(folder, index)
    write_atomic(folder / f"images_{index:05d}.npy", npy_bytes(images.astype(np.float32, copy=False)))
    write_atomic(folder / f"labels_{index:05d}.npy", npy_bytes(labels))
    write_atomic(folder / f"params_{index:05d}.npz", npz_bytes(params))
    _mark_done(folder, index, n)


def write_signal_shard(folder: Path, index: int, signal: np.ndarray, params: dict[str, np.ndarray]) -> None:
    """Write the signals of shard ``index`` atomically (its marker file last).

    Parameters
    ----------
    signal : ndarray, shape (n, ...)
        The survey-independent signals, e.g. (n, 2, npix) velocity maps [muas/yr].
    params : dict of ndarray, each with leading dimension n
    """
    folder = Path(folder)
    n = len(signal)
    if any(len(v) != n for v in params.values()):
        raise ValueError("the signals and every parameter array need the same leading dimension")
    _clear_leftovers(folder, index)
    write_atomic(folder / f"signal_{index:05d}.npy", npy_bytes(signal))
    write_atomic(folder / f"signal_params_{index:05d}.npz", npz_bytes(params))
    _mark_done(folder, index, n)


def load_signal(folder: Path, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The signals and parameters of shard ``index`` of a signal folder (:func:`write_signal_shard`)."""
    folder = Path(folder)
    signal = np.load(folder / f"signal_{index:05d}.npy")
    with np.load(folder / f"signal_params_{index:05d}.npz", allow_pickle=False) as data:
        params = {name: data[name] for name in data.files}
    return signal, params


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write ``manifest.json`` (call after every shard is done)."""
    write_json(Path(folder) / MANIFEST, manifest)


class ShardedDataset(Dataset):
    """A dataset folder as a torch ``Dataset`` of ``(image, label)``.

    Parameters
    ----------
    folder : Path
        A dataset folder with ``manifest.json``.
    transform : callable, optional
        Applied to each image tensor (C, H, W), e.g. a normalisation.
    """

    def __init__(self, folder: Path, transform=None):
        self.folder = Path(folder)
        self.manifest = json.loads((self.folder / MANIFEST).read_text())
        counts = [shard["n"] for shard in self.manifest["shards"]]
        self._offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._images = [None] * len(counts)
        self._labels = np.concatenate([np.load(self.folder / f"labels_{i:05d}.npy") for i in range(len(counts))])
        self.transform = transform

    @staticmethod
    def shard_count(folder: Path, index: int) -> int:
        """Number of images in shard ``index`` of ``folder`` (from its marker file)."""
        return int(json.loads((Path(folder) / f"shard_{index:05d}.json").read_text())["n"])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    @property
    def labels(self) -> np.ndarray:
        """Every label, in dataset order."""
        return self._labels

    @property
    def class_names(self) -> list[str]:
        """Class names (classification datasets)."""
        return list(self.manifest.get("classes", []))

    def _shard(self, index: int) -> np.ndarray:
        if self._images[index] is None:
            self._images[index] = np.load(self.folder / f"images_{index:05d}.npy", mmap_mode="r")
        return self._images[index]

    def __getitem__(self, i: int):
        image = torch.from_numpy(self._raw(i))
        if self.transform is not None:
            image = self.transform(image)
        label = self._labels[i]
        target = torch.as_tensor(label, dtype=torch.int64 if self._labels.dtype.kind in "iu" else torch.float32)
        return image, target

    def images(self, indices) -> np.ndarray:
        """Images at ``indices`` as one float32 array (N, C, H, W), without the transform."""
        return np.stack([self._raw(int(i)) for i in indices])

    def image_batches(self, size: int = 256):
        """Every image in order, ``size`` at a time (float32 (n, C, H, W), without the transform):
        a pass over a split that never holds all of it in memory."""
        for low in range(0, len(self), size):
            yield self.images(range(low, min(low + size, len(self))))

    def _raw(self, i: int) -> np.ndarray:
        """Image ``i`` (C, H, W) as a float32 copy, read from its memory-mapped shard."""
        shard = int(np.searchsorted(self._offsets, i, side="right") - 1)
        return np.array(self._shard(shard)[i - self._offsets[shard]], dtype=np.float32)

    def params(self) -> dict[str, np.ndarray]:
        """Every stored parameter, concatenated over shards."""
        parts: dict[str, list] = {}
        for i in range(len(self._images)):
            with np.load(self.folder / f"params_{i:05d}.npz", allow_pickle=False) as data:
                for name in data.files:
                    parts.setdefault(name, []).append(data[name])
        out = {}
        for name, arrays in parts.items():
            width = max((a.shape[1] if a.ndim > 1 else 0) for a in arrays)
            if width and any(a.ndim > 1 and a.shape[1] != width for a in arrays):  # ragged padding differs by shard
                arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=np.nan) for a in arrays]
            out[name] = np.concatenate(arrays)
        return out
