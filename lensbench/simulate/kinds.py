"""The registry of simulation kinds a spec may name in ``[simulation] kind``.

Each kind declares the frozen dataclass its ``[simulation]`` table is validated into, the dataclass
of its ``[survey]`` table with named survey scenarios, and the functions the simulate step calls.
Simulators register themselves here so their options are declared once, next to their code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from lensbench.registry import Registry


@dataclass(frozen=True)
class SimulationKind:
    """What the engine needs to know about one kind of simulator.

    Attributes
    ----------
    name : str
        The ``[simulation] kind`` value.
    config : type
        Frozen dataclass of the ``[simulation]`` table (without ``kind``).
    survey : type
        Frozen dataclass of the ``[survey]`` table.
    scenarios : dict
        Named survey instances a spec can pick with ``[survey] scenario = "NAME"``.
    class_names : callable
        ``class_names(config) -> list[str]``: the classes this simulator can render.
    simulate_batch : callable or None
        ``simulate_batch(config, survey, class_name, n, rng, *, execution) -> (images, params)``
        for kinds that render images in one stage.
    simulate_signal, observe : callable or None
        The two stages of kinds whose survey-independent signal is simulated once and observed
        per survey: ``simulate_signal(config, n, rng, *, execution) -> (signal, params)`` for the
        positive (last) class, and ``observe(config, survey, signal, n, rng) -> images`` where
        ``signal`` is None for the negative class. ``execution`` is the run's
        :class:`lensbench.execution.ExecutionConfig` (speed switches, in no cache key).
    description : str
        One line for ``lensbench list``.
    channels : callable or None
        ``channels(config) -> tuple[(name, unit), ...]``: what each image channel holds, for
        labelling figures (``("u_l", "muas/yr")``); None when the kind does not say.
    signal_part : callable or None
        ``signal_part(config) -> config``: the config with the options the signal does not
        depend on (how it is observed or shown to the network) set to fixed values, so that the
        signal step's cache key ignores them; None: the signal depends on all of it.
    """

    name: str
    config: type
    survey: type
    class_names: Callable[[Any], list[str]]
    scenarios: dict = field(default_factory=dict)
    simulate_batch: Callable | None = None
    simulate_signal: Callable | None = None
    observe: Callable | None = None
    description: str = ""
    channels: Callable[[Any], tuple[tuple[str, str], ...]] | None = None
    signal_part: Callable[[Any], Any] | None = None


SIMULATION_KINDS: Registry[SimulationKind] = Registry("simulation kind")
