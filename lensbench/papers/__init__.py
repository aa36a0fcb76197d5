"""Analyses that belong to one paper: its own figures and numbers, drawn from plain branch data.

A paper analysis is a function ``sections(branches, paper, device) -> list[Section]`` where
``branches`` maps each branch name to a :class:`lensbench.report.branch.BranchData`, ``paper`` is
the spec's ``[experiment.paper.table]`` (branch name -> metric -> value) and ``device`` is
"cpu" or "cuda". A spec selects one with ``[experiment.paper] analysis = "NAME"``; the report
step calls ``PAPER_ANALYSES.get(NAME)(branches, paper, device)`` and appends the sections.
Analyses never see the Spec; they read the folders and records a ``BranchData`` holds.
"""

from __future__ import annotations

from typing import Callable

from lensbench.registry import Registry

PAPER_ANALYSES: Registry[Callable] = Registry("paper analysis")


@PAPER_ANALYSES.register("vattis21")
def _vattis21(branches, paper, device):
    """:func:`lensbench.papers.vattis21.sections`, imported when a report is written (it imports
    healpy and matplotlib, which ``lensbench list`` and spec validation do not need)."""
    from lensbench.papers.vattis21 import sections

    return sections(branches, paper, device)


__all__ = ["PAPER_ANALYSES"]
