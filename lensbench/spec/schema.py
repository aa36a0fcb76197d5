"""A validated experiment spec (:class:`Spec`, one per grid branch) and its validation.

:func:`validate` turns a :class:`~lensbench.spec.load.RawSpec` into a :class:`Spec`, or raises
:class:`~lensbench.errors.SpecError` listing every problem at once. Kind-specific sections
(``[simulation]`` and ``[survey]``) are validated with the dataclasses their simulator registers
in :data:`lensbench.simulate.kinds.SIMULATION_KINDS`; the engine's own sections are in
:mod:`lensbench.spec.sections`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lensbench.errors import SpecError, SpecIssue
from lensbench.io.canonical import sha256_of
from lensbench.spec.checks import spec_problems
from lensbench.spec.convert import MISSING, Converter
from lensbench.execution import ExecutionConfig
from lensbench.spec.load import RawSpec, flatten, set_dotted
from lensbench.spec.sections import (ApplicationSection, DataSection, EvaluationSection, ExperimentSection,
                                     ModelSection, ReportSection)
from lensbench.training.config import TrainConfig


def simulation_kinds():
    """The registry of simulation kinds, with every built-in simulator registered."""
    from lensbench.simulate.register import SIMULATION_KINDS

    return SIMULATION_KINDS


BASE_SECTIONS = ("experiment", "simulation", "survey", "data", "model", "training", "evaluation", "application",
                 "report", "grid", "execution")


def top_level() -> tuple[str, ...]:
    """Every section a spec may have: the engine's own and those the registered tasks own."""
    from lensbench.tasks import task_sections

    return BASE_SECTIONS + tuple(task_sections())
SECTIONS = {
    "experiment": ExperimentSection,
    "data": DataSection,
    "model": ModelSection,
    "training": TrainConfig,
    "evaluation": EvaluationSection,
    "report": ReportSection,
    "execution": ExecutionConfig,
    "application": ApplicationSection,
}
REQUIRED = ("experiment", "simulation")


@dataclass(frozen=True)
class Spec:
    """A validated spec: one variant (a grid branch, or the whole spec without a grid).

    Attributes
    ----------
    simulation, survey : dataclass
        Instances of the dataclasses the simulation kind registers.
    survey_scenario : str or None
        The named survey scenario chosen, if any.
    task_sections : dict[str, dataclass]
        The sections the spec's task owns (:attr:`lensbench.tasks.Task.sections`), validated,
        with their defaults where the spec does not write them.
    branch : dict[str, Any]
        The grid values of this variant (empty without a grid).
    resolved : dict
        The merged tables this variant was built from (its grid values applied).
    document : dict
        The whole spec after ``extends``, the preset and ``--set``, grid included: what
        ``spec.resolved.toml`` holds and :meth:`hash` digests, the same for every variant.
    """

    experiment: ExperimentSection
    simulation_kind: str
    simulation: Any
    survey: Any
    survey_scenario: str | None
    data: DataSection
    model: ModelSection
    training: TrainConfig
    evaluation: EvaluationSection
    report: ReportSection
    execution: ExecutionConfig
    application: ApplicationSection
    task_sections: dict[str, Any]
    grid: dict[str, tuple]
    branch: dict[str, Any]
    resolved: dict
    document: dict
    source: str
    preset: str | None

    @property
    def branch_name(self) -> str:
        """``key=value,...`` of this variant's grid values, or ``main``."""
        if not self.branch:
            return "main"
        return ",".join(f"{k.split('.')[-1]}={v}" for k, v in self.branch.items())

    def hash(self) -> str:
        """sha256 of the whole resolved spec (canonical JSON, grid included), the same for the same
        spec, preset and overrides on any machine."""
        return spec_hash(self.document)


def spec_hash(data) -> str:
    """sha256 hex digest of ``data`` as canonical JSON (sorted keys; :func:`lensbench.io.canonical.sha256_of`)."""
    return sha256_of(data)


def _check_top_level(conv: Converter, data: dict) -> None:
    import difflib

    known = top_level()
    for name in data:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; sections are: {', '.join(known)}"
            conv.error(name, f"unknown section '{name}'{hint}")
    for name in REQUIRED:
        if name not in data:
            conv.error(name, f"missing required section [{name}]")


def _simulation(conv: Converter, data: dict):
    table = data.get("simulation")
    if not isinstance(table, dict):
        if table is not None:
            conv.error("simulation", "must be a table")
        return MISSING, MISSING, MISSING, None
    table = dict(table)
    kinds = simulation_kinds()
    kind_name = table.pop("kind", None)
    if kind_name is None:
        conv.error("simulation.kind", f"missing required key 'kind' (one of: {', '.join(kinds.names())})")
        return MISSING, MISSING, MISSING, None
    if kind_name not in kinds:
        conv.error("simulation.kind", kinds.unknown_message(kind_name))
        return MISSING, MISSING, MISSING, None
    kind = kinds.get(kind_name)
    config = conv.dataclass(kind.config, table, "simulation")
    survey_table = dict(data.get("survey") or {})
    scenario = survey_table.pop("scenario", None)
    if scenario is not None:
        if scenario not in kind.scenarios:
            known = ", ".join(kind.scenarios) or "none"
            conv.error("survey.scenario", f"unknown survey scenario {scenario!r} for kind '{kind_name}'; one of: {known}")
            return kind, config, MISSING, scenario
        base = dataclasses.asdict(kind.scenarios[scenario])
        survey_table = {**{k: v for k, v in base.items() if v is not None}, **survey_table}
    survey = conv.dataclass(kind.survey, survey_table, "survey")
    return kind, config, survey, scenario


