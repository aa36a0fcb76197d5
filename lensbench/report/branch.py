"""What one finished grid branch hands the report and the paper analyses: plain data, no Spec.

The report step (``lensbench.steps.report``) builds a :class:`BranchData` per branch from the
branch's validated spec and the folders of its finished steps; everything below it (the run
report in :mod:`lensbench.report.run`, the tasks' report sections, ``lensbench.papers``) reads
these records only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BranchData:
    """One grid branch of a finished run.

    Attributes
    ----------
    name : str
        The branch name (``main`` without a grid, else ``key=value,...``).
    task : str
        The registered task name (``classify``, ``regress``, ...).
    simulation_kind : str
        The ``[simulation] kind``.
    simulation, survey : dataclass
        The kind's validated ``[simulation]`` and ``[survey]`` configurations (core dataclasses).
    survey_scenario : str or None
        The named survey scenario, if one was chosen.
    architecture : str
        The ``[model] architecture``.
    seed : int
        The experiment seed.
    examples_per_class : int
        Example images per class the report shows.
    outputs : dict[str, Path]
        Role -> finished output folder of the branch's steps (``train``, ``evaluate``,
        ``simulate:test``, ``signal:test``, ``apply``, ...).
    results : dict
        The evaluate step's ``results.json`` with the training curves under ``curves["loss"]``
        (empty for a task without an evaluate step).
    history : dict
        The train step's ``history.json`` (empty without a train step).
    """

    name: str
    task: str
    simulation_kind: str
    simulation: Any
    survey: Any
    survey_scenario: str | None
    architecture: str
    seed: int
    examples_per_class: int = 0
    outputs: dict[str, Path] = field(default_factory=dict)
    results: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
