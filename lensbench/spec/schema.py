"""The sections of an experiment spec, one frozen dataclass each, and their validation.

:func:`validate` turns a :class:`~lensbench.spec.load.RawSpec` into a :class:`Spec`, or raises
:class:`~lensbench.errors.SpecError` listing every problem at once. Kind-specific sections
(``[simulation]`` and ``[survey]``) are validated with the dataclasses their simulator registers
in :data:`lensbench.simulate.kinds.SIMULATION_KINDS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from lensbench.errors import SpecError, SpecIssue
from lensbench.spec.convert import MISSING, Converter
from lensbench.spec.load import RawSpec, flatten, set_dotted


def _architectures():
    from lensbench.models import ARCHITECTURES

    return ARCHITECTURES


def _metrics():
    from lensbench.metrics import METRICS

    return METRICS


def simulation_kinds():
    """The registry of simulation kinds, with every built-in simulator registered."""
    from lensbench.simulate.register import SIMULATION_KINDS

    return SIMULATION_KINDS


def _min(value):
    return {"min": value}


@dataclass(frozen=True)
class PaperSection:
    """The published numbers a report puts beside ours.

    ``table`` maps a branch name (``main`` for a spec without a grid) to metric -> value.
    """

    citation: str = ""
    arxiv: str = ""
    table: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: str = ""


@dataclass(frozen=True)
class ExperimentSection:
    """``[experiment]``: what the experiment is, its task and its seed."""

    name: str
    seed: int = field(metadata=_min(0))
    description: str = ""
    task: Literal["classify", "regress"] = "classify"
    paper: PaperSection = field(default_factory=PaperSection)

    def __post_init__(self):
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ValueError(f"name must be letters, digits, '-', '_' or '.', got {self.name!r}")


@dataclass(frozen=True)
class DataSection:
    """``[data]``: dataset sizes (images per class for classification, in total for regression)."""

    n_train: int = field(default=1000, metadata=_min(1))
    n_val: int = field(default=200, metadata=_min(1))
    n_test: int = field(default=200, metadata=_min(1))
    classes: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    label_scale: dict[str, float] = field(default_factory=dict)
    shard_size: int = field(default=1000, metadata=_min(1))


@dataclass(frozen=True)
class ModelSection:
    """``[model]``: the architecture by registered name, and its options."""

    architecture: str = field(default="cnn", metadata={"choices": _architectures})
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingSection:
    """``[training]``: optimiser, learning-rate schedule, epochs, early stopping, device.

    Schedulers: ``cosine_warm_restarts`` (torch's CosineAnnealingWarmRestarts: ``t_0``, ``t_mult``,
    ``eta_min``), ``cosine_warmup_restarts`` (the same with a linear warm-up of
    ``warmup_epochs`` and peaks scaled by ``cycle_gamma``, as Ko cites), ``plateau`` (learning rate
    times ``plateau_factor`` after ``plateau_patience`` epochs without validation improvement, as
    Vattis et al.).
    """

    epochs: int = field(default=10, metadata=_min(1))
    batch_size: int = field(default=32, metadata=_min(1))
    lr: float = field(default=1e-3, metadata=_min(0.0))
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = field(default=0.9, metadata=_min(0.0))
    weight_decay: float = field(default=0.0, metadata=_min(0.0))
    scheduler: Literal["none", "cosine_warm_restarts", "cosine_warmup_restarts", "plateau"] = "none"
    t_0: int = field(default=10, metadata=_min(1))
    t_mult: int = field(default=1, metadata=_min(1))
    eta_min: float = field(default=0.0, metadata=_min(0.0))
    warmup_epochs: int = field(default=0, metadata=_min(0))
    cycle_gamma: float = field(default=1.0, metadata=_min(0.0))
    plateau_patience: int = field(default=5, metadata=_min(1))
    plateau_factor: float = field(default=0.1, metadata={"min": 0.0, "max": 1.0})
    early_stopping_patience: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    normalize: Literal["none", "max", "standardize"] = "none"


@dataclass(frozen=True)
class EvaluationSection:
    """``[evaluation]``: which metrics to compute and report."""

    metrics: tuple[str, ...] = ("auc", "roc", "accuracy", "precision", "recall", "f1", "confusion", "calibration")
    calibration_bins: int = field(default=10, metadata=_min(2))

    def __post_init__(self):
        registry = _metrics()
        unknown = [m for m in self.metrics if m not in registry]
        if unknown:
            raise ValueError(f"metrics: {registry.unknown_message(unknown[0])}")


@dataclass(frozen=True)
class ReportSection:
    """``[report]``: what the report shows."""

    title: str = ""
    examples_per_class: int = field(default=4, metadata=_min(0))


@dataclass(frozen=True)
class ApplicationSection:
    """``[application]``: run the trained classifier on real FITS data (``lensbench apply``).

    ``inputs`` are FITS files, folders or glob patterns, relative to the spec file; empty means
    no application step. The cuts are Ko's (pixels per side; the brightest pixel in the files'
    units, counts/s for COSMOS); ``normalisation`` is applied after resampling and before the
    per-image normalisation the network was trained with (``training.normalize``).
    """

    inputs: tuple[str, ...] = ()
    min_size: int | None = 50
    max_size: int | None = 80
    max_pixel: float | None = 2.0
    reject_non_finite: bool = True
    normalisation: Literal["none", "max", "sum", "minmax", "standardize"] = "none"
    resampling: Literal["bilinear", "bicubic", "area", "nearest"] = "bilinear"
    gallery_size: int = field(default=18, metadata=_min(1))


@dataclass(frozen=True)
class ExecutionSection:
    """``[execution]``: where simulation shards run (see :mod:`lensbench.execution`); the data are
    the same bytes whatever runs them, so these settings are not part of any cache key."""

    backend: Literal["local", "dask"] = "local"
    workers: int = field(default=1, metadata=_min(1))
    address: str = ""


TOP_LEVEL = ("experiment", "simulation", "survey", "data", "model", "training", "evaluation", "application",
             "report", "grid", "execution")
SECTIONS = {
    "experiment": ExperimentSection,
    "data": DataSection,
    "model": ModelSection,
    "training": TrainingSection,
    "evaluation": EvaluationSection,
    "report": ReportSection,
    "execution": ExecutionSection,
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
    training: TrainingSection
    evaluation: EvaluationSection
    report: ReportSection
    execution: ExecutionSection
    application: ApplicationSection
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
    """sha256 hex digest of ``data`` as canonical JSON (sorted keys)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_top_level(conv: Converter, data: dict) -> None:
    import difflib

    for name in data:
        if name not in TOP_LEVEL:
            close = difflib.get_close_matches(name, TOP_LEVEL, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; sections are: {', '.join(TOP_LEVEL)}"
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
                    if key.split(".")[0] not in TOP_LEVEL or key.split(".")[0] == "grid":
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
                if dotted.split(".")[0] not in TOP_LEVEL or dotted.split(".")[0] in ("grid", "experiment"):
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
    issues.extend(conv.issues)
    if conv.issues or any(v is MISSING for v in (*sections.values(), config, survey)):
        return None
    return Spec(
        experiment=sections["experiment"], simulation_kind=kind.name, simulation=config, survey=survey,
        survey_scenario=scenario, data=sections["data"], model=sections["model"], training=sections["training"],
        evaluation=sections["evaluation"], report=sections["report"], execution=sections["execution"],
        application=sections["application"], grid=grid, branch=branch, resolved=data, document=raw.data, source=str(raw.path), preset=raw.preset,
    )


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
