"""Checks across sections of a validated spec: what no single section can know on its own.

Each check returns ``(dotted key, message)`` pairs, reported at that key's line by
:func:`lensbench.spec.schema.validate`, so a spec the simulator would reject fails before any
compute.
"""

from __future__ import annotations

import difflib


def class_problems(spec) -> list[tuple[str, str]]:
    """``data.classes`` of a task labelled by classes: each must be a class the simulation kind
    renders (:attr:`lensbench.simulate.kinds.SimulationKind.class_names`), each once."""
    from lensbench.simulate.register import SIMULATION_KINDS
    from lensbench.tasks import TASKS

    if TASKS.get(spec.experiment.task).labels != "classes":
        return []
    known = list(SIMULATION_KINDS.get(spec.simulation_kind).class_names(spec.simulation))
    if not spec.data.classes:
        return [("data.classes", f"task '{spec.experiment.task}' needs the classes to learn; "
                                 f"kind '{spec.simulation_kind}' renders: {', '.join(known)}")]
    problems = []
    for name in spec.data.classes:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(("data.classes", f"unknown class '{name}' for simulation kind '{spec.simulation_kind}'; "
                                             f"one of: {', '.join(known)}{hint}"))
    repeated = sorted({name for name in spec.data.classes if spec.data.classes.count(name) > 1})
    if repeated:
        problems.append(("data.classes", f"class '{repeated[0]}' is listed more than once"))
    return problems


def task_problems(spec) -> list[tuple[str, str]]:
    """The problems the spec's task finds across sections (:attr:`lensbench.tasks.base.Task.checks`)."""
    from lensbench.tasks import TASKS

    checks = TASKS.get(spec.experiment.task).checks
    return [] if checks is None else list(checks(spec))


def spec_problems(spec) -> list[tuple[str, str]]:
    """Every problem across sections of ``spec`` (a :class:`lensbench.spec.schema.Spec`)."""
    return class_problems(spec) + task_problems(spec)
