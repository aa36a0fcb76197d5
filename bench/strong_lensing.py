"""Speed and agreement of the two strong-lensing renderers, measured side by side in one run.

Scenes (DeepLense-like, Euclid/HST-like grid): 64x64 pixels of 0.08", SIE (theta_E ~ 1.28") +
external shear + K NFW subhalos (1e7-1e10 Msun, c = 15, z_l = 0.5, z_s = 1.0, 0.25"-2" from the
centre) + Sersic source + Gaussian PSF (FWHM 0.1") + Poisson/background noise (numpy, identical
for both backends), for K = 0, 25 and 100.

lenstronomy builds one ImageModel per image (how dataset generators use it); torch renders
batches in float32 with torch.compile (compile time reported separately, not in images/s).
One worker process per torch thread setting (1 and the default) alternates the two backends
for each K (best of 3 each, so both see the same load on a shared machine), with a fixed glibc mmap threshold so that freed
buffers leave the resident set; peak memory is the growth of the peak resident set (VmHWM,
reset just before the timed rendering; covers torch's allocator), and tracemalloc's peak
(numpy/Python allocations) is reported beside it.

Usage: ``python bench/strong_lensing.py`` (no arguments; < 5 min on 2 cores). Prints a table,
appends/replaces the "## strong_lensing" section of bench/RESULTS.md, and ends with one line
``RESULT strong_lensing ratio=... agreement=... ...``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from lensbench.physics.cosmology import lensing_distances, nfw_angles
from lensbench.simulate.backends import render_lenstronomy, render_torch
from lensbench.simulate.scene import Observation, Scene, Subhalos

OBSERVATION = Observation(npix=64, pixel_scale=0.08, supersampling=1, psf_fwhm=0.1)
SUBHALO_COUNTS = (0, 25, 100)
LENSTRONOMY_IMAGES = {0: 40, 25: 20, 100: 8}
TORCH_IMAGES = {0: 256, 25: 160, 100: 80}  # whole chunks (256, 40 and 10 images): no padded work
REPEATS = 3
EAGER_IMAGES = 32
WORKER_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}
EXPOSURE_S, BACKGROUND_COUNTS_S = 1000.0, 0.5
RESULTS = Path(__file__).with_name("RESULTS.md")


def make_scenes(n: int, subhalo_count: int, rng: np.random.Generator) -> Scene:
    """``n`` DeepLense-like systems with ``subhalo_count`` NFW subhalos each (arcsec, counts/s)."""
    lens = {
        "theta_E": rng.normal(1.28, 0.05, n),
        "e1": np.full(n, 0.1) + rng.normal(0, 0.02, n),
        "e2": rng.normal(0, 0.02, n),
        "center_x": rng.normal(0, 0.02, n),
        "center_y": rng.normal(0, 0.02, n),
    }
    angle = rng.uniform(0, 2 * np.pi, n)
    shear = {"gamma1": 0.05 * np.cos(2 * angle), "gamma2": 0.05 * np.sin(2 * angle)}
    source = {
        "amp": rng.uniform(20, 40, n),
        "R_sersic": np.full(n, 0.25),
        "n_sersic": np.ones(n),
        "e1": rng.uniform(-0.2, 0.2, n),
        "e2": rng.uniform(-0.2, 0.2, n),
        "center_x": rng.uniform(-0.35, 0.35, n),
        "center_y": rng.uniform(-0.35, 0.35, n),
    }
    planes = ()
    if subhalo_count:
        shape = (n, subhalo_count)
        masses = np.exp(rng.uniform(np.log(1e7), np.log(1e10), shape))
        Rs, alpha_Rs = nfw_angles(masses, np.full(shape, 15.0), lensing_distances(np.full(n, 0.5), 1.0))
        radius = np.sqrt(rng.uniform(0.25**2, 2.0**2, shape))
        phi = rng.uniform(0, 2 * np.pi, shape)
        params = {"Rs": Rs, "alpha_Rs": alpha_Rs, "center_x": radius * np.cos(phi), "center_y": radius * np.sin(phi)}
        planes = (Subhalos("nfw", params, np.ones(shape, dtype=bool)),)
    return Scene(n, "sie", lens, shear, None, planes, source, None)


def add_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise on source + sky counts for EXPOSURE_S seconds, returned in counts/s."""
    expected = np.clip(images + BACKGROUND_COUNTS_S, 0, None) * EXPOSURE_S
    return rng.poisson(expected) / EXPOSURE_S - BACKGROUND_COUNTS_S


def _peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmHWM in /proc/self/status")


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def measure(function):
    """Run ``function()``; return (result, seconds, peak RSS growth MiB or nan, tracemalloc peak MiB)."""
    can_reset = _reset_peak_rss()
    rss_before = _peak_rss_mib() if can_reset else float("nan")
    tracemalloc.start()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = _peak_rss_mib() - rss_before if can_reset else float("nan")
    return result, seconds, rss_growth, traced_peak / 2**20


