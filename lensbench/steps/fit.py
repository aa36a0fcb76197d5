"""Step kinds of the ``fit`` task: mock lenses, multi-start MAP, NUTS posteriors, recovery.

Each step rebuilds the forward model and prior from its params (:func:`problem`) and runs with one
torch thread (the fits are many small renders; one thread is fastest on a shared CPU and keeps
float reductions, hence results, independent of the machine's core count).
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack, contextmanager

import numpy as np
import torch
from tqdm import tqdm

from lensbench.fit import (
    ImagePosterior,
    LensImageModel,
    NoiseModel,
    ParameterSpace,
    recovery,
)
from lensbench.fit.hmc import chain_pool, run_nuts
from lensbench.fit.likelihood import CompiledPotential
from lensbench.fit.map import fit_map, polish
from lensbench.fit.mocks import simulate_mocks
from lensbench.fit.observed import is_observed, observed_model, observed_noise
from lensbench.fit.parameters import model_prior
from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.simulate.scene import Observation
from lensbench.steps.base import STEP_KINDS


@contextmanager
def one_thread():
    """Run torch on one CPU thread inside the block."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def problem(params: dict, record=None, decoder=None) -> tuple[LensImageModel, ParameterSpace, ParameterSpace]:
    """The forward model, the prior of every model parameter and that of the free ones; the
    pixel grid and PSF are the ``[survey]``'s, or those of the observed cutouts in ``record``."""
    mocks = params["mocks"]
    priors = mocks["priors"]
    if record is not None and is_observed(record):
        model = observed_model(mocks["lens_profile"], record, max_lens_eccentricity(priors))
    else:
        model = LensImageModel(mocks["lens_profile"], Observation(**params["observation"]), max_lens_eccentricity(priors),
                               source_decoder=decoder)
    full = model_prior(model.names, priors)
    free = params.get("fit", {}).get("free") or model.names
    return model, full, full.subset(free)


def source_decoder(ctx):
    """The trained neural source of a ``source_model`` input (float64, for the fit), or None."""
    from lensbench.fit.source_vae import load_source_model

    return load_source_model(ctx.inputs["source_model"]) if "source_model" in ctx.inputs else None


def max_lens_eccentricity(priors: dict) -> float:
    """The largest lens |e| the priors allow: ``hypot`` of the two components' largest |bound|
    under uniform priors, 0.9 (q = 0.05) when either is unbounded."""
    bounds = [max(abs(a), abs(b)) if kind == "uniform" else 0.9 for kind, a, b in (priors["lens_e1"], priors["lens_e2"])]
    return min(float(np.hypot(*bounds)), 0.9)


def _save(path, **arrays) -> None:
    """Write ``arrays`` to ``path`` (.npz) atomically."""
    write_atomic(path, npz_bytes(arrays))


def posterior_of(params: dict, mocks, decoder=None) -> ImagePosterior:
    """The posterior of the free parameters of every mock (or observed cutout)."""
    model, _, free = problem(params, mocks, decoder)
    if is_observed(mocks):
        return ImagePosterior(model, free, torch.as_tensor(mocks["data"]), observed_noise(mocks),
                              torch.as_tensor(mocks["fixed"]))
    noise = NoiseModel(params["mocks"]["noise"], torch.as_tensor(mocks["noise_scale"]), params["mocks"]["sky"])
    return ImagePosterior(model, free, torch.as_tensor(mocks["data"]), noise, torch.as_tensor(mocks["truth"]))


