"""Where independent pieces of work (simulation shards) run: here, in local worker processes,
or on a dask.distributed cluster.

``[execution] backend = "local"`` with ``workers = 1`` runs shards one after another in this
process; ``workers > 1`` uses that many processes. ``backend = "dask"`` sends shards to a
dask.distributed cluster: the one at ``address`` (for example started by dask-jobqueue on SLURM)
or a LocalCluster of ``workers`` processes. Every shard writes its own files atomically and draws
from its own generator, so the data are the same bytes whichever backend runs them.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Callable, Iterable

from lensbench.errors import UsageError


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


def run_tasks(fn: Callable, tasks: Iterable[tuple], *, backend: str = "local", workers: int = 1, address: str = "",
              on_done: Callable | None = None, threads: int | None = None) -> None:
    """Call ``fn(*task)`` for every task; ``on_done(result)`` after each, in completion order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to other processes).
    tasks : iterable of tuple
        Its arguments, one tuple per call.
    backend : {"local", "dask"}
        See the module docstring.
    workers : int
        Processes (local) or LocalCluster workers (dask without ``address``).
    address : str
        Scheduler address of an existing dask cluster.
    threads : int, optional
        Torch threads of the in-process run (workers always use one each).
    """
    tasks = list(tasks)
    done = on_done or (lambda _: None)
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
