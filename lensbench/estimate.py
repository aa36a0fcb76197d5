"""Rough estimates of what a plan needs: disk, memory and time per step, before anything runs.

``lensbench plan`` prints them; ``lensbench run`` refuses a plan whose disk or memory estimate
exceeds what the machine has (exit 2), and asks before a run that would take hours on a CPU.
They are rough (a factor of 2 either way), from the spec alone:

- disk of a simulated split: images x image shape x 4 bytes (float32) plus the stored
  parameters (float64; per-subhalo labels padded to ``max_subhalos``); a signal split: 2 x
  12 nside_data^2 float32 per map;
- memory: the largest shard being rendered (float32 images plus a float64 render buffer at the
  supersampled resolution), or the model being trained (weights, gradients and two Adam moments,
  float32) with one batch;
- time, on 2 CPU cores (``/work/shared/NOTES.md``, "Costs on 2 CPU cores (measured)"): rendering
  64 x 64 lenses takes 0.6 ms + 0.066 ms per subhalo with lenstronomy and 0.06 ms + 0.027 ms per
  subhalo with the eager torch renderer, scaled by the pixel count (the subhalo count of a
  population that is not fixed: the mean over 64 lenses drawn from the spec, nothing rendered); an astrometric signal map
  0.78 s at nside 128 (scaled by the pixel count); a training step of ResNet-18 runs 242
  images/s at 1 x 64 x 64, and other architectures and input sizes are scaled from it by their
  forward FLOPs (counted with :class:`torch.utils.flop_counter.FlopCounterMode` on the meta
  device, so nothing is allocated); an epoch also evaluates the validation split (a third of a
  training step per image);
- a lens fit (task ``fit``, measured 2026-12-02 on an idle 2-core machine): one potential and
  gradient evaluation of a 48 x 48 SIE + Sersic image costs :data:`FIT_EVALUATION_S` (compiled,
  overheads included), all but its :data:`EVALUATION_FIXED_SHARE` scaled by the pixel count,
  x3 for EPL; MAP: every start of every lens runs the Adam steps and about twice the L-BFGS
  steps, all batched, at :data:`MAP_EVALUATION_S` per image and step (scaled by the pixel count);
  NUTS: every chain of every sampled lens runs warm-up + draws transitions of
  :data:`NUTS_EVALUATIONS` evaluations (fewer when the tree depth allows fewer), one chain per core.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from lensbench.humanize import human_bytes, human_seconds

LENSTRONOMY_MS = (0.6, 0.066)
"""ms per 64 x 64 lens with lenstronomy: base, and per subhalo (NOTES.md: 0.6, 2.2 @25, 7.2 @100)."""
TORCH_MS = (0.06, 0.027)
"""ms per 64 x 64 lens with the eager torch renderer: base, per subhalo (NOTES.md: 0.06, 0.74, 2.8)."""
SIGNAL_MAP_S = 0.78
"""Seconds per astrometric signal map at nside 128 (NOTES.md, 1200 subhalos, 20 deg discs)."""
RESNET18_IMAGES_PER_S = 242.0
"""Training images per second of ResNet-18 at 1 x 64 x 64, batch 32, on 2 CPU cores (NOTES.md)."""
FIT_EVALUATION_S = 1.9e-3
"""Seconds per potential + gradient evaluation of one 48 x 48 SIE + Sersic image on one core:
312,227 evaluations of 4 NUTS chains took 300 s on 2 worker processes (2026-12-02)."""
EVALUATION_FIXED_SHARE = 0.53
"""Share of :data:`FIT_EVALUATION_S` that does not grow with the pixel count (dispatch overheads):
2 x 2 supersampling made a NUTS evaluation 2.4x as costly, not 4x (2026-12-02)."""
MAP_EVALUATION_S = 4.9e-4
"""Seconds per image and step of the batched MAP (all starts of all lenses at once) of a 48 x 48
SIE + Sersic image: 16 lenses x 16 starts x (600 Adam + ~2 x 100 L-BFGS) steps took 101 s
(2026-12-02, idle)."""
NUTS_EVALUATIONS = 9
"""Potential evaluations per NUTS transition on the quick lenses: 8 lenses x 4 chains x 1,500
transitions took 396 s on 2 worker processes at :data:`FIT_EVALUATION_S` (about 6 to 22 per lens,
2026-12-02). With bounded (uniform) priors on the lens ellipticity and shear it was 44 to 52: their
sigmoid bijections bend the ellipticity - shear degeneracy."""
NRE_EPOCH_COST = 1.9
"""An epoch of the sbi NRE baseline over an epoch of ALICES on the same images (30 s against 16 s
for 10,000 images at the mining quick preset): NRE-A runs the trunk on two pairs per image."""
HOURS_ON_CPU = 3600.0
"""A run estimated above this many seconds on a CPU asks for confirmation (``--yes``)."""


@dataclass(frozen=True)
class StepEstimate:
    """What one step is expected to need.

    Attributes
    ----------
    step_id : str
        The step.
    disk_bytes : int
        Bytes it writes to the cache.
    memory_bytes : int
        Peak memory of its largest piece of work (bytes).
    seconds : float
        Wall time on 2 CPU cores.
    """

    step_id: str
    disk_bytes: int
    memory_bytes: int
    seconds: float


@dataclass(frozen=True)
class PlanEstimate:
    """Estimates of every step of a plan, and the totals a run is checked against."""

    steps: tuple[StepEstimate, ...]

    @property
    def disk_bytes(self) -> int:
        """Bytes the whole plan writes."""
        return sum(s.disk_bytes for s in self.steps)

    @property
    def memory_bytes(self) -> int:
        """The largest peak memory of any step (steps run one after another)."""
        return max((s.memory_bytes for s in self.steps), default=0)

    @property
    def seconds(self) -> float:
        """Wall time of the whole plan on 2 CPU cores."""
        return sum(s.seconds for s in self.steps)

    def summary(self) -> str:
        """One line: disk, memory and time."""
        return (f"estimate (rough, 2 CPU cores): disk {human_bytes(self.disk_bytes)}, memory "
                f"{human_bytes(self.memory_bytes)}, time {human_seconds(self.seconds)}")


def _split_images(spec, split: str) -> int:
    from lensbench.tasks import TASKS

    n = {"train": spec.data.n_train, "val": spec.data.n_val, "test": spec.data.n_test}[split]
    return n * len(spec.data.classes) if TASKS.get(spec.experiment.task).labels == "classes" else n


def image_shape(spec) -> tuple[int, int, int]:
    """(channels, height, width) of the images a spec simulates."""
    if spec.simulation_kind == "astrometric":
        from lensbench.simulate.sky_projection import input_shape

        sim = spec.simulation
        return (2, *input_shape(sim.projection, sim.data_nside, sim.image_height, sim.image_width))
    return (1, int(spec.survey.npix), int(spec.survey.npix))


def _populations(spec) -> list:
    sim = spec.simulation
    if spec.simulation_kind == "strong_lensing":
        return list(sim.classes.values()) + [sim.regression]
    if spec.simulation_kind == "galaxy":
        return [sim.halo]
    return []


def _subhalos(population) -> float:
    fixed = population.most_subhalos()
    return float(fixed) if fixed is not None else float(population.count)


SUBHALO_DRAWS = 64
"""Lenses whose populations are drawn (not rendered) to estimate the mean subhalo count of a
strong-lensing class whose count is not fixed (an f_sub population: hundreds per lens)."""


def _strong_lensing_subhalos(spec) -> float:
    """The largest mean subhalo count over the spec's classes: drawn from its own priors and
    populations (seeded, :data:`SUBHALO_DRAWS` lenses, nothing rendered), or the populations'
    nominal counts if drawing fails."""
    import numpy as np

    from lensbench.simulate.strong import draw_scene
    from lensbench.tasks import TASKS

    by_class = TASKS.get(spec.experiment.task).labels == "classes"
    try:
        names = list(spec.data.classes) if by_class else [None]
        means = [float(np.mean(draw_scene(spec.simulation, spec.survey, name, SUBHALO_DRAWS,
                                          np.random.default_rng(0))[1]["subhalo_count"])) for name in names]
    except (ValueError, KeyError):
        return max((_subhalos(p) for p in _populations(spec)), default=0.0)
    return max(means, default=0.0)


def _simulation(spec, n: int) -> tuple[int, int, float]:
    """(disk, memory, seconds) of simulating ``n`` images of ``spec``."""
    shape = image_shape(spec)
    pixels = math.prod(shape)
    shard = min(n, spec.data.shard_size)
    if spec.simulation_kind == "astrometric":
        params = 8 * (spec.simulation.n_top * 3 + 8)
        return n * (4 * pixels + params), shard * 4 * pixels * 2, n * 2e-4 * pixels / 8192
    from lensbench.simulate.substructure import PER_SUBHALO_KEYS, SCALAR_KEYS

    populations = _populations(spec)
    width = getattr(spec.simulation, "max_subhalos", 1)
    params = 8 * (len(spec.simulation.priors) + len(SCALAR_KEYS) + 1 + len(PER_SUBHALO_KEYS) * width)
    subhalos = (_strong_lensing_subhalos(spec) if spec.simulation_kind == "strong_lensing"
                else max((_subhalos(p) for p in populations), default=0.0))
    base, per = LENSTRONOMY_MS if spec.simulation.backend == "lenstronomy" else TORCH_MS
    fine = (shape[1] * int(spec.survey.supersampling)) ** 2
    seconds = n * (base + per * subhalos) * 1e-3 * fine / 4096
    return n * (4 * pixels + params), shard * (4 * pixels + 8 * fine), seconds


def _signal(spec, n: int) -> tuple[int, int, float]:
    """(disk, memory, seconds) of the astrometric signal of ``n`` maps."""
    sim = spec.simulation
    data_pixels = 12 * sim.data_nside**2
    grid_pixels = 12 * sim.nside**2
    shard = min(n, spec.data.shard_size)
    memory = shard * 2 * data_pixels * 4 + grid_pixels * 3 * 8
    return n * 2 * data_pixels * 4, memory, n * SIGNAL_MAP_S * grid_pixels / (12 * 128**2)


@functools.lru_cache(maxsize=64)
def forward_flops(architecture: str, shape: tuple[int, int, int], options: tuple = ()) -> tuple[float, int]:
    """(forward FLOPs of one image, parameter count) of ``architecture`` on ``shape``, counted on
    the meta device (no memory is allocated, no weights are initialised)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from lensbench.models import build_model

    with torch.device("meta"):
        model = build_model(architecture, in_channels=shape[0], num_outputs=2, input_size=shape[1:], **dict(options))
        with FlopCounterMode(display=False) as counter:
            model(torch.empty((1, *shape)))
    return float(counter.get_total_flops()), sum(p.numel() for p in model.parameters())


