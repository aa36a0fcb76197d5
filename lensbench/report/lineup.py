"""Report folders read back for ``lensbench compare``, and their branches lined up by task.

A branch's task is its :meth:`LoadedReport.signature`: the simulation kind, the task and the class
(or regressed parameter) names. The simulation kind and each branch's resolved tables come from
validating the report's ``spec.resolved.toml`` again; when that fails (a spec written by an older
version), the kind is unknown and only the whole file is known.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from lensbench.errors import DataError, SpecError
from lensbench.report.schema import validate_metrics

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

METRICS_FILE = "metrics.json"
SPEC_FILE = "spec.resolved.toml"


@dataclass(frozen=True)
class LoadedReport:
    """One report folder as read from disk.

    Parameters
    ----------
    path : Path
        The folder.
    metrics : dict
        Its ``metrics.json``, valid against the schema.
    spec : dict or None
        Its ``spec.resolved.toml``, or None when the folder has none.
    branch_specs : dict
        Branch name -> (simulation kind, resolved tables) of each branch, from validating
        ``spec`` again; empty when it has none or it no longer validates.
    """

    path: Path
    metrics: dict
    spec: dict | None
    branch_specs: dict[str, tuple[str, dict]] = field(default_factory=dict)

    def signature(self, branch: str) -> tuple:
        """What ``branch`` ran: (simulation kind or None, task, class or parameter names)."""
        entry = self.metrics["branches"][branch]
        kind = self.branch_specs[branch][0] if branch in self.branch_specs else None
        return kind, entry["task"], tuple(entry.get("class_names") or entry.get("parameter_names") or ())

    def tables(self, branch: str) -> dict:
        """The resolved spec tables of ``branch``, else the whole spec file (empty without one)."""
        return self.branch_specs[branch][1] if branch in self.branch_specs else (self.spec or {})


def load_report(directory: Path) -> LoadedReport:
    """Read and check one report folder (see :class:`LoadedReport`); raises DataError."""
    if not directory.is_dir():
        raise DataError(directory, "not a folder; expected a lensbench report folder")
    metrics_path = directory / METRICS_FILE
    if not metrics_path.is_file():
        raise DataError(directory, f"no {METRICS_FILE}; is this a lensbench report folder?")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(metrics_path, f"not valid JSON ({error})") from error
    try:
        validate_metrics(metrics)
    except ValueError as error:
        raise DataError(metrics_path, str(error)) from error
    spec_path = directory / SPEC_FILE
    return LoadedReport(path=directory, metrics=metrics, spec=_load_spec(spec_path),
                        branch_specs=_branch_specs(spec_path))


def _branch_specs(spec_path: Path) -> dict[str, tuple[str, dict]]:
    """Branch name -> (simulation kind, resolved tables), validating the report's resolved spec."""
    from lensbench.spec import load_spec

    if not spec_path.is_file():
        return {}
    try:
        specs = load_spec(spec_path)
    except SpecError:
        return {}
    return {spec.branch_name: (spec.simulation_kind, spec.resolved) for spec in specs}


def _load_spec(spec_path: Path) -> dict | None:
    if not spec_path.is_file():
        return None
    try:
        return tomllib.loads(spec_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DataError(spec_path, f"not valid TOML ({error})") from error


def ordered_union(sequences) -> list:
    """The items of all ``sequences``, each once, in order of first appearance."""
    return list(dict.fromkeys(item for sequence in sequences for item in sequence))


def line_up(reports: Sequence[LoadedReport]) -> list[tuple[str | None, ...]]:
    """Rows of branches that ran the same task, one branch name (or None) per report.

    First, branches of equal name and equal :meth:`LoadedReport.signature` in two or more
    reports; then, of the rest, a signature held by exactly one branch in each of two or more
    reports; every branch left is a row of its own.
    """
    count = len(reports)
    rows, taken = [], [set() for _ in reports]

    def add(row):
        rows.append(row)
        for index, name in enumerate(row):
            taken[index].add(name)

    for name in ordered_union(report.metrics["branches"] for report in reports):
        holders = [i for i, report in enumerate(reports) if name in report.metrics["branches"]]
        if len(holders) >= 2 and len({reports[i].signature(name) for i in holders}) == 1:
            add(tuple(name if i in holders else None for i in range(count)))
    by_signature: dict[tuple, dict[int, list[str]]] = {}
    for index, report in enumerate(reports):
        for name in report.metrics["branches"]:
            if name not in taken[index]:
                by_signature.setdefault(report.signature(name), {}).setdefault(index, []).append(name)
    for holders in by_signature.values():
        if len(holders) >= 2 and all(len(names) == 1 for names in holders.values()):
            add(tuple(holders[i][0] if i in holders else None for i in range(count)))
    for index, report in enumerate(reports):
        for name in report.metrics["branches"]:
            if name not in taken[index]:
                add(tuple(name if i == index else None for i in range(count)))
    return rows


def row_label(row: Sequence[str | None]) -> str:
    """A lined-up row's name: its branch name, or the names joined by " ≡ " where they differ."""
    return " ≡ ".join(dict.fromkeys(name for name in row if name is not None))
