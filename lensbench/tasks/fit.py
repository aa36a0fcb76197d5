"""The ``fit`` task: differentiable lens modelling of mock lenses (Chianese et al. 2020).

Mock lenses (EPL or SIE + external shear + Sersic source) are drawn from ``[mocks]`` priors at
several SNRs, each is fitted by multi-start MAP (``[fit]``), a subset gets NUTS posteriors
(``[sampler]``), and the recovery step compares both with the truth::

    mocks -> map -> nuts -> evaluate (recovery)

The task reads no simulated split: the pixel grid and PSF come from the strong-lensing
``[survey]``, the lens population from ``[mocks]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from lensbench.tasks.base import TASKS, Task, TaskStep

DEFAULT_PRIORS = {
    "lens_theta_E": ("uniform", 0.9, 1.4), "lens_gamma": ("uniform", 1.8, 2.2),
    "lens_e1": ("uniform", -0.2, 0.2), "lens_e2": ("uniform", -0.2, 0.2),
    "lens_center_x": ("uniform", -0.1, 0.1), "lens_center_y": ("uniform", -0.1, 0.1),
    "shear_gamma1": ("uniform", -0.05, 0.05), "shear_gamma2": ("uniform", -0.05, 0.05),
    "source_amp": ("lognormal", 10.0, 0.5), "source_R_sersic": ("uniform", 0.1, 0.4),
    "source_n_sersic": ("uniform", 0.8, 3.0), "source_e1": ("uniform", -0.3, 0.3),
    "source_e2": ("uniform", -0.3, 0.3), "source_center_x": ("uniform", -0.2, 0.2),
    "source_center_y": ("uniform", -0.2, 0.2),
}
"""Mock population and fit prior (our choice): name -> (family, a, b), see
:func:`lensbench.fit.keys.check_prior`."""


@dataclass(frozen=True)
class MocksSection:
    """``[mocks]``: the mock lenses, their noise and the prior they are drawn from."""

    snrs: tuple[float, ...] = field(default=(10.0, 30.0, 100.0, 300.0), metadata={
        "help": "Signal-to-noise ratios sqrt(sum m^2 / sigma^2) of the noiseless image m (our choice)."})
    per_snr: int = field(default=25, metadata={"min": 1, "help": "Mock lenses at each SNR."})
    lens_profile: Literal["epl", "sie"] = field(default="epl", metadata={"help": "Main-lens mass profile."})
    noise: Literal["gaussian", "poisson"] = field(default="gaussian", metadata={"help":
        "Gaussian background (constant sigma) or Poisson counts over `sky`."})
    sky: float = field(default=0.0, metadata={"min": 0.0, "help": "Sky level (counts/s per pixel) of Poisson noise."})
    priors: dict[str, tuple[str, float, float]] = field(default_factory=lambda: dict(DEFAULT_PRIORS), metadata={
        "help": "Parameter -> [family, a, b]: uniform (low, high), normal (mean, sd), lognormal (median, sd of ln). "
                "The population the mocks are drawn from and the prior of the fit; priors of parameters the "
                "profile lacks (lens_gamma for an SIE) are ignored."})

    def __post_init__(self):
        from lensbench.fit.keys import LENS_KEYS, PARAMETER_UNITS, check_prior

        if not self.snrs or any(not s > 0 for s in self.snrs):
            raise ValueError(f"snrs must be positive numbers, got {list(self.snrs)}")
        if self.lens_profile in LENS_KEYS:  # an unknown profile is reported by the Literal check
            missing = [n for n in _model_names(self.lens_profile) if n not in self.priors]
            if missing:
                raise ValueError(f"priors must give every parameter of the {self.lens_profile} model; missing: {missing}")
        unknown = [n for n in self.priors if n not in PARAMETER_UNITS]
        if unknown:
            raise ValueError(f"priors: unknown parameters {unknown}; known: {', '.join(PARAMETER_UNITS)}")
        for name, (kind, a, b) in self.priors.items():
            try:
                check_prior(kind, a, b)
            except ValueError as error:
                raise ValueError(f"priors.{name}: {error}") from None


def _model_names(lens_profile: str) -> tuple[str, ...]:
    from lensbench.fit.keys import LENS_KEYS, SHEAR_KEYS, SOURCE_KEYS

    return (tuple(f"lens_{k}" for k in LENS_KEYS[lens_profile]) + tuple(f"shear_{k}" for k in SHEAR_KEYS)
            + tuple(f"source_{k}" for k in SOURCE_KEYS))


@dataclass(frozen=True)
class FitSection:
    """``[fit]``: which parameters are fitted and how the MAP is found."""

    free: tuple[str, ...] = field(default=(), metadata={
        "help": "Parameters fitted (the others stay at their true values); empty for all."})
    starts: int = field(default=8, metadata={"min": 1, "help": "MAP starts per lens, drawn from the prior."})
    adam_steps: int = field(default=400, metadata={"min": 0, "help": "Adam iterations (the first half tempered)."})
    adam_lr: float = field(default=0.05, metadata={"min": 0.0, "help": "Adam learning rate (unconstrained units)."})
    lbfgs_steps: int = field(default=100, metadata={"min": 0, "help": "Most L-BFGS iterations after Adam."})
    success_tolerance: float = field(default=1.0, metadata={"min": 0.0, "help":
        "A start succeeds when its -log posterior ends within this many nats of its lens's best."})


@dataclass(frozen=True)
class SamplerSection:
    """``[sampler]``: NUTS (pyro-ppl) posteriors started at the MAP."""

    per_snr: int = field(default=5, metadata={"min": 0, "help": "Lenses at each SNR that get NUTS chains (the first ones)."})
    chains: int = field(default=4, metadata={"min": 1, "help": "Chains per lens."})
    warmup: int = field(default=500, metadata={"min": 1, "help": "Warm-up (adaptation) steps per chain."})
    draws: int = field(default=1000, metadata={"min": 1, "help": "Kept draws per chain."})
    max_tree_depth: int = field(default=8, metadata={"min": 1, "help": "NUTS tree depth limit."})
    target_accept: float = field(default=0.8, metadata={"min": 0.05, "max": 0.99, "help": "Step-size adaptation target."})


def _observation(spec) -> dict:
    observation = spec.survey.observation()
    return {"npix": observation.npix, "pixel_scale": observation.pixel_scale,
            "supersampling": observation.supersampling, "psf_fwhm": observation.psf_fwhm}


def fit_steps(spec) -> list[TaskStep]:
    """mocks -> map -> nuts -> evaluate."""
    if spec.simulation_kind != "strong_lensing":
        raise ValueError(f"task 'fit' reads its pixel grid from a strong_lensing [survey], not {spec.simulation_kind!r}")
    mocks, fit, sampler = (spec.task_sections[name] for name in ("mocks", "fit", "sampler"))
    unknown = [name for name in fit.free if name not in _model_names(mocks.lens_profile)]
    if unknown:
        raise ValueError(f"[fit] free: {unknown} are not parameters of the {mocks.lens_profile} model "
                         f"({', '.join(_model_names(mocks.lens_profile))})")
    mock_params = {"mocks": dataclasses.asdict(mocks), "observation": _observation(spec), "seed": spec.experiment.seed}
    map_params = {**mock_params, "fit": dataclasses.asdict(fit)}
    nuts_params = {**map_params, "sampler": dataclasses.asdict(sampler)}
    return [
        TaskStep("mocks", "fit_mocks", mock_params),
        TaskStep("map", "fit_map", map_params, {"mocks": "mocks"}),
        TaskStep("nuts", "fit_nuts", nuts_params, {"mocks": "mocks", "map": "map"}),
        TaskStep("evaluate", "fit_recovery", nuts_params, {"mocks": "mocks", "map": "map", "nuts": "nuts"}),
    ]


def fit_scale(spec) -> str:
    """How big a fit run is: mocks, MAP starts and NUTS chains (the report's scale banner)."""
    mocks, fit, sampler = (spec.task_sections[name] for name in ("mocks", "fit", "sampler"))
    sampled = min(sampler.per_snr, mocks.per_snr) * len(mocks.snrs)
    return (f"{mocks.per_snr * len(mocks.snrs)} mock lenses ({mocks.per_snr} per SNR, {mocks.lens_profile.upper()}), "
            f"{fit.starts} MAP starts each; NUTS on {sampled} of them, {sampler.chains} chains x "
            f"({sampler.warmup} warm-up + {sampler.draws}) draws")


def fit_report(branches, context):
    """The report sections (:mod:`lensbench.report.fit`)."""
    from lensbench.report.fit import fit_sections

    return fit_sections(branches, context)


TASKS.register("fit")(Task(
    name="fit", steps=fit_steps, report=fit_report, labels="parameters",
    sections={"mocks": MocksSection, "fit": FitSection, "sampler": SamplerSection}, splits=(),
    report_roles=("mocks", "map", "nuts", "evaluate"), scale=fit_scale, trains_model=False,
    description="differentiable lens fitting of mocks: multi-start MAP + NUTS, recovery against SNR (Chianese+20)"))
