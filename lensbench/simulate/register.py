"""Registers every built-in simulation kind in :data:`lensbench.simulate.kinds.SIMULATION_KINDS`.

Import :data:`SIMULATION_KINDS` from here (not from :mod:`lensbench.simulate.kinds`) to get the
registry with the built-in kinds in it.
"""

from __future__ import annotations

from lensbench.simulate import galaxy, strong
from lensbench.simulate.kinds import SIMULATION_KINDS, SimulationKind

SIMULATION_KINDS.register("strong_lensing")(SimulationKind(
    name="strong_lensing",
    config=strong.StrongLensingConfig,
    survey=strong.StrongLensingSurvey,
    scenarios=strong.SURVEY_PRESETS,
    class_names=strong.class_names,
    simulate_batch=strong.simulate_batch,
    description="galaxy-galaxy strong lenses with substructure (torch or lenstronomy renderer)",
))

SIMULATION_KINDS.register("galaxy")(SimulationKind(
    name="galaxy",
    config=galaxy.GalaxyConfig,
    survey=strong.StrongLensingSurvey,
    scenarios=galaxy.SURVEY_PRESETS,
    class_names=galaxy.class_names,
    simulate_batch=galaxy.simulate_batch,
    description="a single galaxy weakly lensed by its own NFW halo (Ko's COSMOS-like set)",
))

__all__ = ["SIMULATION_KINDS"]
