"""Maximum a posteriori fits: many starts per image, Adam then L-BFGS, batched in torch.

Every start of every image is one row of one tensor, so one render call moves them all. The
objective is the sum of the rows' potentials (``-log posterior`` in unconstrained space); rows do
not interact, so Adam (per-coordinate) moves each as if alone, and L-BFGS then polishes them
together with one strong-Wolfe line search over the batch. During the first half of Adam the
likelihood is tempered (weight growing geometrically from 1e-3 to 1) and the learning rate decays
on a cosine to 1/20 of its start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lensbench.fit.likelihood import ImagePosterior

TEMPER_START = 1e-3
"""Likelihood weight at Adam's first step (tempering, our choice)."""
TEMPER_FRACTION = 0.5
"""Fraction of Adam's steps over which the weight grows to 1 (our choice)."""


@dataclass(frozen=True)
class MapResult:
    """The MAP of N images from S starts each.

    Attributes
    ----------
    u : torch.Tensor
        ``(N, P)`` best start per image, unconstrained.
    theta : torch.Tensor
        ``(N, P)`` the same in parameter units.
    potentials : numpy.ndarray
        ``(N, S)`` final ``-log posterior`` of every start.
    success : numpy.ndarray
        ``(N, S)`` bool: the start ended within ``tolerance`` of its image's best potential.
    tolerance : float
        Potential difference (nats) counted as reaching the best mode.
    """

    u: torch.Tensor
    theta: torch.Tensor
    potentials: np.ndarray
    success: np.ndarray
    tolerance: float

    @property
    def success_rate(self) -> float:
        """Fraction of all starts that reached their image's best mode."""
        return float(self.success.mean())


def fit_map(posterior: ImagePosterior, starts: int, rng: np.random.Generator, *, adam_steps: int = 300,
            adam_lr: float = 0.05, lbfgs_steps: int = 50, tolerance: float = 1.0,
            initial_u: torch.Tensor | None = None, progress: Callable[[int], None] | None = None) -> MapResult:
    """Multi-start MAP of every image of ``posterior``.

    Parameters
    ----------
    posterior : ImagePosterior
        N images.
    starts : int
        Starts per image, drawn from the prior (``rng``) unless ``initial_u`` is given.
    rng : numpy.random.Generator
        Draws the starts.
    adam_steps, adam_lr : int, float
        Adam iterations and learning rate (unconstrained units).
    lbfgs_steps : int
        Most L-BFGS iterations after Adam.
    tolerance : float
        A start succeeds when its final potential is within this many nats of the image's best.
    initial_u : torch.Tensor, optional
        ``(N, S, P)`` starts in unconstrained space instead of prior draws.
    progress : callable, optional
        Called with the number of iterations done after each.
    """
    n, dtype = len(posterior), posterior.data.dtype
    rows = torch.arange(n).repeat_interleave(starts)
    batch = posterior.take(rows)
    if initial_u is None:
        theta0 = posterior.space.sample(n * starts, rng, dtype=dtype)
        u = posterior.space.to_unconstrained(theta0)
    else:
        u = initial_u.reshape(n * starts, -1).to(dtype)
    u = u.clone().requires_grad_(True)

    adam = torch.optim.Adam([u], lr=adam_lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(adam, max(adam_steps, 1), eta_min=adam_lr / 20)
    for step in range(adam_steps):
        adam.zero_grad()
        beta = tempering(step, adam_steps)
        tempered = -(beta * batch.log_likelihood(u) + batch.space.log_density_unconstrained(u))
        _finite_sum(tempered).backward()
        adam.step()
        schedule.step()
        if progress:
            progress(1)

    lbfgs = torch.optim.LBFGS([u], lr=1.0, max_iter=lbfgs_steps, line_search_fn="strong_wolfe",
                              tolerance_grad=1e-10, tolerance_change=1e-14, history_size=20)

    def closure():
        lbfgs.zero_grad()
        loss = _finite_sum(batch.potential(u))
        loss.backward()
        return loss

    if lbfgs_steps:
        lbfgs.step(closure)
    if progress:
        progress(lbfgs_steps)
    with torch.no_grad():
        final = batch.potential(u)
    potentials = torch.where(torch.isfinite(final), final, torch.inf).reshape(n, starts).numpy()
    best = potentials.argmin(axis=1)
    u_best = u.detach().reshape(n, starts, -1)[torch.arange(n), torch.as_tensor(best)]
    success = potentials <= potentials.min(axis=1, keepdims=True) + tolerance
    return MapResult(u=u_best, theta=posterior.space.to_constrained(u_best), potentials=potentials,
                     success=success, tolerance=tolerance)


def polish(potential: Callable[[torch.Tensor], torch.Tensor], u: torch.Tensor, steps: int = 100) -> torch.Tensor:
    """L-BFGS (strong Wolfe) on one image's potential ``u (P,) -> scalar`` from ``u``: converges a
    MAP before NUTS whitens with its Hessian (the batched MAP shares one line search)."""
    u = u.detach().clone().requires_grad_(True)
    lbfgs = torch.optim.LBFGS([u], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe",
                              tolerance_grad=1e-10, tolerance_change=1e-14, history_size=20)

    def closure():
        lbfgs.zero_grad()
        loss = potential(u)
        loss.backward()
        return loss

    lbfgs.step(closure)
    return u.detach()


def tempering(step: int, steps: int, start: float = TEMPER_START, fraction: float = TEMPER_FRACTION) -> float:
    """Likelihood weight ``beta`` of Adam step ``step`` of ``steps``: geometric from ``start`` to 1
    over the first ``fraction`` of the steps, then 1 (our choice: a flat, tempered posterior first
    lets starts cross between modes of the peaked high-SNR one)."""
    ramp = fraction * steps
    return 1.0 if step >= ramp else float(start ** (1 - step / ramp))


def _finite_sum(potentials: torch.Tensor) -> torch.Tensor:
    """Sum of the finite potentials: a start that left the renderable region stops moving
    instead of poisoning the batch's gradient with NaN."""
    return torch.where(torch.isfinite(potentials), potentials, torch.zeros_like(potentials)).sum()