def _training(spec) -> tuple[int, int, float]:
    """(disk, memory, seconds) of training ``spec``'s model for its epochs."""
    shape = image_shape(spec)
    options = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in spec.model.options.items()))
    flops, n_params = forward_flops(spec.model.architecture, shape, options)
    reference, _ = forward_flops("resnet18", (1, 64, 64))
    per_image = flops / reference / RESNET18_IMAGES_PER_S
    images = _split_images(spec, "train") + _split_images(spec, "val") / 3
    seconds = spec.training.epochs * images * per_image
    batch = spec.training.batch_size * math.prod(shape) * 4
    memory = 4 * 4 * n_params + batch * 2 + int(flops / 2 * spec.training.batch_size * 4 / 100)
    return 2 * 4 * n_params, memory, seconds


def _passes_over_training(spec, kind: str) -> float | None:
    """How many supervised trainings of ``spec`` (:func:`_training`) a network step of another task
    costs, or None for a kind that is not one: a pre-training (its epochs, two views per image,
    plus DINO's local crops by their area), a fine-tuning (one per seed and label fraction), a
    likelihood-ratio training (each image seen at two parameter points)."""
    epochs = max(1, spec.training.epochs)
    if kind == "ssl_pretrain":
        pretrain = spec.task_sections["pretrain"]
        side = image_shape(spec)[-1]
        views = 2 + (pretrain.local_views * (min(pretrain.local_crop_size, side) / side) ** 2
                     if pretrain.method == "dino" else 0)
        return pretrain.epochs / epochs * views
    if kind == "ssl_finetune":
        finetune = spec.task_sections["finetune"]
        return len(finetune.seeds) * sum(finetune.label_fractions)
    if kind == "ratio_train":
        return 2.0
    if kind == "ratio_sbi":
        section = spec.task_sections["likelihood_ratio"]
        share = min(1.0, section.sbi_max_images / max(1, _split_images(spec, "train")))
        return 2.0 * NRE_EPOCH_COST * max(section.sbi_epochs or epochs, 2) / epochs * share
    return None


