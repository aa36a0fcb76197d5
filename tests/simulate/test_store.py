"""lensbench.simulate.store: datasets and signals as ``.npy`` shards, completion markers, a manifest, seeds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lensbench.simulate.store import (
    MANIFEST,
    ShardedDataset,
    load_signal,
    shard_done,
    shard_rng,
    signal_rng,
    write_manifest,
    write_shard,
    write_signal_shard,
)

SHAPE = (2, 4, 6)  # (C, H, W)


def images(first: int, n: int) -> np.ndarray:
    """``n`` images whose every pixel holds the image's index in the dataset, from ``first``."""
    return np.broadcast_to(np.arange(first, first + n, dtype=np.float32)[:, None, None, None], (n, *SHAPE)).copy()


def write_dataset(folder, counts=(3, 2), classes=("no_halo", "halo")) -> None:
    """Shards of ``counts`` images (labels alternate between classes) and the manifest."""
    first = 0
    for index, n in enumerate(counts):
        labels = np.arange(first, first + n, dtype=np.int64) % len(classes)
        write_shard(folder, index, images(first, n), labels, {"mass": np.arange(first, first + n, dtype=np.float64)})
        first += n
    write_manifest(folder, {"n": first, "classes": list(classes),
                            "shards": [{"index": i, "n": n} for i, n in enumerate(counts)]})


def test_a_shard_is_done_only_once_its_marker_is_written(tmp_path):
    assert not shard_done(tmp_path, 0)
    write_shard(tmp_path, 0, images(0, 2), np.zeros(2, np.int64), {})
    assert shard_done(tmp_path, 0) and not shard_done(tmp_path, 1)
    assert ShardedDataset.shard_count(tmp_path, 0) == 2

    (tmp_path / "shard_00000.json").unlink()  # data on disk but the shard was interrupted
    assert (tmp_path / "images_00000.npy").is_file()
    assert not shard_done(tmp_path, 0)


def test_write_shard_refuses_arrays_of_different_lengths(tmp_path):
    with pytest.raises(ValueError, match="same leading dimension"):
        write_shard(tmp_path, 0, images(0, 3), np.zeros(2, np.int64), {})
    with pytest.raises(ValueError, match="same leading dimension"):
        write_shard(tmp_path, 0, images(0, 3), np.zeros(3, np.int64), {"mass": np.zeros(4)})
    assert not shard_done(tmp_path, 0)


def test_the_dataset_reads_every_shard_in_order(tmp_path):
    write_dataset(tmp_path)
    assert (tmp_path / MANIFEST).is_file()
    data = ShardedDataset(tmp_path)
    assert len(data) == 5
    assert data.class_names == ["no_halo", "halo"]
    np.testing.assert_array_equal(data.labels, [0, 1, 0, 1, 0])
    for i in range(len(data)):
        image, label = data[i]
        assert image.dtype == torch.float32 and tuple(image.shape) == SHAPE
        assert torch.all(image == i), f"item {i} read from the wrong place"
        assert label.dtype == torch.int64 and int(label) == i % 2
    np.testing.assert_array_equal(data.params()["mass"], np.arange(5.0))


def test_images_keep_the_order_of_the_indices_and_skip_the_transform(tmp_path):
    write_dataset(tmp_path)
    data = ShardedDataset(tmp_path, transform=lambda image: image * 10)
    picked = data.images([4, 0, 3, 3])
    assert picked.dtype == np.float32 and picked.shape == (4, *SHAPE)
    np.testing.assert_array_equal(picked[:, 0, 0, 0], [4, 0, 3, 3])
    assert torch.all(data[4][0] == 40)


def test_regression_labels_come_back_as_float_targets(tmp_path):
    write_shard(tmp_path, 0, images(0, 2), np.array([[0.5, 1.0], [1.5, 2.0]], np.float32), {})
    write_manifest(tmp_path, {"n": 2, "shards": [{"index": 0, "n": 2}]})
    data = ShardedDataset(tmp_path)
    assert data.class_names == []
    image, target = data[1]
    assert target.dtype == torch.float32
    torch.testing.assert_close(target, torch.tensor([1.5, 2.0]))


def test_ragged_parameters_are_padded_with_nan_across_shards(tmp_path):
    """Per-subhalo parameters: shards can hold populations of different maximum size."""
    write_shard(tmp_path, 0, images(0, 1), np.zeros(1, np.int64), {"masses": np.array([[1.0, 2.0]])})
    write_shard(tmp_path, 1, images(1, 1), np.zeros(1, np.int64), {"masses": np.array([[3.0, 4.0, 5.0]])})
    write_manifest(tmp_path, {"n": 2, "shards": [{"index": 0, "n": 1}, {"index": 1, "n": 1}]})
    masses = ShardedDataset(tmp_path).params()["masses"]
    np.testing.assert_array_equal(masses, [[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]])


def test_signal_shards_round_trip_with_their_marker_last(tmp_path):
    signal = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    params = {"n_subhalos": np.array([4, 5, 6]), "top_m200": np.full((3, 2), np.nan)}
    write_signal_shard(tmp_path, 1, signal, params)
    assert shard_done(tmp_path, 1) and not shard_done(tmp_path, 0)
    assert ShardedDataset.shard_count(tmp_path, 1) == 3
    loaded, loaded_params = load_signal(tmp_path, 1)
    assert loaded.dtype == np.float32 and loaded.tobytes() == signal.tobytes()
    assert set(loaded_params) == set(params)
    np.testing.assert_array_equal(loaded_params["n_subhalos"], params["n_subhalos"])
    np.testing.assert_array_equal(loaded_params["top_m200"], params["top_m200"])
    with pytest.raises(ValueError, match="same leading dimension"):
        write_signal_shard(tmp_path, 2, signal, {"n_subhalos": np.zeros(2)})
    assert not shard_done(tmp_path, 2)


def test_shard_generators_depend_on_seed_split_and_shard_only():
    draw = lambda rng: rng.random(4).tolist()  # noqa: E731
    assert draw(shard_rng(3, "test", 1)) == draw(shard_rng(3, "test", 1))
    streams = [draw(shard_rng(3, "test", 1)), draw(shard_rng(4, "test", 1)), draw(shard_rng(3, "val", 1)),
               draw(shard_rng(3, "test", 2)), draw(signal_rng(3, "test", 1))]
    assert len({tuple(stream) for stream in streams}) == len(streams)
    # the seeds are a data convention: stored datasets are re-drawn from them (e.g. Vattis+21 Fig 3)
    assert draw(signal_rng(3, "test", 1)) == draw(np.random.default_rng([3, 2, 1, 1]))
