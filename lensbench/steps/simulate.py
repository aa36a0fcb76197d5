"""The simulate step: render one split of a dataset, shard by shard, resumably."""

from __future__ import annotations

import math

import numpy as np
from tqdm.auto import tqdm

from lensbench.execution import ExecutionConfig, run_tasks
from lensbench.simulate.register import SIMULATION_KINDS
from lensbench.simulate.store import ShardedDataset, load_signal, shard_done, shard_rng, write_manifest, write_shard
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.tasks import TASKS


def positive_count(lo: int, hi: int, n_classes: int) -> int:
    """How many of the examples ``lo..hi-1`` belong to the last (positive) class; example ``j``
    belongs to class ``j % n_classes``."""
    return int(np.sum(np.arange(lo, hi) % n_classes == n_classes - 1))


def _merge_params(parts: list[tuple[np.ndarray, dict[str, np.ndarray]]], n: int) -> dict[str, np.ndarray]:
    """Scatter per-class parameter dicts into arrays of length ``n``.

    A parameter that some class lacks (the halo's scale radius in the no-halo class) or that is
    padded to different widths is stored as float64 with NaN where it has no value.
    """
    names = sorted({name for _, params in parts for name in params})
    out = {}
    for name in names:
        arrays = [(where, np.asarray(params[name])) for where, params in parts if name in params]
        trailing = tuple(max(a.shape[d] for _, a in arrays) for d in range(1, arrays[0][1].ndim))
        complete = sum(len(w) for w, _ in arrays) == n and all(a.shape[1:] == trailing for _, a in arrays)
        dtype = np.result_type(*[a.dtype for _, a in arrays]) if complete else np.dtype(np.float64)
        merged = np.full((n,) + trailing, np.nan if dtype.kind == "f" else 0, dtype=dtype)
        for where, array in arrays:
            merged[(where,) + tuple(slice(0, s) for s in array.shape[1:])] = array
        out[name] = merged
    return out


@STEP_KINDS.register("simulate")
class SimulateStep:
    """Render ``n`` images per class (or ``n`` in total for regression) of one split."""

    VERSION = 1
    CACHED = True
    COMPILE_IN_KEY = True  # compiled and eager kernels differ in the last bits

    @staticmethod
    def params(spec, split: str) -> dict:
        """The configuration that determines this split's bytes."""
        data = spec.data
        return {
            "kind": spec.simulation_kind,
            "simulation": spec.simulation,
            "survey": spec.survey,
            "split": split,
            "n": {"train": data.n_train, "val": data.n_val, "test": data.n_test}[split],
            "classes": list(data.classes) if TASKS.get(spec.experiment.task).labels == "classes" else [],
            "labels": list(data.labels),
            "label_scale": dict(data.label_scale),
            "shard_size": data.shard_size,
            "seed": spec.experiment.seed,
        }

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        classes = p["classes"] or [None]
        total = p["n"] * len(classes) if p["classes"] else p["n"]
        n_shards = math.ceil(total / p["shard_size"])
        pending = [s for s in range(n_shards) if not shard_done(ctx.work, s)]
        if len(pending) < n_shards:
            ctx.log.info("resuming: %d of %d shards already written", n_shards - len(pending), n_shards)
        bar = tqdm(total=total, desc=ctx.step_id, unit="img", disable=not ctx.progress, leave=False)
        bar.update(sum(ShardedDataset.shard_count(ctx.work, s) for s in range(n_shards) if s not in pending))
        signal_dir = ctx.inputs.get("signal")

        def done(result):
            shard, count = result
            ctx.log.info("shard %d: %d images", shard, count)
            bar.update(count)

        execution = ctx.extra["execution"]  # where and how fast shards run does not change their bytes: not in the key
        run_tasks(simulate_shard, [(p, shard, total, ctx.work, signal_dir, execution) for shard in pending],
                  execution, on_done=done)
        bar.close()
        first = np.load(ctx.work / "images_00000.npy", mmap_mode="r")
        image_shape = list(first.shape[1:])
        counts = [ShardedDataset.shard_count(ctx.work, i) for i in range(n_shards)]
        manifest = {
            "n": total,
            "image_shape": image_shape,
            "dtype": "float32",
            "task": "classify" if p["classes"] else "regress",
            "classes": p["classes"],
            "labels": p["labels"],
            "label_scale": p["label_scale"],
            "kind": p["kind"],
            "split": p["split"],
            "seed": p["seed"],
            "shard_size": p["shard_size"],
            "shards": [{"index": i, "n": c} for i, c in enumerate(counts)],
        }
        write_manifest(ctx.work, manifest)
        return {"n": total, "shards": n_shards, "image_shape": image_shape}


def simulate_shard(p: dict, shard: int, total: int, work, signal_dir, execution: ExecutionConfig) -> tuple[int, int]:
    """Render and write shard ``shard`` of a split (any process may run it); returns (shard, images).

    Example ``j`` of the split belongs to class ``j % n_classes``; the shard's generator depends
    only on (seed, split, shard), so shards can run in any order, anywhere.
    """
    kind = SIMULATION_KINDS.get(p["kind"])
    classes = p["classes"] or [None]
    lo, hi = shard * p["shard_size"], min(total, (shard + 1) * p["shard_size"])
    rng = shard_rng(p["seed"], p["split"], shard)
    class_index = np.arange(lo, hi) % len(classes)
    images, parts = None, []
    for c, name in enumerate(classes):
        where = np.flatnonzero(class_index == c)
        if not len(where):
            continue
        if kind.simulate_batch is not None:
            batch, params = kind.simulate_batch(p["simulation"], p["survey"], name, len(where), rng, execution=execution)
        else:
            batch, params = _observe(kind, p, signal_dir, shard, c == len(classes) - 1, len(where), rng)
        if images is None:
            images = np.empty((hi - lo,) + batch.shape[1:], dtype=np.float32)
        images[where] = batch
        parts.append((where, params))
    params = _merge_params(parts, hi - lo)
    write_shard(work, shard, images, _labels(p, class_index, params), params)
    return shard, hi - lo


def _observe(kind, p: dict, signal_dir, shard: int, positive: bool, n: int, rng) -> tuple:
    """Images of a two-stage kind: the signal step's signals (positive class) or none, observed."""
    if positive:
        signal, params = load_signal(signal_dir, shard)
        if len(signal) != n:
            raise RuntimeError(f"signal shard {shard} holds {len(signal)} signals, expected {n}")
    else:
        signal, params = None, {}
    return kind.observe(p["simulation"], p["survey"], signal, n, rng), params


def _labels(p: dict, class_index: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    if p["classes"]:
        return class_index.astype(np.int64)
    columns = []
    for name in p["labels"]:
        if name not in params:
            raise KeyError(f"label '{name}' is not a simulated parameter; parameters: {', '.join(sorted(params))}")
        columns.append(np.asarray(params[name], dtype=np.float64) / p["label_scale"].get(name, 1.0))
    return np.stack(columns, axis=1).astype(np.float32)