def _fit_seconds(spec, kind: str) -> float | None:
    """Seconds of a step of task ``fit`` on 2 CPU cores (module notes), or None for another kind."""
    if kind not in ("fit_mocks", "fit_map", "fit_nuts", "fit_recovery"):
        return None
    mocks, fit, sampler = (spec.task_sections[name] for name in ("mocks", "fit", "sampler"))
    observation = spec.survey.observation()
    pixels = (observation.npix * observation.supersampling) ** 2
    scale = pixels / 48**2 * (3.0 if mocks.lens_profile == "epl" else 1.0)
    evaluation = FIT_EVALUATION_S * (EVALUATION_FIXED_SHARE + (1.0 - EVALUATION_FIXED_SHARE) * scale)
    lenses = mocks.per_snr * len(mocks.snrs)
    if kind == "fit_map":
        return lenses * fit.starts * (fit.adam_steps + 2 * fit.lbfgs_steps) * MAP_EVALUATION_S * scale
    if kind == "fit_nuts":
        sampled = min(sampler.per_snr, mocks.per_snr) * len(mocks.snrs)
        per_transition = min(2**sampler.max_tree_depth - 1, NUTS_EVALUATIONS)
        transitions = sampled * sampler.chains * (sampler.warmup + sampler.draws)
        return transitions * per_transition * evaluation / min(sampler.chains, 2)
    return lenses * evaluation + 1.0  # mocks, recovery: one render per lens


