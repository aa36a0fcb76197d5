"""Data-parallel training over several processes, as ``torchrun`` starts them.

Under ``torchrun --nproc_per_node N`` (environment ``WORLD_SIZE`` > 1, with ``RANK``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``), :func:`lensbench.training.fit` trains the
model wrapped in :class:`torch.nn.parallel.DistributedDataParallel`:

- every rank draws the same global batch order as a single process with the same seed (the same
  :class:`~torch.utils.data.RandomSampler` on the same generator) and takes its contiguous part of
  each global batch (:class:`RankBatches`), so the N ranks together see exactly the
  single-process batches;
- each rank's loss is weighted by its share of the global batch before the gradients are averaged
  (:func:`gradient_weight`), so the averaged gradient is the gradient of the global batch's mean
  loss even when the last batch does not split evenly;
- epoch losses and statistics are summed over the ranks (:func:`sum_over_ranks`); every rank
  evaluates the whole validation set, so all ranks agree on the best epoch and on early stopping;
- only rank 0 writes checkpoints; every rank resumes from them.

Backends: gloo on CPU, NCCL on CUDA (one GPU per process, ``cuda:LOCAL_RANK``). On CUDA the
BatchNorm layers become :class:`~torch.nn.SyncBatchNorm`, which normalises over the global batch;
torch has no CPU SyncBatchNorm, so on CPU a BatchNorm model (ResNet) normalises by each rank's
part of the batch and its curve departs slightly from a single process's. Dropout masks are drawn
on every rank from the same seeded generator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, Dataset, RandomSampler, Sampler


@dataclass(frozen=True)
class Ranks:
    """Which process of a data-parallel run this is.

    Parameters
    ----------
    rank : int
        0-based index of this process among all of them (``RANK``).
    world_size : int
        Number of processes (``WORLD_SIZE``); 1 is ordinary single-process training.
    local_rank : int
        Index of this process on its machine (``LOCAL_RANK``): its GPU on CUDA.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def parallel(self) -> bool:
        """True when training is spread over more than one process."""
        return self.world_size > 1

    @property
    def writes(self) -> bool:
        """True for the one process that writes checkpoints (rank 0)."""
        return self.rank == 0


def ranks_from_environment() -> Ranks:
    """The :class:`Ranks` torchrun's environment variables describe; a single process without them.

    Raises
    ------
    ValueError
        For a ``WORLD_SIZE`` > 1 without a valid ``RANK``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size <= 1:
        return Ranks()
    rank = int(os.environ.get("RANK", "-1"))
    if not 0 <= rank < world_size:
        raise ValueError(f"WORLD_SIZE={world_size} needs RANK in 0..{world_size - 1}, got "
                         f"{os.environ.get('RANK')!r}")
    return Ranks(rank, world_size, int(os.environ.get("LOCAL_RANK", rank)))


def join(ranks: Ranks, device: str) -> str:
    """Join the process group (gloo on CPU, NCCL on CUDA) unless already in one; return the device
    this rank trains on (``cuda:LOCAL_RANK`` on CUDA).

    Raises
    ------
    ValueError
        If an existing process group has another size than ``ranks``.
    """
    on_cuda = str(device).startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if on_cuda else "gloo", init_method="env://",
                                rank=ranks.rank, world_size=ranks.world_size)
    elif dist.get_world_size() != ranks.world_size:
        raise ValueError(f"the process group has {dist.get_world_size()} processes, WORLD_SIZE says "
                         f"{ranks.world_size}")
    if on_cuda:
        torch.cuda.set_device(ranks.local_rank)
        return f"cuda:{ranks.local_rank}"
    return device


def check_batches(n: int, batch_size: int, ranks: Ranks) -> None:
    """Refuse a split in which some rank would get no example of a global batch.

    Raises
    ------
    ValueError
        If ``batch_size`` or the last, partial batch of ``n`` examples holds fewer examples than
        there are ranks.
    """
    last = n % batch_size
    if batch_size < ranks.world_size or 0 < last < ranks.world_size:
        raise ValueError(f"{ranks.world_size} processes need at least {ranks.world_size} examples "
                         f"in every batch: batch_size {batch_size} with {n} training examples leaves "
                         f"a last batch of {last or batch_size}; change batch_size or the number of "
                         "processes")


class RankBatches(Sampler):
    """This rank's contiguous part of every global batch of a shuffled batch order.

    The global batches are those a single process's ``DataLoader(shuffle=True,
    generator=generator)`` draws (the same sampler classes on the same generator); a batch of
    ``b`` examples is split as :func:`torch.tensor_split` splits it, parts differing by at most one.
    """

    def __init__(self, dataset: Dataset, batch_size: int, generator: torch.Generator, ranks: Ranks):
        self.batches = BatchSampler(RandomSampler(dataset, generator=generator), batch_size,
                                    drop_last=False)
        self.ranks = ranks

    def __iter__(self):
        for batch in self.batches:
            yield torch.tensor_split(torch.as_tensor(batch), self.ranks.world_size)[self.ranks.rank].tolist()

    def __len__(self) -> int:
        return len(self.batches)


def wrap(model: nn.Module, ranks: Ranks, device: str) -> nn.Module:
    """``model`` inside DistributedDataParallel (its BatchNorm layers synchronised on CUDA)."""
    if str(device).startswith("cuda"):
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[ranks.local_rank])
    return nn.parallel.DistributedDataParallel(model)


def sum_over_ranks(values: list[float]) -> list[float]:
    """Element-wise sums of ``values`` over all ranks (float64)."""
    total = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def gradient_weight(count: int, ranks: Ranks) -> float:
    """Factor on this rank's mean batch loss so that averaging the ranks' gradients gives the
    gradient of the global batch's mean loss: ``count * world_size / global_count``."""
    (global_count,) = sum_over_ranks([float(count)])
    return count * ranks.world_size / global_count


def average_gradients(modules: list[nn.Module], ranks: Ranks) -> None:
    """Average the gradients of ``modules`` (trained outside DistributedDataParallel, e.g. an
    objective's own modules) over the ranks, as DistributedDataParallel does for the model."""
    for module in modules:
        for parameter in module.parameters():
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad)
                parameter.grad /= ranks.world_size


def barrier(ranks: Ranks) -> None:
    """Wait for every rank (a no-op for a single process)."""
    if ranks.parallel:
        dist.barrier()
