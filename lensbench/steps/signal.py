"""The signal step: survey-independent signal of the positive class, shared by every survey.

For simulators with two stages (astrometric maps: the lensing signal of a subhalo population does
not depend on the quasar survey), this step simulates the signal of each shard's positive-class
examples once; every survey scenario's ``simulate`` step then observes the same signals. Its
cache key holds no survey settings, so a grid over five scenarios simulates the signal once.

Shard ``i`` here holds the signals of the positive-class examples of ``simulate`` shard ``i``,
stored by :func:`lensbench.simulate.store.write_signal_shard` (read them with
:func:`lensbench.simulate.store.load_signal`).
"""

from __future__ import annotations

import math

from tqdm.auto import tqdm

from lensbench.execution import ExecutionConfig, run_tasks
from lensbench.simulate.register import SIMULATION_KINDS
from lensbench.simulate.store import shard_done, signal_rng, write_signal_shard
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.simulate import SimulateStep, positive_count


@STEP_KINDS.register("signal")
class SignalStep:
    """Simulate the positive-class signals of one split, shard by shard, resumably."""

    VERSION = 2  # 2: series velocity kernel, banded search (same maps to ~1e-13, other bits)
    CACHED = True
    COMPILE_IN_KEY = True  # compiled and eager kernels differ in the last bits

    @staticmethod
    def params(spec, split: str) -> dict:
        """The simulate step's configuration less the survey (and labels): what the signal depends on."""
        full = SimulateStep.params(spec, split)
        signal_part = SIMULATION_KINDS.get(full["kind"]).signal_part
        if signal_part is not None:  # options of the observation only (e.g. the projection) stay out of the key
            full["simulation"] = signal_part(full["simulation"])
        return {key: full[key] for key in ("kind", "simulation", "split", "n", "classes", "shard_size", "seed")}

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p = ctx.params
        total = p["n"] * len(p["classes"])
        n_shards = math.ceil(total / p["shard_size"])
        counts = [positive_count(s * p["shard_size"], min(total, (s + 1) * p["shard_size"]), len(p["classes"]))
                  for s in range(n_shards)]
        bar = tqdm(total=sum(counts), desc=ctx.step_id, unit="map", disable=not ctx.progress, leave=False)
        bar.update(sum(c for s, c in enumerate(counts) if shard_done(ctx.work, s)))

        def done(result):
            shard, count = result
            ctx.log.info("shard %d: %d signals", shard, count)
            bar.update(count)

        execution = ctx.extra["execution"]  # where and how fast shards run does not change their bytes: not in the key
        tasks = [(p, shard, count, ctx.work, execution) for shard, count in enumerate(counts)
                 if not shard_done(ctx.work, shard)]
        # one thread: the signal engine's compiled kernel ran 6x slower with two threads than with one,
        # even on an idle 2-core machine; use [execution] workers to occupy more cores
        run_tasks(signal_shard, tasks, execution, on_done=done, threads=1)
        bar.close()
        return {"n": sum(counts), "shards": n_shards}


def signal_shard(p: dict, shard: int, count: int, work, execution: ExecutionConfig) -> tuple[int, int]:
    """Simulate and write the ``count`` signals of shard ``shard`` (any process may run it)."""
    kind = SIMULATION_KINDS.get(p["kind"])
    rng = signal_rng(p["seed"], p["split"], shard)
    signal, params = kind.simulate_signal(p["simulation"], count, rng, execution=execution)
    write_signal_shard(work, shard, signal, params)
    return shard, count