def _branch_of(plan, step):
    return next(s for s in plan.specs if s.branch_name in step.branches)


def estimate_plan(plan, is_cached=None) -> PlanEstimate:
    """Estimates of every step of ``plan`` (:class:`lensbench.plan.Plan`); a step for which
    ``is_cached(step)`` is true needs nothing (it is read from the cache)."""
    out = []
    for step in plan.steps:
        if is_cached is not None and is_cached(step):
            out.append(StepEstimate(step.id, 0, 0, 0.0))
            continue
        if step.kind == "report" or not step.branches:
            out.append(StepEstimate(step.id, 0, 0, 1.0))
            continue
        spec = _branch_of(plan, step)
        role, _, split = step.role.partition(":")
        if role == "simulate":
            disk, memory, seconds = _simulation(spec, _split_images(spec, split))
        elif role == "signal":
            disk, memory, seconds = _signal(spec, _split_images(spec, split) // max(1, len(spec.data.classes)))
        elif step.kind == "train":
            disk, memory, seconds = _training(spec)
        elif (fit_seconds := _fit_seconds(spec, step.kind)) is not None:
            disk, memory, seconds = 0, 0, fit_seconds
        elif (passes := _passes_over_training(spec, step.kind)) is not None:
            disk, memory, seconds = _training(spec)
            seconds *= passes
        else:  # evaluate, apply: one pass over the test split, a third of a training step per image
            _, memory, train_seconds = _training(spec)
            per_image = train_seconds / max(1, spec.training.epochs) / (_split_images(spec, "train") + _split_images(spec, "val") / 3)
            disk, seconds = 0, _split_images(spec, "test") * per_image / 3
        out.append(StepEstimate(step.id, int(disk), int(memory), float(seconds)))
    return PlanEstimate(tuple(out))


def available_memory() -> int | None:
    """Bytes of memory available to a new process (``MemAvailable`` of /proc/meminfo, else the
    physical memory from ``os.sysconf``); None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def free_disk(folder: Path) -> int:
    """Free bytes on the file system of ``folder`` (or of its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def resource_problems(estimate: PlanEstimate, cache_root: Path) -> list[str]:
    """Why the machine cannot hold the plan: its disk estimate above the cache's free space, or
    its memory estimate above the available memory (empty when both fit)."""
    problems = []
    free = free_disk(cache_root)
    if estimate.disk_bytes > free:
        problems.append(f"the run would write about {human_bytes(estimate.disk_bytes)} to the cache {cache_root}, "
                        f"which has {human_bytes(free)} free")
    memory = available_memory()
    if memory is not None and estimate.memory_bytes > memory:
        problems.append(f"a step would need about {human_bytes(estimate.memory_bytes)} of memory; "
                        f"{human_bytes(memory)} is available")
    return problems


def preflight(plan, cache, device: str, *, yes: bool = False, ask=None, echo=print) -> PlanEstimate:
    """Check, before any step runs, that the machine can hold the plan and the user wants to wait.

    Parameters
    ----------
    plan : lensbench.plan.Plan
        The run's plan.
    cache : lensbench.cache.Cache
        Its cache: cached steps need nothing, and new entries go to its file system.
    device : str
        ``cpu`` or ``cuda``: only a CPU run is asked about its time.
    yes : bool
        Start a run estimated to take hours on the CPU without asking (``--yes``).
    ask : callable, optional
        ``ask(question) -> bool`` on a terminal; None (not a terminal): a long run starts with
        a warning in its output.

    Raises
    ------
    UsageError
        (exit 2) When the disk or memory estimate exceeds what the machine has, or the user
        declines a run of hours.
    """
    from lensbench.errors import UsageError

    estimate = estimate_plan(plan, is_cached=lambda step: cache.has(step.kind, step.key))
    problems = resource_problems(estimate, cache.root)
    if problems:
        raise UsageError("; ".join(problems) + f" ({estimate.summary()}); reduce [data] sizes or run a preset "
                         f"(--preset smoke or quick), or use a larger machine (--cache elsewhere)")
    if device == "cpu" and estimate.seconds > HOURS_ON_CPU and not yes:
        message = (f"this run would take about {human_seconds(estimate.seconds)} on this CPU ({estimate.summary()}); "
                   f"a preset (--preset quick) or a GPU is much faster")
        if ask is None:
            echo(f"warning: {message}; starting anyway (not a terminal)")
            logging.getLogger("lensbench").warning(message)
        elif not ask(f"{message}. Start it?"):
            raise UsageError(f"not started: {message}; pass --yes to start it without asking")
    return estimate
