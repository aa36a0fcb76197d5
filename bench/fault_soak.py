"""Fault soak: SIGKILL ``lensbench run`` at random points, rerun it, and check that every rerun
finishes with the metrics of an uninterrupted run.

The run: ``specs/examples/nfw_detection.toml --preset smoke`` made smaller still by :data:`SETS`
(64/32/32 images per class in shards of 16, so a kill can land between shards; one epoch of
batches of 32), rendered eagerly (``LENSBENCH_NO_COMPILE=1``) on one thread per run. Trials run
``--parallel`` at a time (default 2, one per core of a laptop). Uninterrupted runs in fresh caches,
``--parallel`` of them at once (the load the trials run under), give the reference metrics (they
must agree) and the wall time T, the slowest of them. Then, ``--kills`` times: a fresh cache and
output folder, ``lensbench run`` started in its own process group, killed with SIGKILL (the whole
group) after a delay drawn uniformly in [0, T] (from ``--seed`` and the trial's number), and run
again in the same cache until it completes. A run that finished before its kill (the machine ran
faster than during the reference) is not a kill: it is started again in a fresh cache, with a new
delay below its own time. A trial counts as identical when the rerun's ``metrics.json`` holds the same metrics and
curves (loss curves: :data:`LOSS_CURVES`), to the last digit, as the reference.

Prints one line per trial and, last::

    RESULT fault_soak ratio=<identical final results / kills> agreement=<max metric difference>

where the difference is the largest absolute difference of any metric of any branch between a
rerun and the reference (0 when all are identical). With no arguments it takes about 3 minutes
on an idle 2-core machine. Exit status 1 when the ratio is below 1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = "specs/examples/nfw_detection.toml"
PRESET = "smoke"
SETS = ("data.n_train=64", "data.n_val=32", "data.n_test=32", "data.shard_size=16", "training.epochs=1",
        "training.batch_size=32", "report.examples_per_class=1")


def command(cache: Path, out: Path) -> list[str]:
    """The ``lensbench run`` command line of the soak's spec."""
    sets = [item for value in SETS for item in ("--set", value)]
    return [sys.executable, "-c", "from lensbench.cli import main; main()", "run", SPEC, "--preset", PRESET,
            *sets, "--cache", str(cache), "--out", str(out), "--no-progress"]


def environment() -> dict[str, str]:
    """This environment, rendering eagerly on one thread per process."""
    return {**os.environ, "LENSBENCH_NO_COMPILE": "1", "OMP_NUM_THREADS": "1"}


def run_to_completion(cache: Path, out: Path) -> float:
    """Run once, to the end; return its wall time [s]. Raises if the run fails."""
    started = time.perf_counter()
    result = subprocess.run(command(cache, out), cwd=REPO, env=environment(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"lensbench run failed ({result.returncode}):\n{result.stdout[-2000:]}"
                           f"{result.stderr[-2000:]}")
    return time.perf_counter() - started


def run_and_kill(cache: Path, out: Path, delay: float) -> bool:
    """Start a run and SIGKILL its process group after ``delay`` seconds; True if it was still
    running when killed."""
    process = subprocess.Popen(command(cache, out), cwd=REPO, env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        process.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return True


LOSS_CURVES = ("train_loss", "val_loss", "lr")
"""The loss curves compared; the others (epoch times) differ between any two runs."""


def metrics(out: Path) -> dict:
    """Per branch, the metrics and curves of a run's ``metrics.json`` (of the loss curves, those of
    :data:`LOSS_CURVES`)."""
    data = json.loads((out / "metrics.json").read_text())
    results = {}
    for name, branch in data["branches"].items():
        curves = dict(branch.get("curves") or {})
        loss = curves.pop("loss", {}) or {}
        curves["loss"] = {key: loss.get(key) for key in LOSS_CURVES}
        results[name] = {"metrics": branch.get("metrics"), "curves": curves}
    return results


def max_difference(a: dict, b: dict) -> float:
    """Largest absolute difference between numeric metrics of the same branch and name (inf when a
    branch or metric is missing on one side)."""
    worst = 0.0
    for name in set(a) | set(b):
        ma, mb = (a.get(name) or {}).get("metrics") or {}, (b.get(name) or {}).get("metrics") or {}
        for key in set(ma) | set(mb):
            x, y = ma.get(key), mb.get(key)
            if isinstance(x, (int, float)) and isinstance(y, (int, float)):
                worst = max(worst, abs(float(x) - float(y)))
            elif x != y:
                worst = float("inf")
    return worst


def trial(number: int, root: Path, seconds: float, seed: int, reference: dict, keep: bool) -> tuple[str, float, bool, int]:
    """Kill one run at a random point and rerun it to the end.

    Returns
    -------
    line : str
        What happened, for the log.
    difference : float
        :func:`max_difference` of the rerun's metrics from the reference.
    identical : bool
        Whether the rerun's metrics and curves equal the reference's.
    missed : int
        Runs that finished before their kill and were started again.
    """
    rng = random.Random(seed * 1000 + number)
    cache, out = root / f"cache_{number:02d}", root / f"out_{number:02d}"
    missed = 0
    while True:
        delay = rng.uniform(0.0, seconds)
        started = time.perf_counter()
        if run_and_kill(cache, out, delay):
            break
        missed += 1
        seconds = time.perf_counter() - started
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
    rerun = run_to_completion(cache, out)
    final = metrics(out)
    difference = max_difference(final, reference)
    identical = final == reference
    if not keep:
        shutil.rmtree(cache, ignore_errors=True)
    line = (f"kill {number + 1:2d}: at {delay:5.1f} s, rerun {rerun:5.1f} s, "
            f"{'identical' if identical else f'DIFFERENT by {difference:g}'}")
    return line, difference, identical, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="killed runs (each rerun to completion)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    parser.add_argument("--parallel", type=int, default=2, help="trials at a time (one thread each)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the caches and reports here")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="fault_soak_")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        # import once first, so that the reference time T is not inflated by byte-compiling
        subprocess.run([sys.executable, "-c", "import lensbench.cli"], cwd=REPO, env=environment(), check=True)
        with ThreadPoolExecutor(args.parallel) as pool:
            folders = [(root / f"reference_cache_{i}", root / f"reference_{i}") for i in range(args.parallel)]
            seconds = max(pool.map(lambda folder: run_to_completion(*folder), folders))
            references = [metrics(out) for _, out in folders]
            if any(other != references[0] for other in references[1:]):
                print("the uninterrupted reference runs disagree", flush=True)
                return 1
            reference = references[0]
            print(f"reference runs ({args.parallel} at once): {seconds:.1f} s; {SPEC} --preset {PRESET} "
                  f"--set {' '.join(SETS)}", flush=True)
            identical, worst, missed = 0, 0.0, 0
            runs = [pool.submit(trial, number, root, seconds, args.seed, reference, args.keep is not None)
                    for number in range(args.kills)]
            for run in runs:
                line, difference, same, retried = run.result()
                print(line, flush=True)
                identical, worst, missed = identical + same, max(worst, difference), missed + retried
        if missed:
            print(f"{missed} runs finished before their kill and were started again", flush=True)
        ratio = identical / args.kills
        print(f"wall time {time.perf_counter() - started:.0f} s", flush=True)
        print(f"RESULT fault_soak ratio={ratio:g} agreement={worst:g}")
        return 0 if ratio == 1 else 1
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