VARIANT = "variant"
"""The grid axis of named variants: ``[grid.variants.NAME]`` tables of dotted overrides."""


def _grid(conv: Converter, data: dict) -> tuple[dict[str, tuple], dict[str, dict]]:
    """The grid axes (dotted key -> values) and the named variants (name -> dotted overrides).

    ``[grid] "survey.scenario" = ["A", "B"]`` is an axis over one key; ``[grid.variants.NAME]``
    tables are whole alternative settings (a task, its simulation and its model), one branch each,
    crossed with the other axes.
    """
    table = dict(data.get("grid") or {})
    if not isinstance(data.get("grid", {}), dict):
        conv.error("grid", "must be a table of dotted keys -> arrays of values")
        return {}, {}
    named = table.pop("variants", None)
    variants_out: dict[str, dict] = {}
    if named is not None:
        if not isinstance(named, dict) or not named or not all(isinstance(v, dict) for v in named.values()):
            conv.error("grid.variants", "variants are tables of overrides: [grid.variants.NAME] key = value")
        else:
            for name, overrides in named.items():
                flat = flatten(overrides)
                for key in flat:
                    if key.split(".")[0] not in top_level() or key.split(".")[0] == "grid":
                        conv.error(f"grid.variants.{name}.{key}", "an override must name a key of a section")
                variants_out[name] = flat
    axes: dict[str, tuple] = {VARIANT: tuple(variants_out)} if variants_out else {}

    def walk(node, prefix):
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict):
                walk(value, dotted + ".")
            elif not isinstance(value, list) or not value:
                conv.error(f"grid.{dotted}", "a grid axis is a non-empty array of values")
            else:
                if dotted.split(".")[0] not in top_level() or dotted.split(".")[0] in ("grid", "experiment"):
                    conv.error(f"grid.{dotted}", "a grid axis must name a key of a section, e.g. survey.scenario")
                axes[dotted] = tuple(value)

    walk(table, "")
    return axes, variants_out


def _one(raw: RawSpec, data: dict, branch: dict, grid: dict, issues: list) -> Spec | None:
    conv = Converter(raw)
    _check_top_level(conv, data)
    sections = {}
    for name, cls in SECTIONS.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            conv.error(name, "must be a table")
            sections[name] = MISSING
            continue
        sections[name] = conv.dataclass(cls, table, name) if (table or name != "experiment") else MISSING
    kind, config, survey, scenario = _simulation(conv, data)
    owned = _task_sections(conv, data, sections["experiment"])
    issues.extend(conv.issues)
    if conv.issues or any(v is MISSING for v in (*sections.values(), config, survey)):
        return None
    spec = Spec(
        experiment=sections["experiment"], simulation_kind=kind.name, simulation=config, survey=survey,
        survey_scenario=scenario, data=sections["data"], model=sections["model"], training=sections["training"],
        evaluation=sections["evaluation"], report=sections["report"], execution=sections["execution"],
        application=sections["application"], task_sections=owned, grid=grid, branch=branch, resolved=data, document=raw.data, source=str(raw.path), preset=raw.preset,
    )
    for key, message in spec_problems(spec):
        conv.error(key, message)
    issues.extend(conv.issues)
    return None if conv.issues else spec


def _task_sections(conv: Converter, data: dict, experiment) -> dict[str, Any]:
    """The sections the spec's task owns, validated; a section of another task is an error."""
    from lensbench.tasks import TASKS, task_sections

    task = experiment.task if experiment is not MISSING and experiment.task in TASKS else None
    for name, (owner, _) in task_sections().items():
        if name in data and task is not None and owner != task:
            conv.error(name, f"section [{name}] belongs to task '{owner}'; this spec's task is '{task}'")
    if task is None:
        return {}
    owned = {}
    for name, cls in TASKS.get(task).sections.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            conv.error(name, "must be a table")
            continue
        owned[name] = conv.dataclass(cls, table, name)
    return owned


def variants(grid: dict[str, tuple]) -> list[dict[str, Any]]:
    """Every combination of grid values, in the order the axes are written (first axis slowest)."""
    combos: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        combos = [{**combo, key: value} for combo in combos for value in values]
    return combos


def validate(raw: RawSpec) -> list[Spec]:
    """Validate ``raw`` into one :class:`Spec` per grid variant.

    Raises
    ------
    SpecError
        With every problem of every variant (each reported once).
    """
    import copy

    conv = Converter(raw)
    grid, named = _grid(conv, raw.data)
    issues: list[SpecIssue] = list(conv.issues)
    base = copy.deepcopy(raw.data)
    base.pop("grid", None)
    for key in grid:  # a grid value is set where the grid axis is written
        raw.origins[key] = raw.origin(f"grid.{key}")
    specs = []
    base_origins = dict(raw.origins)
    for branch in variants(grid):
        raw.origins = dict(base_origins)
        data = copy.deepcopy(base)
        for key, value in branch.items():
            if key == VARIANT:
                for dotted, override in named[value].items():
                    set_dotted(data, dotted, copy.deepcopy(override))
                    raw.origins[dotted] = raw.origin(f"grid.variants.{value}.{dotted}")
            else:
                set_dotted(data, key, value)
        spec = _one(raw, data, branch, grid, issues)
        if spec is not None:
            specs.append(spec)
    unique = sorted(dict.fromkeys(issues), key=lambda i: (i.file, i.line or 0))
    if unique:
        raise SpecError(unique)
    return specs
