"""Posterior samples with pyro-ppl's NUTS on our own potential, started at the MAP.

Pyro's :class:`~pyro.infer.NUTS` (Hoffman & Gelman 2014) runs on ``potential_fn`` (the
:class:`~lensbench.fit.likelihood.ImagePosterior` potential of one image in unconstrained
space) with step-size and diagonal mass-matrix adaptation during warm-up. NUTS moves in whitened
coordinates ``z``, ``u = u_MAP + L z`` with ``L L^T`` the Laplace covariance (the inverse Hessian
of the potential at the MAP): there the posterior is close to a unit normal, so short trajectories
suffice even when lens and source parameters are strongly correlated. Chains start from an
over-dispersed Laplace approximation (``z`` normal with twice the unit variance), so split R-hat
(Gelman et al. 2013) can reveal chains that have not mixed. R-hat and the effective sample size
come from :mod:`pyro.ops.stats`, computed on the parameters in their own units.

Chains run one after another in this process: each chain seeds pyro from ``seed + chain``, so
the draws do not depend on how many processes or threads are free.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
    """

    samples: np.ndarray
    rhat: np.ndarray
    ess: np.ndarray
    divergences: int
    wall_s: float


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
             seed: int, max_tree_depth: int = 8, target_accept: float = 0.8, progress: bool = False) -> NutsResult:
    """NUTS chains of one image's posterior.

    Parameters
    ----------
    potential : callable
        ``u (P,) -> -log p(u | d)`` (scalar tensor), differentiable.
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
    """
    rng = np.random.default_rng(seed)
    u_map = u_map.detach()
    factor = laplace_factor(potential, u_map)

    def whitened_potential(params):
        return potential(u_map + factor @ params["z"])

    starts = np.sqrt(OVERDISPERSION) * torch.as_tensor(rng.standard_normal((chains, u_map.numel())), dtype=u_map.dtype)
    kept, divergences = [], 0
    began = time.perf_counter()
    for chain in range(chains):
        pyro.set_rng_seed(seed + chain)
        kernel = NUTS(potential_fn=whitened_potential, adapt_step_size=True,
                      adapt_mass_matrix=True, full_mass=False, max_tree_depth=max_tree_depth,
                      target_accept_prob=target_accept)
        mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup, initial_params={"z": starts[chain]},
                    num_chains=1, disable_progbar=not progress)
        mcmc.run()
        kept.append(u_map + mcmc.get_samples()["z"].detach() @ factor.T)
        divergences += int(sum(len(v) for v in mcmc.diagnostics()["divergences"].values()))
    wall = time.perf_counter() - began
    samples = torch.stack(kept)
    constrained = to_constrained(samples)
    return NutsResult(samples=samples.numpy(), rhat=split_gelman_rubin(constrained).numpy(),
                      ess=effective_sample_size(constrained).numpy(), divergences=divergences, wall_s=wall)
