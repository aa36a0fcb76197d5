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
class Scale:
    """How much data and training one branch had.

    Attributes
    ----------
    n_train, n_val, n_test : int
        Images of each split: per class (``per_class``) or in total.
    per_class : bool
        Whether the sizes count images per class (classification) or in total (regression).
    epochs : int
        ``[training] epochs`` (the most the run may train; early stopping may end it sooner).
    """

    n_train: int
    n_val: int
    n_test: int
    per_class: bool
    epochs: int

    @property
    def counted(self) -> str:
        """``per class`` or ``in total``."""
        return "per class" if self.per_class else "in total"

    def sizes(self) -> str:
        """``"1,200 / 250 / 500"`` (train / val / test)."""
        return " / ".join(f"{n:,}" for n in (self.n_train, self.n_val, self.n_test))

    def images(self) -> str:
        """``"1,200 / 250 / 500 per class"`` (train / val / test)."""
        return f"{self.sizes()} {self.counted}"


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
    training : dataclass or None
        The branch's validated ``[training]`` (:class:`lensbench.training.TrainConfig`).
    scale, paper_scale : Scale or None
        How many images and epochs this run used, and the spec's own scale without a preset (the
        paper's), None where unknown (a branch the spec without preset does not have).
    paper_setup_differences : tuple of str
        Dotted keys of ``[simulation]``/``[survey]`` (and ``simulation.kind``) whose values differ
        from those of the spec file that states the paper's table: the paper's numbers were
        obtained for a different setup. Empty when the setup is the paper's.
    channels : tuple of (str, str)
        Name and unit of each image channel (``("u_l", "muas/yr")``), as the simulation kind
        declares them; empty when it declares none.
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
    training: Any = None
    scale: Scale | None = None
    paper_scale: Scale | None = None
    paper_setup_differences: tuple[str, ...] = ()
    channels: tuple[tuple[str, str], ...] = ()
