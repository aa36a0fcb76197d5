"""Registers every built-in simulation kind in :data:`lensbench.simulate.kinds.SIMULATION_KINDS`.

Import :data:`SIMULATION_KINDS` from here (not from :mod:`lensbench.simulate.kinds`) to get the
registry with the built-in kinds in it.
"""

from __future__ import annotations

import numpy as np

from lensbench.lazy import lazy_module
from lensbench.simulate import astrometric_config, galaxy, strong
from lensbench.simulate.kinds import SIMULATION_KINDS, SimulationKind

# The astrometric simulator imports torch: imported when a map is simulated, not when a spec is
# validated (its options are in astrometric_config).
astrometric = lazy_module("lensbench.simulate.astrometric")


def _surface_brightness(config) -> tuple[tuple[str, str], ...]:
    """One channel: surface brightness per pixel (counts/s)."""
    return (("surface brightness", "counts/s"),)


SIMULATION_KINDS.register("strong_lensing")(SimulationKind(
    name="strong_lensing",
    config=strong.StrongLensingConfig,
    survey=strong.StrongLensingSurvey,
    scenarios=strong.SURVEY_PRESETS,
    class_names=strong.class_names,
    simulate_batch=strong.simulate_batch,
    description="galaxy-galaxy strong lenses with substructure (torch or lenstronomy renderer)",
    channels=_surface_brightness,
))

SIMULATION_KINDS.register("galaxy")(SimulationKind(
    name="galaxy",
    config=galaxy.GalaxyConfig,
    survey=strong.StrongLensingSurvey,
    scenarios=galaxy.SURVEY_PRESETS,
    class_names=galaxy.class_names,
    simulate_batch=galaxy.simulate_batch,
    description="a single galaxy weakly lensed by its own NFW halo (Ko's COSMOS-like set)",
    channels=_surface_brightness,
))



def _simulate_astrometric_signal(config, n, rng, *, execution):
    """:func:`lensbench.simulate.astrometric.simulate_signal`."""
    return astrometric.simulate_signal(config, n, rng, execution=execution)


def _astrometric_signal_part(config):
    """:func:`lensbench.simulate.astrometric.signal_part`."""
    return astrometric.signal_part(config)


def _observe_astrometric(config, survey, signal, n, rng):
    """Observe ``signal`` (positive class) or an empty sky (``signal`` None) with ``survey``."""
    with_signal = signal is not None
    if not with_signal:
        signal = np.zeros((n, 2, 12 * config.data_nside**2), dtype=np.float32)
    return astrometric.observe(config, survey, signal, with_signal, rng)


#: Channels of the astrometric images: the field's components along Galactic l and b (Vattis+21
#: write the velocity u_l, u_b), in the field's unit.
ASTROMETRIC_CHANNELS = {
    "deflection": (("alpha_l", "muas"), ("alpha_b", "muas")),
    "velocity": (("u_l", "muas/yr"), ("u_b", "muas/yr")),
    "acceleration": (("a_l", "muas/yr^2"), ("a_b", "muas/yr^2")),
}


SIMULATION_KINDS.register("astrometric")(SimulationKind(
    name="astrometric",
    config=astrometric_config.AstrometricConfig,
    survey=astrometric_config.AstrometricSurvey,
    scenarios=astrometric_config.SCENARIOS,
    class_names=lambda config: ["no_subhalos", "subhalos"],
    simulate_signal=_simulate_astrometric_signal,
    observe=_observe_astrometric,
    description="Milky-Way subhalos lensing quasars: HEALPix proper-motion maps (Vattis+21)",
    channels=lambda config: ASTROMETRIC_CHANNELS[config.field],
    signal_part=_astrometric_signal_part,
))

__all__ = ["SIMULATION_KINDS"]
