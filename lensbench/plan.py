"""Resolve validated specs into a DAG of steps.

One spec variant (grid branch) becomes::

    simulate:train  simulate:val  simulate:test
            \\           /              |
              train                    |
                   \\                   |
                     evaluate ---------+
                          \\
                           report (one for the whole spec, over every branch)

Steps whose configuration and inputs are identical across branches (for instance the
simulation of branches that differ only in their architecture) get the same cache key and are
planned once. A step sees only its own configuration: the train step does not know the
simulator's priors except through the key of its input datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lensbench.cache import step_key
from lensbench.spec.schema import Spec
from lensbench.steps import STEP_KINDS

SPLITS = ("train", "val", "test")


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
    branches : list[str]
        Grid branches this step serves.
    key : str
        Cache key, filled in by :func:`make_plan`.
    """

    id: str
    kind: str
    params: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    branches: list[str] = field(default_factory=list)
    key: str = ""


@dataclass
class Plan:
    """Steps in an order where every step follows its inputs."""

    steps: list[Step]
    specs: list[Spec]

    def get(self, step_id: str) -> Step:
        """The step named ``step_id``."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


def _suffix(spec: Spec, keys: tuple[str, ...]) -> str:
    """``[a=1,b=2]`` of the grid values among ``keys`` that this step depends on, or ''."""
    parts = [f"{k.split('.')[-1]}={v}" for k, v in spec.branch.items() if k.split(".")[0] in keys]
    return f"[{','.join(parts)}]" if parts else ""


def branch_steps(spec: Spec) -> list[Step]:
    """The simulate, train and evaluate steps of one spec variant (keys not yet computed)."""
    simulation_sections = ("simulation", "survey", "data", "experiment")
    sim_suffix = _suffix(spec, simulation_sections)
    all_suffix = _suffix(spec, tuple(k.split(".")[0] for k in spec.branch))
    steps = []
    for split in SPLITS:
        params = STEP_KINDS.get("simulate").params(spec, split=split)
        steps.append(Step(f"simulate:{split}{sim_suffix}", "simulate", params))
    train_inputs = {"train": steps[0].id, "val": steps[1].id}
    steps.append(Step(f"train{all_suffix}", "train", STEP_KINDS.get("train").params(spec), train_inputs))
    steps.append(Step(f"evaluate{all_suffix}", "evaluate", STEP_KINDS.get("evaluate").params(spec),
                      {"model": steps[3].id, "test": steps[2].id}))
    return steps


def make_plan(specs: list[Spec]) -> Plan:
    """The plan of every variant of a spec, with cache keys, shared steps merged."""
    by_id: dict[str, Step] = {}
    order: list[Step] = []
    for spec in specs:
        for step in branch_steps(spec):
            existing = by_id.get(step.id)
            if existing is None:
                by_id[step.id] = step
                order.append(step)
                existing = step
            existing.branches.append(spec.branch_name)
    report_inputs = {s.id: s.id for s in order if s.kind in ("evaluate", "train") or s.id.startswith("simulate:test")}
    report = Step("report", "report", STEP_KINDS.get("report").params(specs), report_inputs,
                  [s.branch_name for s in specs])
    order.append(report)
    keys: dict[str, str] = {}
    for step in order:
        kind = STEP_KINDS.get(step.kind)
        step.key = step_key(step.kind, kind.VERSION, step.params, [keys[i] for i in step.inputs.values()])
        keys[step.id] = step.key
    return Plan(order, specs)
