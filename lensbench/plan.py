"""Resolve validated specs into a DAG of steps.

One spec variant (grid branch) becomes its simulation, then the steps of its task
(:mod:`lensbench.tasks`); for the supervised tasks::

    simulate:train  simulate:val  simulate:test
            \\           /              |
              train                    |
                   \\                   |
                     evaluate ---------+
                          \\
                           report (one for the whole spec, over every branch)

The plan owns the simulation part (a ``simulate`` step per split the task needs, after a
``signal`` step per split for kinds whose signal does not depend on the survey) and asks the
task for the rest: each task step has a role, and names its inputs by role.

Steps whose configuration and inputs are identical across branches (for instance the
simulation of branches that differ only in their architecture) get the same cache key and are
planned once. A step sees only its own configuration: the train step does not know the
simulator's priors except through the key of its input datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lensbench.cache import step_key
from lensbench.spec.schema import VARIANT, Spec, simulation_kinds
from lensbench.steps import STEP_KINDS
from lensbench.tasks import TASKS

@dataclass
class Step:
    """One node of the plan.

    Attributes
    ----------
    id : str
        Unique, readable name (``simulate:train``, ``train[architecture=vgg11]``).
    kind : str
        A registered step kind (:data:`lensbench.steps.STEP_KINDS`).
    params : dict
        The step's own configuration; hashed into its key.
    inputs : dict[str, str]
        Role -> id of the step that produces it (``{"train": "simulate:train", ...}``).
    role : str
        What the step does in its branch: ``signal:<split>``, ``simulate:<split>`` or a task
        step's role (``train``, ``evaluate``, ...); ``report`` for the report.
    branches : list[str]
        Grid branches this step serves.
    key : str
        Cache key, filled in by :func:`make_plan`.
    """

    id: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    role: str = ""
    branches: list[str] = field(default_factory=list)
    key: str = ""


@dataclass
class Plan:
    """Steps in an order where every step follows its inputs.

    ``roles[branch][role]`` names the step that plays ``role`` (``train``, ``evaluate``,
    ``simulate:test``, ...) for a grid branch.
    """

    steps: list[Step]
    specs: list[Spec]
    roles: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, step_id: str) -> Step:
        """The step named ``step_id``."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def _suffix(spec: Spec, sections: tuple[str, ...]) -> str:
    """``[a=1,b=2]`` of the grid values that touch ``sections`` (a named variant touches all), or ''."""
    parts = [f"{k.split('.')[-1]}={v}" for k, v in spec.branch.items()
             if k == VARIANT or k.split(".")[0] in sections]
    return f"[{','.join(parts)}]" if parts else ""


def branch_steps(spec: Spec) -> list[Step]:
    """The steps of one spec variant, inputs first (keys not yet computed).

    Kinds whose signal does not depend on the survey (astrometric maps) get a ``signal`` step per
    split that every survey scenario shares; ``simulate`` then observes it.
    """
    kind = simulation_kinds().get(spec.simulation_kind)
    task = TASKS.get(spec.experiment.task)
    sim_suffix = _suffix(spec, ("simulation", "survey", "data", "experiment"))
    signal_suffix = _suffix(spec, ("simulation", "data", "experiment"))
    all_suffix = _suffix(spec, tuple(k.split(".")[0] for k in spec.branch))
    steps, by_role = [], {}

    def add(step: Step) -> None:
        steps.append(step)
        by_role[step.role] = step.id

    for split in task.splits:
        inputs = {}
        if kind.simulate_signal is not None:
            add(Step(f"signal:{split}{signal_suffix}", "signal", STEP_KINDS.get("signal").params(spec, split=split),
                     role=f"signal:{split}"))
            inputs = {"signal": by_role[f"signal:{split}"]}
        add(Step(f"simulate:{split}{sim_suffix}", "simulate", STEP_KINDS.get("simulate").params(spec, split=split),
                 inputs, role=f"simulate:{split}"))
    for task_step in task.steps(spec):
        missing = [role for role in task_step.inputs.values() if role not in by_role]
        if missing:
            raise ValueError(f"task '{task.name}': step '{task_step.role}' reads role '{missing[0]}', which no "
                             f"earlier step plays (roles: {', '.join(by_role)})")
        add(Step(f"{task_step.role}{all_suffix}", task_step.kind, task_step.params,
                 {name: by_role[role] for name, role in task_step.inputs.items()}, role=task_step.role))
    return steps


def _environment(kind, spec: Spec) -> dict | None:
    """What besides its configuration changes a step's results, for its cache key: torch's CPU
    thread count for kinds with ``THREADS_IN_KEY`` (smoke training with 1 and 2 threads gave
    weights up to 2.7e-3 apart), and whether the simulators' kernels are compiled for kinds with
    ``COMPILE_IN_KEY`` (torch.compile reorders float operations: compiled and eager renders differ
    in their last bits); None for the others."""
    environment = {}
    if getattr(kind, "THREADS_IN_KEY", False):
        import torch

        environment["torch_threads"] = torch.get_num_threads()
    if getattr(kind, "COMPILE_IN_KEY", False):
        environment["compiled"] = spec.execution.use_compile
    return environment or None


def make_plan(specs: list[Spec]) -> Plan:
    """The plan of every variant of a spec, with cache keys; steps with equal keys run once."""
    by_key: dict[tuple[str, str], Step] = {}
    order: list[Step] = []
    roles: dict[str, dict[str, str]] = {}
    for spec in specs:
        alias: dict[str, str] = {}  # this branch's step id -> id of the planned step
        keys: dict[str, str] = {}
        roles[spec.branch_name] = {}
        for step in branch_steps(spec):
            step.inputs = {name: alias[i] for name, i in step.inputs.items()}
            kind = STEP_KINDS.get(step.kind)
            step.key = step_key(step.kind, kind.VERSION, step.params, [keys[i] for i in step.inputs.values()],
                                _environment(kind, spec))
            planned = by_key.setdefault((step.kind, step.key), step)
            if planned is step:
                order.append(step)
            alias[step.id] = planned.id
            keys[planned.id] = planned.key
            planned.branches.append(spec.branch_name)
            roles[spec.branch_name][step.role] = planned.id
    report_inputs = {}
    for spec in specs:
        wanted = ("signal:test", "simulate:test", *TASKS.get(spec.experiment.task).report_roles)
        report_inputs.update({i: i for role, i in roles[spec.branch_name].items() if role in wanted})
    report = Step("report", "report", STEP_KINDS.get("report").params(specs), report_inputs, role="report",
                  branches=[s.branch_name for s in specs])
    report.key = step_key("report", STEP_KINDS.get("report").VERSION, report.params, [s.key for s in order])
    order.append(report)
    return Plan(order, specs, roles)