@STEP_KINDS.register("fit_mocks")
class FitMocks:
    """Draw and render the mock lenses (``mocks.npz``)."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx) -> dict:
        mocks_cfg = ctx.params["mocks"]
        with one_thread():
            model, full, _ = problem(ctx.params, decoder=source_decoder(ctx))
            mocks = simulate_mocks(model, full, mocks_cfg["snrs"], mocks_cfg["per_snr"], mocks_cfg["noise"],
                                   mocks_cfg["sky"], ctx.params["seed"])
        _save(ctx.work / "mocks.npz", names=np.array(model.names), **mocks)
        return {"n": len(mocks["snr"])}


@STEP_KINDS.register("fit_map")
class FitMap:
    """Multi-start MAP of every mock (``map.npz``)."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx) -> dict:
        cfg = ctx.params["fit"]
        mocks = np.load(ctx.inputs["mocks"] / "mocks.npz")
        began = time.perf_counter()
        with one_thread(), tqdm(total=cfg["adam_steps"] + cfg["lbfgs_steps"], desc="MAP", disable=not ctx.progress) as bar:
            posterior = posterior_of(ctx.params, mocks, source_decoder(ctx))
            result = fit_map(posterior, cfg["starts"], np.random.default_rng(ctx.params["seed"] + 1),
                             adam_steps=cfg["adam_steps"], adam_lr=cfg["adam_lr"], lbfgs_steps=cfg["lbfgs_steps"],
                             tolerance=cfg["success_tolerance"], progress=bar.update)
            with torch.no_grad():
                model_images = posterior.model_images(result.u)
        wall = time.perf_counter() - began
        _save(ctx.work / "map.npz", names=np.array(posterior.space.names), theta=result.theta.numpy(),
              u=result.u.numpy(), potentials=result.potentials, success=result.success,
              model=model_images.numpy().astype(np.float32), wall_s=np.array(wall))
        ctx.log.info("MAP of %d mocks x %d starts in %.1f s; start success %.2f", len(posterior), cfg["starts"],
                     wall, result.success_rate)
        return {"success_rate": result.success_rate, "wall_s": wall}


def nuts_rows(snr: np.ndarray, per_snr: int) -> np.ndarray:
    """The mocks that get NUTS: the first ``per_snr`` at each SNR."""
    return np.concatenate([np.flatnonzero(snr == level)[:per_snr] for level in np.unique(snr)]).astype(int)


def single_image_potential(posterior: ImagePosterior, compile: bool = False) -> CompiledPotential:
    """``u (P,) -> -log p(u | d)`` of a one-image posterior, the function NUTS samples (compiled
    with ``compile``; picklable, so chains can run in worker processes)."""
    return CompiledPotential(posterior, compile=compile)


def chain_processes(cfg: dict) -> int:
    """Worker processes for a lens's chains: ``[sampler] processes``, or min(chains, CPU cores)
    when it is 0; 1 runs them in the step's own process."""
    return cfg.get("processes") or min(cfg["chains"], os.cpu_count() or 1)


@STEP_KINDS.register("fit_nuts")
class FitNuts:
    """NUTS posteriors of a subset of the mocks, from their MAP polished by L-BFGS alone
    (``nuts.npz``). The potential is compiled when ``[execution] compile`` is on; the chains of
    each lens run in ``[sampler] processes`` spawned workers (same draws whatever their number)."""

    VERSION = 2
    CACHED = True
    COMPILE_IN_KEY = True  # compiled and eager potentials differ in the last bits

    @staticmethod
    def run(ctx) -> dict:
        cfg = ctx.params["sampler"]
        mocks = np.load(ctx.inputs["mocks"] / "mocks.npz")
        fitted = np.load(ctx.inputs["map"] / "map.npz")
        rows = nuts_rows(mocks["group"] if is_observed(mocks) else mocks["snr"], cfg["per_snr"])
        samples, rhat, ess, divergences, walls = [], [], [], [], []
        execution = ctx.extra.get("execution")
        use_compile = execution.use_compile if execution is not None else False
        processes = chain_processes(cfg)
        transitions = cfg["chains"] * (cfg["warmup"] + cfg["draws"])  # per lens, for the log
        with one_thread(), ExitStack() as stack:
            pool = stack.enter_context(chain_pool(processes)) if processes > 1 and len(rows) else None
            posterior = posterior_of(ctx.params, mocks, source_decoder(ctx))
            for i in tqdm(rows, desc="NUTS", disable=not ctx.progress):
                potential = single_image_potential(posterior.take([int(i)]), use_compile)
                result = run_nuts(potential, polish(potential, torch.as_tensor(fitted["u"][i])),
                                  posterior.space.to_constrained, warmup=cfg["warmup"], draws=cfg["draws"],
                                  chains=cfg["chains"], seed=ctx.params["seed"] + 1000 + int(i),
                                  max_tree_depth=cfg["max_tree_depth"], target_accept=cfg["target_accept"],
                                  executor=pool, curvature=potential.eager)
                theta = posterior.space.to_constrained(torch.as_tensor(result.samples)).numpy()
                samples.append(theta.astype(np.float32))
                rhat.append(result.rhat)
                ess.append(result.ess)
                divergences.append(result.divergences)
                walls.append(result.wall_s)
                ctx.log.info("NUTS mock %d: %.1f s, %.1f potential evaluations per transition, max R-hat %.4f, "
                             "min ESS %.0f, %d divergences", i, result.wall_s, result.evaluations / transitions,
                             result.rhat.max(), result.ess.min(), result.divergences)
        n_par = len(posterior.space)
        shape = (0, cfg["chains"], cfg["draws"], n_par)
        _save(ctx.work / "nuts.npz", rows=rows, names=np.array(posterior.space.names),
              samples=np.stack(samples) if samples else np.zeros(shape, np.float32),
              rhat=np.array(rhat).reshape(-1, n_par), ess=np.array(ess).reshape(-1, n_par),
              divergences=np.array(divergences, dtype=int), wall_s=np.array(walls))
        return {"lenses": len(rows), "max_rhat": float(np.max(rhat)) if rhat else None}