def peak_relative(ours: np.ndarray, reference: np.ndarray) -> float:
    """max |ours - reference| / max |reference| (per image, then the worst image)."""
    worst = np.abs(ours - reference).reshape(len(ours), -1).max(axis=1)
    return float(np.max(worst / np.abs(reference).reshape(len(ours), -1).max(axis=1)))


def run_worker(threads: int, out_dir: Path) -> dict[int, dict]:
    """Measure both backends for every K in a fresh process, torch on ``threads`` threads."""
    command = [sys.executable, __file__, "--worker", str(threads), str(out_dir)]
    completed = subprocess.run(command, env=os.environ | WORKER_ENV, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"worker (threads={threads}) failed:\n{completed.stderr[-4000:]}")
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    return {int(count): result for count, result in measured.items()}


def worker(threads: int, out_dir: Path) -> dict[int, dict]:
    """Every K measured in this process (imports and compiler start-up paid once)."""
    torch.set_num_threads(threads)
    return {count: measure_both(count, threads, out_dir) for count in SUBHALO_COUNTS}


def measure_both(subhalo_count: int, threads: int, out_dir: Path) -> dict:
    """Time lenstronomy and torch on the same scenes, alternating, best of REPEATS each.

    Alternating the two backends exposes both to the same load on a shared machine; the
    noiseless images are saved for the agreement check.
    """
    n_lens, n_torch = LENSTRONOMY_IMAGES[subhalo_count], TORCH_IMAGES[subhalo_count]
    scenes = make_scenes(max(n_lens, n_torch), subhalo_count, np.random.default_rng(20240601 + subhalo_count))
    lens_scenes, torch_scenes = scenes.subset(slice(0, n_lens)), scenes.subset(slice(0, n_torch))
    noise_rng = np.random.default_rng(0)

    def lenstronomy_run():
        return add_noise(render_lenstronomy(lens_scenes, OBSERVATION), noise_rng)

    def torch_run():
        return add_noise(render_torch(torch_scenes, OBSERVATION), noise_rng)

    render_lenstronomy(lens_scenes.subset([0]), OBSERVATION)  # imports and first-call set-up
    start = time.perf_counter()
    render_torch(torch_scenes, OBSERVATION)  # compiles this layout and shape
    compile_s = time.perf_counter() - start
    lens_runs, torch_runs = [], []
    for _ in range(REPEATS):
        lens_runs.append(measure(lenstronomy_run))
        torch_runs.append(measure(torch_run))
    eager_scenes = torch_scenes.subset(slice(0, EAGER_IMAGES))
    _, eager_s, _, _ = measure(lambda: render_torch(eager_scenes, OBSERVATION, compile=False))
    tag = f"{subhalo_count}_{threads}"
    np.save(out_dir / f"lenstronomy_{tag}.npy", render_lenstronomy(lens_scenes, OBSERVATION))
    np.save(out_dir / f"torch32_{tag}.npy", render_torch(lens_scenes, OBSERVATION))
    np.save(
        out_dir / f"torch64_{tag}.npy",
        render_torch(lens_scenes, OBSERVATION, dtype=torch.float64, compile=False),
    )

    def summary(runs, n):
        return {
            "ms": 1e3 * min(r[1] for r in runs) / n,
            "rss_mib": max(r[2] for r in runs),
            "traced_mib": max(r[3] for r in runs),
            "n": n,
        }

    return {
        "lenstronomy": summary(lens_runs, n_lens),
        "torch": summary(torch_runs, n_torch),
        "compile_s": compile_s,
        "eager_ms": 1e3 * eager_s / EAGER_IMAGES,
        "threads": torch.get_num_threads(),
    }


def summarise(subhalo_count: int, threads: int, measured: dict, out_dir: Path) -> dict:
    """One table row from a worker's measurement and the saved images."""
    lens, fast = measured["lenstronomy"], measured["torch"]
    tag = f"{subhalo_count}_{threads}"
    reference = np.load(out_dir / f"lenstronomy_{tag}.npy")
    return {
        "K": subhalo_count,
        "lenstronomy_ms": lens["ms"],
        "torch_ms": fast["ms"],
        "eager_ms": measured["eager_ms"],
        "ratio": lens["ms"] / fast["ms"],
        "lenstronomy_img_s": 1e3 / lens["ms"],
        "torch_img_s": 1e3 / fast["ms"],
        "compile_s": measured["compile_s"],
        "agreement_f32": peak_relative(np.load(out_dir / f"torch32_{tag}.npy"), reference),
        "agreement_f64": peak_relative(np.load(out_dir / f"torch64_{tag}.npy"), reference),
        "lenstronomy_rss_mib": lens["rss_mib"],
        "torch_rss_mib": fast["rss_mib"],
        "lenstronomy_traced_mib": lens["traced_mib"],
        "torch_traced_mib": fast["traced_mib"],
        "n_lenstronomy": lens["n"],
        "n_torch": fast["n"],
        "threads": measured["threads"],
    }


