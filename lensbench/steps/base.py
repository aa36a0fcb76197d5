"""The step-kind registry and what a running step gets (:class:`StepContext`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensbench.registry import Registry

STEP_KINDS: Registry[type] = Registry("step kind")


@dataclass
class StepContext:
    """What a running step gets.

    Attributes
    ----------
    step_id : str
        The step's id in the plan.
    params : dict
        The step's configuration (as returned by its ``params``).
    work : Path
        Folder to write outputs into (kept across interruptions until the step finishes).
    inputs : dict[str, Path]
        Role -> finished output folder of each input step.
    log : logging.Logger
        Writes to the step's log file.
    progress : bool
        Whether to show progress bars.
    device : str
        ``cpu`` or ``cuda``.
    extra : dict
        Step-specific context (the report step gets the plan, specs and output folder).
    """

    step_id: str
    params: dict[str, Any]
    work: Path
    inputs: dict[str, Path]
    log: logging.Logger
    progress: bool = True
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)
