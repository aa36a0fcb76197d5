"""Posterior samples with pyro-ppl's NUTS on our own potential, started at the MAP.

Pyro's :class:`~pyro.infer.NUTS` (Hoffman & Gelman 2014) runs on ``potential_fn`` (the
:class:`~lensbench.fit.likelihood.ImagePosterior` potential of one image in unconstrained
space) with step-size and (dense, by default) mass-matrix adaptation during warm-up. NUTS moves in whitened
coordinates ``z``, ``u = u_MAP + L z`` with ``L L^T`` the Laplace covariance (the inverse Hessian
of the potential at the MAP): there the posterior is close to a unit normal, so short trajectories
suffice even when lens and source parameters are strongly correlated. Chains start from an
over-dispersed Laplace approximation (``z`` normal with twice the unit variance), so split R-hat
(Gelman et al. 2013) can reveal chains that have not mixed. R-hat and the effective sample size
come from :mod:`pyro.ops.stats`, computed on the parameters in their own units.

Each chain seeds pyro from ``seed + chain`` and runs with the caller's number of torch threads,
in this process or in one of ``processes`` worker processes (spawned; the potential is pickled to
them, so it must be a picklable callable such as
:class:`~lensbench.fit.likelihood.CompiledPotential`): the draws are the same bytes whatever the
number of processes.
"""

from __future__ import annotations

import multiprocessing
import pickle
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS
from pyro.ops.stats import effective_sample_size, split_gelman_rubin

HESSIAN_FLOOR = 1.0
"""Smallest curvature (1/unconstrained unit^2) the whitening assumes: a unit-width direction."""
OVERDISPERSION = 2.0
"""Chain starts are drawn from the Laplace approximation with this times its covariance (our choice)."""


@dataclass(frozen=True)
class NutsResult:
    """Draws and diagnostics of one image's posterior.

    Attributes
    ----------
    samples : numpy.ndarray
        ``(chains, draws, P)`` unconstrained draws.
    rhat, ess : numpy.ndarray
        ``(P,)`` split R-hat and effective sample size (all chains) of the constrained parameters.
    divergences : int
        Divergent transitions after warm-up, all chains.
    wall_s : float
        Seconds the chains took.
    evaluations : int
        Potential (and gradient) evaluations of all chains, warm-up included.
    """

    samples: np.ndarray
    rhat: np.ndarray
    ess: np.ndarray
    divergences: int
    wall_s: float
    evaluations: int = 0


def laplace_factor(potential: Callable[[torch.Tensor], torch.Tensor], u_map: torch.Tensor) -> torch.Tensor:
    """Square root ``L`` of the Laplace covariance at the MAP, ``L L^T = H^-1`` with ``H`` the
    Hessian of the potential at ``u_map``, from its eigen-decomposition; eigenvalues below
    ``HESSIAN_FLOOR`` (flat or non-convex directions of a MAP that is not fully converged) are
    raised to it, so ``L`` always exists."""
    hessian = torch.autograd.functional.hessian(potential, u_map.detach())
    values, vectors = torch.linalg.eigh(0.5 * (hessian + hessian.T))
    return vectors * values.clamp(min=HESSIAN_FLOOR).rsqrt()