def table(rows: list[dict]) -> str:
    header = (
        "| subhalos | torch threads | lenstronomy ms/img | torch ms/img (compiled f32) | torch eager ms/img | speed-up |"
        " lenstronomy img/s | torch img/s | compile s | max rel diff f32 | max rel diff f64 |"
        " peak RSS MiB lenstronomy / torch | tracemalloc MiB lenstronomy / torch |"
    )
    lines = [header, "|" + "---|" * 13]
    for r in rows:
        lines.append(
            f"| {r['K']} | {r['threads']} | {r['lenstronomy_ms']:.2f} | {r['torch_ms']:.3f} | {r['eager_ms']:.3f} | {r['ratio']:.1f}x |"
            f" {r['lenstronomy_img_s']:.0f} | {r['torch_img_s']:.0f} | {r['compile_s']:.1f} |"
            f" {r['agreement_f32']:.1e} | {r['agreement_f64']:.1e} |"
            f" {r['lenstronomy_rss_mib']:.0f} / {r['torch_rss_mib']:.0f} |"
            f" {r['lenstronomy_traced_mib']:.1f} / {r['torch_traced_mib']:.1f} |"
        )
    return "\n".join(lines)


def write_results(text: str) -> None:
    """Replace (or append) the "## strong_lensing" section of RESULTS.md, leaving others intact."""
    existing = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = existing.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "## strong_lensing"), None)
    if start is None:
        new = existing.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "\n".join(lines[:start] + text.rstrip("\n").splitlines() + [""] + lines[end:]).rstrip("\n") + "\n"
    RESULTS.write_text(new)


def main() -> None:
    thread_settings = sorted({1, torch.get_num_threads()})
    with tempfile.TemporaryDirectory() as tmp:
        measured = {threads: run_worker(threads, Path(tmp)) for threads in thread_settings}
        rows = [
            summarise(count, threads, measured[threads][count], Path(tmp))
            for count in SUBHALO_COUNTS
            for threads in thread_settings
        ]
    best = {count: max((r for r in rows if r["K"] == count), key=lambda r: r["ratio"]) for count in SUBHALO_COUNTS}
    main_row = best[25]
    report = table(rows)
    print(report)
    section = (
        "## strong_lensing\n\n"
        f"`python bench/strong_lensing.py` on {platform.machine()} ({os.cpu_count()} CPUs), torch {torch.__version__},"
        f" {time.strftime('%Y-%m-%d')}. 64x64 px of 0.08\", SIE + shear + K NFW subhalos + Sersic + Gaussian PSF"
        " (FWHM 0.1\") + Poisson noise. lenstronomy: one ImageModel per image"
        f" ({', '.join(str(best[k]['n_lenstronomy']) for k in SUBHALO_COUNTS)} images). torch: float32, torch.compile,"
        " batches of up to 256 (fewer when subhalos would exceed the memory budget)"
        f" ({', '.join(str(best[k]['n_torch']) for k in SUBHALO_COUNTS)} images); one worker process per thread"
        f" setting alternates the two backends, best of {REPEATS} each; compile time excluded from img/s."
        " Peak RSS = growth of the resident set during one timed rendering (+ noise) of that many images."
        " Max rel diff = max |torch - lenstronomy| / max |lenstronomy| over the noiseless images.\n"
        "Timings come from a shared machine (other jobs running); compare ratios, not absolute times. With other"
        " jobs competing for the cores, one torch thread can beat two; both are reported and the headline ratio is"
        " the better one.\n\n"
        + report
        + "\n"
    )
    write_results(section)
    worst_f32 = max(r["agreement_f32"] for r in rows)
    worst_f64 = max(r["agreement_f64"] for r in rows)
    print(
        f"RESULT strong_lensing ratio={main_row['ratio']:.2f} agreement={worst_f32:.2e}"
        f" agreement_f64={worst_f64:.2e} ratio_k0={best[0]['ratio']:.2f} ratio_k100={best[100]['ratio']:.2f}"
        f" threads={main_row['threads']} torch_img_s={main_row['torch_img_s']:.0f}"
        f" lenstronomy_img_s={main_row['lenstronomy_img_s']:.0f} compile_s={main_row['compile_s']:.1f}"
        f" torch_peak_rss_mib={main_row['torch_rss_mib']:.0f} lenstronomy_peak_rss_mib={main_row['lenstronomy_rss_mib']:.0f}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        print(json.dumps(worker(int(sys.argv[2]), Path(sys.argv[3]))))
    else:
        main()
