"""Lenses simulated at given (f_sub, beta): the fiducial sample, coverage ensembles, Fig. 2 lenses.

The spec's continuous-label population (``[simulation.regression]``, a CDM population by
f_sub) draws theta from the proposal; here its f_sub and slope priors are fixed to the point
(slope = beta - 1, the code's convention) and the simulation kind renders as usual.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lensbench.sbi.population import MassRange, ProposalBox
from lensbench.simulate.priors import Prior


def population_box_and_masses(simulation) -> tuple[ProposalBox, MassRange]:
    """The proposal box (uniform f_sub and slope priors of ``simulation.regression``) and its
    mass range; ValueError when the population is not a CDM population by f_sub with uniform priors."""
    population = getattr(simulation, "regression", None)
    if population is None or population.kind != "cdm" or population.count_mode != "f_sub":
        raise ValueError("the likelihood_ratio task needs [simulation.regression] with kind = \"cdm\" and "
                         "count_mode = \"f_sub\"")
    if population.f_sub.dist != "uniform" or population.slope.dist != "uniform":
        raise ValueError("the likelihood_ratio task needs uniform f_sub and slope priors in "
                         "[simulation.regression] (the proposal box, Brehmer+19 sec. 3.1)")
    box = ProposalBox(population.f_sub.low, population.f_sub.high, population.slope.low + 1.0,
                      population.slope.high + 1.0)
    masses = MassRange(m_draw=population.m_min,
                       m_def=population.m_min if population.f_sub_m_min is None else population.f_sub_m_min)
    return box, masses


def at_point(simulation, f_sub: float, beta: float):
    """``simulation`` with its regression population fixed at (f_sub, beta)."""
    population = dataclasses.replace(simulation.regression, f_sub=Prior("fixed", value=float(f_sub)),
                                     slope=Prior("fixed", value=float(beta) - 1.0))
    return dataclasses.replace(simulation, regression=population)


def simulate_at(kind, simulation, survey, thetas: np.ndarray, per_point: int, rng: np.random.Generator,
                execution) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``per_point`` noisy images at each of the points ``thetas`` (K, 2), point after point.

    Returns images (K * per_point, C, H, W) in counts/s and their parameters.
    """
    images, params = [], []
    for f_sub, beta in np.asarray(thetas, dtype=np.float64):  # one batch per parameter point
        batch, drawn = kind.simulate_batch(at_point(simulation, f_sub, beta), survey, None, per_point, rng,
                                           execution=execution)
        images.append(batch)
        params.append(drawn)
    keys = [k for k in params[0] if np.ndim(params[0][k]) == 1]
    return np.concatenate(images), {k: np.concatenate([p[k] for p in params]) for k in keys}
