"""How the engine runs, as opposed to what it computes: ``[execution]``.

Where independent pieces of work (simulation shards) run: here, in local worker processes, or on
a dask.distributed cluster. ``backend = "local"`` with ``workers = 1`` runs shards one after
another in this process; ``workers > 1`` uses that many processes. ``backend = "dask"`` sends
shards to a dask.distributed cluster: the one at ``address`` (for example started by
dask-jobqueue on SLURM) or a LocalCluster of ``workers`` processes. Every shard writes its own
files atomically and draws from its own generator, so the data are the same bytes whichever
backend runs them.

And the speed switches of the simulators (torch.compile, the astrometric engine's tiling and
chunks). None of it is part of a cache key: changing it never re-simulates.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal

from lensbench.errors import UsageError

NO_COMPILE_ENV = "LENSBENCH_NO_COMPILE"
"""Environment variable: ``1`` (or ``true``/``yes``/``on``) turns torch.compile off on this machine,
whatever ``[execution] compile`` says (the test suite sets it: its tiny smoke runs would spend
longer compiling than rendering)."""

BACKENDS = ("local", "dask")


@dataclass(frozen=True)
class ExecutionConfig:
    """``[execution]``: where simulation shards run and how fast the simulators go.

    Parameters
    ----------
    backend : {"local", "dask"}
        Local processes or a dask.distributed cluster (see the module docstring).
    workers : int
        Processes (local) or LocalCluster workers (dask without ``address``); 1 runs in this process.
    address : str
        Scheduler address of an existing dask cluster.
    compile : bool
        Run the simulators' kernels through torch.compile: the strong-lensing renderer
        (~2.5x faster after 2-3 s of compilation per scene layout) and the astrometric map engine
        (~15x faster maps after 15-45 s once per process; worth it beyond ~20 maps). Needs a C++
        compiler. False runs them eagerly (see also :data:`NO_COMPILE_ENV`).
    block_nside : int
        HEALPix nside of the NESTED blocks the astrometric map engine tiles its grid into (a power
        of 2 that divides ``[simulation] nside``).
    chunk_pairs : int
        Subhalo-pixel pairs the eager astrometric engine evaluates per chunk (memory only: it holds
        tens of float64 temporaries per pair). The compiled engine runs each pass in one call.
    """

    backend: Literal["local", "dask"] = "local"
    workers: int = field(default=1, metadata={"min": 1})
    address: str = ""
    compile: bool = True
    block_nside: int = field(default=16, metadata={"min": 1})
    chunk_pairs: int = field(default=1 << 19, metadata={"min": 1})

    def __post_init__(self):
        problems = []
        if self.backend not in BACKENDS:
            problems.append(f"unknown backend '{self.backend}'; one of: {', '.join(BACKENDS)}")
        if self.workers < 1:
            problems.append(f"workers must be >= 1, got {self.workers}")
        if self.block_nside < 1 or self.block_nside & (self.block_nside - 1):
            problems.append(f"block_nside must be a power of 2, got {self.block_nside}")
        if self.chunk_pairs < 1:
            problems.append(f"chunk_pairs must be >= 1, got {self.chunk_pairs}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def use_compile(self) -> bool:
        """``compile``, unless :data:`NO_COMPILE_ENV` turns compilation off on this machine."""
        return self.compile and os.environ.get(NO_COMPILE_ENV, "").strip().lower() not in {"1", "true", "yes", "on"}


def _single_threaded(fn: Callable, *args):
    """Run ``fn`` in a worker with one torch thread (workers share the machine's cores)."""
    import torch

    torch.set_num_threads(1)
    return fn(*args)


@contextmanager
def torch_threads(n: int | None):
    """Run the body with ``n`` torch CPU threads (unchanged when None), then restore the count."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_tasks(fn: Callable, tasks: Iterable[tuple], execution: ExecutionConfig = ExecutionConfig(), *,
              on_done: Callable | None = None, threads: int | None = None) -> None:
    """Call ``fn(*task)`` for every task where ``execution`` says; ``on_done(result)`` after each,
    in completion order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to other processes).
    tasks : iterable of tuple
        Its arguments, one tuple per call.
    execution : ExecutionConfig
        Backend, workers and address (see the module docstring).
    on_done : callable, optional
        Called with each result.
    threads : int, optional
        Torch threads of the in-process run (workers always use one each).
    """
    tasks = list(tasks)
    done = on_done or (lambda _: None)
    backend, workers, address = execution.backend, execution.workers, execution.address
    if backend == "local" and workers == 1:
        with torch_threads(threads):
            for task in tasks:
                done(fn(*task))
        return
    if backend == "local":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_single_threaded, fn, *task) for task in tasks]
            for future in as_completed(futures):
                done(future.result())
        return
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError:
        raise UsageError("[execution] backend = \"dask\" needs dask.distributed: pip install 'lensbench[dask]'") from None
    cluster = None if address else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
    with Client(address or cluster) as client:
        futures = [client.submit(_single_threaded, fn, *task, pure=False) for task in tasks]
        for future in dask_completed(futures):
            done(future.result())
    if cluster is not None:
        cluster.close()
