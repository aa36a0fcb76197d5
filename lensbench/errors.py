"""The error hierarchy of lensbench.

Every error a user can cause derives from :class:`LensbenchError` and carries a message meant to be
printed as it is, without a traceback. The command line maps them to exit codes:
2 for :class:`SpecError` (bad spec or arguments), 3 for :class:`DataError` (unreadable input data)
and 1 for :class:`StepError` (a step failed while running).
"""

from __future__ import annotations

from dataclasses import dataclass


class LensbenchError(Exception):
    """Base class of every error lensbench reports to a user."""

    exit_code = 1


@dataclass(frozen=True)
class SpecIssue:
    """One problem found in a spec.

    Parameters
    ----------
    file : str
        Path of the TOML file the key came from ("<command line>" for ``--set``).
    line : int or None
        1-based line of the key in that file, when known.
    key : str
        Dotted key path, e.g. ``training.epochs``.
    message : str
        What is wrong, in words a user can act on.
    """

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class SpecError(LensbenchError):
    """A spec (or command-line argument) is invalid; holds every problem found at once."""

    exit_code = 2

    def __init__(self, issues):
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class UsageError(LensbenchError):
    """Bad command-line arguments that are not part of a spec."""

    exit_code = 2


class DataError(LensbenchError):
    """Input data (a FITS file, a dataset, a model directory) cannot be read."""

    exit_code = 3

    def __init__(self, path, message):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class StepError(LensbenchError):
    """A step of a run failed; the message names the step and its log file."""

    exit_code = 1

    def __init__(self, step, message, log=None):
        self.step = step
        self.log = log
        text = f"step {step} failed: {message}"
        if log:
            text += f" (log: {log})"
        super().__init__(text)
