"""lensbench.training.distributed: data-parallel training under torchrun (2 CPU processes, gloo).

Two processes train a tiny CNN (no dropout) on the batches one process would use; their loss
curve must equal the single process's within a relative 1e-5: the only difference is the order in
which float32 gradients are summed (two half-batch sums averaged by DistributedDataParallel, one
whole-batch sum in one process), a few float32 epsilons (1.2e-7) per step over ~30 Adam steps
(measured: 4e-7).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from lensbench.training.distributed import RankBatches, Ranks, check_batches, ranks_from_environment

WORKER = Path(__file__).with_name("ddp_worker.py")
RTOL = 1e-5


def _worker():
    spec = importlib.util.spec_from_file_location("ddp_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torchrun(out: Path, epochs: int) -> None:
    env = {key: value for key, value in os.environ.items()
           if key not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(WORKER), str(out), str(epochs)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _read(out: Path, name: str):
    return json.loads((out / name).read_text())


def _batches(indices: list[int], sizes: list[int]) -> list[list[int]]:
    starts = np.cumsum([0] + sizes)
    return [indices[a:b] for a, b in zip(starts[:-1], starts[1:])]


def test_two_processes_follow_one_process_and_resume(tmp_path):
    worker = _worker()
    single, parallel = tmp_path / "single", tmp_path / "parallel"
    single.mkdir()
    parallel.mkdir()
    worker.main(single, 4)
    _torchrun(parallel, 2)
    # only rank 0 wrote checkpoints; every rank read its part of each single-process batch
    assert sorted(path.name for path in parallel.glob("writer_*")) == ["writer_0"]
    assert sorted(path.name for path in (parallel / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    n_batches = -(-worker.N_TRAIN // worker.BATCH)
    whole = [worker.BATCH] * (n_batches - 1) + [worker.N_TRAIN - worker.BATCH * (n_batches - 1)]
    halves = [[len(part) for part in np.array_split(np.arange(size), 2)] for size in whole]
    one = _batches(_read(single, "indices_0.json"), whole * 4)
    ranks = [_batches(_read(parallel, f"indices_{rank}.json"), [h[rank] for h in halves] * 2)
             for rank in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == one[:2 * n_batches]
    assert halves[0] == [8, 7]
    # the loss curve of the first two epochs, then of a 2-process run resumed to four epochs
    reference = _read(single, "history_0.json")
    first = _read(parallel, "history_0.json")
    np.testing.assert_allclose(first["train_loss"], reference["train_loss"][:2], rtol=RTOL)
    (parallel / "writer_0").unlink()
    _torchrun(parallel, 4)
    resumed = [_read(parallel, f"history_{rank}.json") for rank in (0, 1)]
    for history in resumed:
        history.pop("epoch_seconds")
    assert resumed[0] == resumed[1]  # every rank agrees on losses, best epoch, early stopping
    assert len(resumed[0]["train_loss"]) == 4 and resumed[0]["train_loss"][:2] == first["train_loss"]
    for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
        np.testing.assert_allclose(resumed[0][key], reference[key], rtol=RTOL, err_msg=key)
    assert resumed[0]["best_epoch"] == reference["best_epoch"]
    assert sorted(path.name for path in parallel.glob("writer_*")) == ["writer_0"]
    # the resumed run read only epochs 3 and 4
    assert len(_read(parallel, "indices_1.json")) == 2 * sum(h[1] for h in halves)


def test_rank_batches_split_the_single_process_batches():
    data = TensorDataset(torch.arange(24))
    single = [batch[0].tolist() for batch in DataLoader(data, batch_size=7, shuffle=True,
                                                        generator=torch.Generator().manual_seed(5))]
    parts = []
    for rank in range(3):  # as fit loads them: the loader draws its base seed from the generator too
        generator = torch.Generator().manual_seed(5)
        loader = DataLoader(data, batch_sampler=RankBatches(data, 7, generator, Ranks(rank, 3)),
                            generator=generator)
        parts.append([batch[0].tolist() for batch in loader])
    assert [a + b + c for a, b, c in zip(*parts)] == single
    assert [len(part) for part in parts[0]] == [3, 3, 3, 1]
    assert len(RankBatches(data, 7, torch.Generator(), Ranks(0, 3))) == 4


def test_batches_too_small_for_the_processes_are_refused():
    check_batches(100, 15, Ranks(0, 2))
    with pytest.raises(ValueError, match="leaves a last batch of 1"):
        check_batches(31, 15, Ranks(0, 2))
    with pytest.raises(ValueError, match="batch_size 2 with"):
        check_batches(10, 2, Ranks(1, 4))


def test_ranks_come_from_torchrun_environment(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert ranks_from_environment() == Ranks() and not Ranks().parallel and Ranks().writes
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    assert ranks_from_environment() == Ranks(2, 4, 2)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK in 0..3"):
        ranks_from_environment()