def run_nuts(potential: Callable[[torch.Tensor], torch.Tensor], u_map: torch.Tensor,
             to_constrained: Callable[[torch.Tensor], torch.Tensor], *, warmup: int, draws: int, chains: int,
             seed: int, max_tree_depth: int = 8, target_accept: float = 0.8, full_mass: bool = True, processes: int = 1,
             executor: Executor | None = None, curvature: Callable[[torch.Tensor], torch.Tensor] | None = None,
             progress: bool = False) -> NutsResult:
    """NUTS chains of one image's posterior.

    Parameters
    ----------
    potential : callable
        ``u (P,) -> -log p(u | d)`` (scalar tensor), differentiable; picklable to run chains in
        other processes.
    u_map : torch.Tensor
        ``(P,)`` the MAP in unconstrained space.
    to_constrained : callable
        ``u (..., P) -> theta (..., P)``, for the diagnostics.
    warmup, draws, chains : int
        Adaptation steps, kept draws per chain, number of chains.
    seed : int
        Base seed; chain ``c`` uses ``seed + c``.
    max_tree_depth, target_accept : int, float
        NUTS settings (pyro's defaults are 10 and 0.8).
    full_mass : bool
        Adapt a dense mass matrix during warm-up (else a diagonal one): it corrects whatever the
        Laplace whitening misses (correlations of a MAP that is not the posterior's centre).
    processes : int
        Worker processes for the chains (1: one after another in this process; an unpicklable
        potential also runs here, with a warning). Ignored when ``executor`` is given.
    executor : concurrent.futures.Executor, optional
        Runs the chains (e.g. a pool shared by several images, from :func:`chain_pool`).
    curvature : callable, optional
        Twice-differentiable version of ``potential`` for the Laplace Hessian (default
        ``potential``; a :class:`~lensbench.fit.likelihood.CompiledPotential` passes its ``eager``).
    progress : bool
        Pyro's progress bar of each chain.
    """
    rng = np.random.default_rng(seed)
    u_map = u_map.detach()
    factor = laplace_factor(curvature or potential, u_map)
    starts = np.sqrt(OVERDISPERSION) * torch.as_tensor(rng.standard_normal((chains, u_map.numel())), dtype=u_map.dtype)
    threads = torch.get_num_threads()
    tasks = [(potential, u_map, factor, starts[c], seed + c, warmup, draws, max_tree_depth, target_accept, full_mass,
              threads, progress) for c in range(chains)]
    began = time.perf_counter()
    if executor is None and processes > 1 and chains > 1 and _picklable(potential):
        with chain_pool(min(processes, chains)) as pool:
            results = list(pool.map(_run_chain, *zip(*tasks)))
    elif executor is not None and _picklable(potential):
        results = list(executor.map(_run_chain, *zip(*tasks)))
    else:
        results = [_run_chain(*task) for task in tasks]
    wall = time.perf_counter() - began
    samples = torch.stack([u_map + z @ factor.T for z, _, _ in results])
    constrained = to_constrained(samples)
    return NutsResult(samples=samples.numpy(), rhat=split_gelman_rubin(constrained).numpy(),
                      ess=effective_sample_size(constrained).numpy(), divergences=sum(r[1] for r in results),
                      wall_s=wall, evaluations=sum(r[2] for r in results))


def chain_pool(processes: int) -> ProcessPoolExecutor:
    """A pool of ``processes`` spawned workers for :func:`run_nuts` (spawn: no forked torch state)."""
    return ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"))


def _picklable(potential) -> bool:
    """Whether ``potential`` can go to a worker process; warns when it cannot."""
    try:
        pickle.dumps(potential)
    except Exception as error:  # lambdas, closures, open handles...
        warnings.warn(f"the potential cannot be pickled ({type(error).__name__}: {error}); chains run in this "
                      "process", RuntimeWarning)
        return False
    return True


def _run_chain(potential, u_map: torch.Tensor, factor: torch.Tensor, start: torch.Tensor, seed: int, warmup: int,
               draws: int, max_tree_depth: int, target_accept: float, full_mass: bool, threads: int,
               progress: bool) -> tuple[torch.Tensor, int, int]:
    """One NUTS chain in whitened coordinates ``z`` (``u = u_MAP + L z``) from ``start``: its kept
    ``z`` draws (draws, P), its number of divergent transitions after warm-up and of potential
    evaluations."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        pyro.set_rng_seed(seed)
        evaluations = [0]

        def whitened_potential(params):
            evaluations[0] += 1
            return potential(u_map + factor @ params["z"])

        kernel = NUTS(potential_fn=whitened_potential, adapt_step_size=True, adapt_mass_matrix=True, full_mass=full_mass,
                      max_tree_depth=max_tree_depth, target_accept_prob=target_accept)
        mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup, initial_params={"z": start}, num_chains=1,
                    disable_progbar=not progress)
        mcmc.run()
        divergences = int(sum(len(v) for v in mcmc.diagnostics()["divergences"].values()))
        return mcmc.get_samples()["z"].detach(), divergences, evaluations[0]
    finally:
        torch.set_num_threads(before)
