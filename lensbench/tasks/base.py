"""What a task declares: its sections, splits, steps with roles, and report sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from lensbench.registry import Registry

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class TaskStep:
    """One step a task adds to every grid branch.

    Attributes
    ----------
    role : str
        The step's role in its branch, unique there (``train``, ``evaluate``, ``pretrain``,
        ``finetune``, ...). Other steps name their inputs by role, and the report finds the
        step's output under it (:attr:`lensbench.report.branch.BranchData.outputs`).
    kind : str
        A registered step kind (:data:`lensbench.steps.STEP_KINDS`); several roles may share a
        kind (a pre-training and a fine-tuning ``train``).
    params : dict
        The step's own configuration, hashed into its cache key.
    inputs : dict[str, str]
        Input name as the step kind reads it (``ctx.inputs[name]``) -> role of the step that
        produces it: a simulated split (``simulate:train``) or another task step (``train``).
    """

    role: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportContext:
    """What a task's report sections may use besides the branches.

    Attributes
    ----------
    paper : dict[str, dict[str, float]]
        The spec's ``[experiment.paper.table]``: branch name (``main`` without a grid) ->
        metric -> published value.
    device : str
        ``cpu`` or ``cuda``, for report sections that run a model.
    """

    paper: dict[str, dict[str, float]]
    device: str = "cpu"

    def paper_value(self, branch: str, metric: str):
        """The paper's value of ``metric`` for ``branch`` (or for ``main``), else None."""
        for name in (branch, "main"):
            if metric in self.paper.get(name, {}):
                return self.paper[name][metric]
        return None


@dataclass(frozen=True)
class Task:
    """A kind of experiment, registered in :data:`lensbench.tasks.TASKS`.

    Attributes
    ----------
    name : str
        The ``[experiment] task`` value.
    steps : callable
        ``steps(spec) -> list[TaskStep]``: the steps of one grid branch after its simulation,
        inputs first. It reads only the sections its steps need.
    report : callable
        ``report(branches, context) -> dict[str, list]``: section title -> document blocks
        (:mod:`lensbench.report.document`) for the branches of the run that have this task;
        ``branches`` maps a branch name to a :class:`lensbench.report.branch.BranchData`. Blocks
        of several tasks under the same title share one section.
    labels : {"classes", "parameters"}
        What the simulated examples are labelled with: ``[data] classes`` (one label per class)
        or ``[data] labels`` (simulated parameters, for regression).
    sections : dict[str, type]
        Spec sections the task owns (``{"pretrain": PretrainConfig}``): frozen dataclasses the
        spec layer validates ``[pretrain]`` into; a spec of another task may not use them.
    splits : tuple of str
        The simulated splits the task's steps read (``simulate:<split>`` roles).
    report_roles : tuple of str
        Roles whose outputs the report reads (the test split is always available).
    description : str
        One line for ``lensbench list``.
    scale : callable or None
        ``scale(spec) -> str``: how big one branch's run is, for a task whose size is not images
        and epochs (``"12 mock lenses (3 per SNR); NUTS on 4 of them, 2 chains x (200 + 300)
        draws"``); the report's scale banner compares it with the spec's own, without a preset.
        None: ``[data]`` images and ``[training]`` epochs.
    trains_model : bool
        Whether the task trains the ``[model]`` architecture (the report names it per branch).
    checks : callable or None
        ``checks(spec) -> list[(dotted key, message)]``: problems across sections only the task
        knows (a task section that needs a certain class), reported at the key's line when the
        spec is validated.
    metric_roles : tuple of str
        Roles besides ``evaluate`` whose ``results.json`` ``metrics`` join the branch's metrics
        (``metrics.json``, ``lensbench compare``), e.g. a baseline estimator's.
    """

    name: str
    steps: Callable[[Any], list[TaskStep]]
    report: Callable[[dict, ReportContext], dict[str, list]]
    labels: str = "classes"
    sections: dict[str, type] = field(default_factory=dict)
    splits: tuple[str, ...] = SPLITS
    report_roles: tuple[str, ...] = ()
    description: str = ""
    scale: Callable[[Any], str] | None = None
    trains_model: bool = True
    checks: Callable[[Any], list[tuple[str, str]]] | None = None
    metric_roles: tuple[str, ...] = ()

    def __post_init__(self):
        if self.labels not in ("classes", "parameters"):
            raise ValueError(f"task '{self.name}': labels must be 'classes' or 'parameters', got {self.labels!r}")


TASKS: Registry[Task] = Registry("task")


def task_sections() -> dict[str, tuple[str, type]]:
    """Every spec section a registered task owns: section name -> (task name, dataclass)."""
    return {section: (name, cls) for name in TASKS for section, cls in TASKS.get(name).sections.items()}
