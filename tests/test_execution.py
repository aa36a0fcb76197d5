"""lensbench.execution: the [execution] options and where tasks run."""

from __future__ import annotations

import dataclasses

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
