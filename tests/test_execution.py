"""lensbench.execution: the [execution] options and where tasks run."""

from __future__ import annotations

import dataclasses
import functools
import sys

import pytest

from lensbench.execution import NO_COMPILE_ENV, ExecutionConfig, run_tasks


def square_and_tag(x: int, tag: str) -> tuple[str, int]:
    """A module-level task (worker processes import it by name)."""
    return tag, x * x


def test_defaults_are_todays_speed_switches():
    config = ExecutionConfig()
    assert (config.backend, config.workers, config.address) == ("local", 1, "")
    assert config.compile is True and config.block_nside == 16 and config.chunk_pairs == 1 << 19
    minimums = {f.name: f.metadata.get("min") for f in dataclasses.fields(ExecutionConfig)}
    assert minimums == {"backend": None, "workers": 1, "address": None, "compile": None, "block_nside": 1,
                        "chunk_pairs": 1}


@pytest.mark.parametrize("options, message", [
    ({"backend": "slurm"}, "unknown backend 'slurm'; one of: local, dask"),
    ({"workers": 0}, "workers must be >= 1, got 0"),
    ({"block_nside": 12}, "block_nside must be a power of 2, got 12"),
    ({"chunk_pairs": 0}, "chunk_pairs must be >= 1, got 0"),
])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        ExecutionConfig(**options)


def test_environment_can_turn_compilation_off(monkeypatch):
    monkeypatch.delenv(NO_COMPILE_ENV, raising=False)
    assert ExecutionConfig().use_compile and not ExecutionConfig(compile=False).use_compile
    for value in ("1", "true", "YES", " on "):
        monkeypatch.setenv(NO_COMPILE_ENV, value)
        assert not ExecutionConfig().use_compile
    monkeypatch.setenv(NO_COMPILE_ENV, "0")
    assert ExecutionConfig().use_compile


def test_local_and_process_backends_give_the_same_results():
    tasks = [(x, f"t{x}") for x in range(6)]
    in_process, in_workers = [], []
    run_tasks(square_and_tag, tasks, ExecutionConfig(), on_done=in_process.append)
    run_tasks(square_and_tag, tasks, ExecutionConfig(workers=2), on_done=in_workers.append)
    assert in_process == [(f"t{x}", x * x) for x in range(6)]  # in order, in this process
    assert sorted(in_workers) == sorted(in_process)  # completion order in workers


# --- dask.distributed -------------------------------------------------------------------------

SPEC = "specs/examples/nfw_detection.toml"
SHARD_SIZE = 16  # the smoke test split (64 images) in 4 shards


def _simulate_test_split(cache_root, tmp_path, overrides=()):
    """Simulate the smoke preset's test split of :data:`SPEC`; return its cache folder."""
    from lensbench.cache import Cache
    from lensbench.plan import Plan, make_plan
    from lensbench.runner import run_plan
    from lensbench.spec import load_spec

    specs = load_spec(SPEC, preset="smoke", overrides=[f"data.shard_size={SHARD_SIZE}", *overrides])
    step = make_plan(specs).get("simulate:test")
    cache = Cache(cache_root)
    run_plan(Plan([step], specs), cache=cache, out_dir=tmp_path / "out", progress=False,
             echo=lambda *_: None)
    return cache.path("simulate", step.key)


def _files(folder) -> dict[str, bytes]:
    """Every file of a dataset folder by name, but the step's log and the cache entry's meta.json,
    which hold times."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())
            if path.name not in ("step.log", "meta.json")}


def crash_once_mid_shard(flags, p, shard, total, work, *rest):
    """``simulate_shard``, but the first attempt at shard 1 leaves half a file and kills its
    worker process (as a SIGKILL or a lost node would); every attempt is recorded in ``flags``."""
    import os
    import secrets
    from pathlib import Path

    from lensbench.steps.simulate import simulate_shard

    flags = Path(flags)
    (flags / f"attempt_{shard}_{secrets.token_hex(4)}").touch()
    if shard == 1:
        try:
            os.close(os.open(flags / "crashed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            pass
        else:  # what write_atomic leaves when its process dies mid-write
            (Path(work) / f".images_{shard:05d}.npy.{secrets.token_hex(8)}.tmp").write_bytes(b"\x93NUMPY")
            os._exit(1)
    return simulate_shard(p, shard, total, work, *rest)


@pytest.fixture(scope="module")
def dask_cluster():
    """A two-worker dask.distributed LocalCluster (one thread per worker), as an existing
    cluster a spec points at with ``[execution] address``."""
    distributed = pytest.importorskip("dask.distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # tests are not importable by name
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(NO_COMPILE_ENV, "1")  # workers render eagerly, as this process does in tests
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster:
            yield cluster


def test_dask_cluster_writes_the_same_bytes_as_the_local_backend(dask_cluster, tmp_path, in_repo):
    local = _simulate_test_split(tmp_path / "local", tmp_path)
    remote = _simulate_test_split(tmp_path / "dask", tmp_path, [
        'execution.backend="dask"', f'execution.address="{dask_cluster.scheduler_address}"'])
    assert local.name == remote.name  # where shards run is not part of the key
    local_files, remote_files = _files(local), _files(remote)
    assert len([name for name in local_files if name.startswith("images_")]) == 4
    assert remote_files == local_files


def test_a_worker_killed_mid_shard_gets_its_shard_redone_once(dask_cluster, tmp_path, in_repo,
                                                              monkeypatch):
    from lensbench.steps import simulate as simulate_step

    local = _files(_simulate_test_split(tmp_path / "local", tmp_path))
    flags = tmp_path / "flags"
    flags.mkdir()
    monkeypatch.setattr(simulate_step, "simulate_shard", functools.partial(crash_once_mid_shard,
                                                                           str(flags)))
    remote = _simulate_test_split(tmp_path / "dask", tmp_path, [
        'execution.backend="dask"', f'execution.address="{dask_cluster.scheduler_address}"'])
    attempts = sorted(path.name.rsplit("_", 1)[0] for path in flags.glob("attempt_*"))
    assert (flags / "crashed").exists()
    assert attempts == ["attempt_0", "attempt_1", "attempt_1", "attempt_2", "attempt_3"]
    assert _files(remote) == local  # no leftover of the killed attempt, no shard twice
