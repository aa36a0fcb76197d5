"""The task registry: what an experiment does after it has simulated its data.

A task (``[experiment] task = "classify"``) declares the spec sections it owns, the simulated
splits it needs, its steps with explicit roles, and the report sections it draws. The plan
(:mod:`lensbench.plan`) keeps the simulation part and asks the task for the rest, so adding a
task is one module and one registration::

    from lensbench.tasks import TASKS, Task, TaskStep

    TASKS.register("mean_pixel")(Task(name="mean_pixel", steps=..., report=...))

See :mod:`lensbench.tasks.supervised` for the built-in ``classify`` and ``regress`` tasks.
"""

from __future__ import annotations

from lensbench.tasks.base import TASKS, ReportContext, Task, TaskStep, task_sections
from lensbench.tasks import supervised  # noqa: E402,F401  (registration)
from lensbench.tasks import fit  # noqa: E402,F401  (registration)
from lensbench.tasks import ssl  # noqa: E402,F401  (registration)
from lensbench.tasks import likelihood_ratio  # noqa: E402,F401  (registration)

__all__ = ["TASKS", "ReportContext", "Task", "TaskStep", "task_sections"]