@STEP_KINDS.register("fit_recovery")
class FitRecovery:
    """Recovery statistics of the MAP and the posteriors against the truth: headline metrics in
    ``results.json``, every table in ``recovery.json``."""

    VERSION = 4  # 4: each sampled lens's max R-hat
    CACHED = True

    @staticmethod
    def run(ctx) -> dict:
        mocks = np.load(ctx.inputs["mocks"] / "mocks.npz")
        fitted = np.load(ctx.inputs["map"] / "map.npz")
        nuts = np.load(ctx.inputs["nuts"] / "nuts.npz")
        names = [str(n) for n in fitted["names"]]
        all_names = [str(n) for n in mocks["names"]]
        truth = mocks["truth"][:, [all_names.index(n) for n in names]]
        summary = recovery_summary(names, truth, mocks["snr"], fitted, nuts)
        summary["setup"] = {"lens_profile": ctx.params["mocks"]["lens_profile"], "noise": ctx.params["mocks"]["noise"],
                            "source": ctx.params["mocks"]["source"],
                            **ctx.params["observation"], "sampler": ctx.params["sampler"]}
        write_json(ctx.work / "results.json", {key: summary[key] for key in ("task", "metrics", "curves", "n_test")})
        write_json(ctx.work / "recovery.json", summary)
        return summary["metrics"]


def recovery_summary(names, truth, snr, fitted, nuts) -> dict:
    """Headline metrics plus per-SNR tables of the MAP and posterior errors (``recovery.json``)."""
    map_err = recovery.errors(truth, fitted["theta"], names)
    table = {str(level): {"n": int(v["n"]), "median_abs": dict(zip(names, map(float, v["median_abs"]))),
                          "bias": dict(zip(names, map(float, v["bias"])))}
             for level, v in recovery.by_snr(snr, map_err).items()}
    success = {str(level): float(fitted["success"][snr == level].mean()) for level in np.unique(snr)}
    metrics = {}
    if "lens_theta_E" in names:  # first: the report's headline is the first metric
        for level, v in table.items():
            metrics[f"theta_E_error_snr{float(level):g}"] = v["median_abs"]["lens_theta_E"]
    metrics["map_success_rate"] = float(fitted["success"].mean())
    posterior = {}
    if len(nuts["rows"]):
        rows = nuts["rows"]
        draws = nuts["samples"].reshape(len(rows), -1, len(names)).astype(np.float64)
        post_err = recovery.errors(truth[rows], np.median(draws, axis=1), names)
        cover68 = recovery.coverage(draws, truth[rows], 0.68)
        cover95 = recovery.coverage(draws, truth[rows], 0.95)
        metrics.update(coverage_68=float(cover68.mean()), coverage_95=float(cover95.mean()),
                       max_rhat=float(nuts["rhat"].max()), min_ess=float(nuts["ess"].min()))
        posterior = {"rows": rows.tolist(), "snr": snr[rows].tolist(), "coverage_68": dict(zip(names, map(float, cover68))),
                     "coverage_95": dict(zip(names, map(float, cover95))),
                     "median_abs_error": dict(zip(names, map(float, np.median(np.abs(post_err), axis=0)))),
                     "max_rhat": dict(zip(names, map(float, nuts["rhat"].max(axis=0)))),
                     "lens_max_rhat": nuts["rhat"].max(axis=1).tolist(),
                     "min_ess": dict(zip(names, map(float, nuts["ess"].min(axis=0)))),
                     "divergences": int(nuts["divergences"].sum()), "wall_s": nuts["wall_s"].tolist()}
    return {"task": "fit", "metrics": metrics, "curves": {}, "n_test": len(snr), "parameters": names,
            "map": {"by_snr": table, "success_by_snr": success, "wall_s": float(fitted["wall_s"])},
            "posterior": posterior}
