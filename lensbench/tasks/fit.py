"""The ``fit`` task: differentiable lens modelling of mock lenses (Chianese et al. 2020).

Mock lenses (EPL or SIE + external shear + Sersic or neural source, :mod:`lensbench.tasks.fit_source`) are drawn from ``[mocks]`` priors at
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
from lensbench.tasks.fit_data import FitDataSection, fit_data_scale, fit_data_steps
from lensbench.tasks.fit_source import (
    SourceModelSection,
    source_model_scale,
    source_model_step,
)

DEFAULT_PRIORS = {
    "lens_theta_E": ("uniform", 0.9, 1.4), "lens_gamma": ("uniform", 1.8, 2.2),
    "lens_e1": ("uniform", -0.2, 0.2), "lens_e2": ("uniform", -0.2, 0.2),
    "lens_center_x": ("uniform", -0.1, 0.1), "lens_center_y": ("uniform", -0.1, 0.1),
    "shear_gamma1": ("uniform", -0.05, 0.05), "shear_gamma2": ("uniform", -0.05, 0.05),
    "source_amp": ("lognormal", 10.0, 0.5), "source_R_sersic": ("uniform", 0.1, 0.4),
    "source_n_sersic": ("uniform", 0.8, 3.0), "source_e1": ("uniform", -0.3, 0.3),
    "source_e2": ("uniform", -0.3, 0.3), "source_center_x": ("uniform", -0.2, 0.2),
    "source_center_y": ("uniform", -0.2, 0.2),
    "source_flux": ("lognormal", 5.0, 0.5), "source_scale": ("uniform", 0.8, 1.25),
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
    source: Literal["sersic", "vae"] = field(default="sersic", metadata={"help":
        "Source light: an elliptical Sersic, or the neural source of [source_model] (latent ~ N(0, 1) plus "
        "source_flux, source_scale and the centre)."})
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
            missing = [n for n in _model_names(self.lens_profile, self.source) if n not in self.priors]
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


def _model_names(lens_profile: str, source: str = "sersic", latent_dim: int = 0) -> tuple[str, ...]:
    from lensbench.fit.keys import model_names

    return model_names(lens_profile, source, latent_dim)


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
    processes: int = field(default=0, metadata={"min": 0, "help":
        "Worker processes running a lens's chains (same draws whatever the number); 0: min(chains, CPU cores)."})


def _observation(spec) -> dict:
    observation = spec.survey.observation()
    return {"npix": observation.npix, "pixel_scale": observation.pixel_scale,
            "supersampling": observation.supersampling, "psf_fwhm": observation.psf_fwhm}


def fit_steps(spec) -> list[TaskStep]:
    """mocks -> map -> nuts -> evaluate."""
    if spec.simulation_kind != "strong_lensing":
        raise ValueError(f"task 'fit' reads its pixel grid from a strong_lensing [survey], not {spec.simulation_kind!r}")
    mocks, fit, sampler = (spec.task_sections[name] for name in ("mocks", "fit", "sampler"))
    source_model = spec.task_sections["source_model"]
    names = _model_names(mocks.lens_profile, mocks.source, source_model.latent_dim)
    unknown = [name for name in fit.free if name not in names]
    if unknown:
        raise ValueError(f"[fit] free: {unknown} are not parameters of the {mocks.lens_profile} model "
                         f"with a {mocks.source} source ({', '.join(names)})")
    mock_params = {"mocks": dataclasses.asdict(mocks), "observation": _observation(spec), "seed": spec.experiment.seed}
    map_params = {**mock_params, "fit": dataclasses.asdict(fit)}
    nuts_params = {**map_params, "sampler": dataclasses.asdict(sampler)}
    if spec.task_sections["fit_data"].inputs and mocks.source == "vae":
        raise ValueError("[fit_data] cutouts are fitted with a Sersic source only; set [mocks] source = \"sersic\"")
    if spec.task_sections["fit_data"].inputs:  # observed cutouts instead of mocks
        return fit_data_steps(spec, spec.task_sections["fit_data"], map_params, nuts_params)
    if mocks.source == "vae":  # the decoder is an input of every step that renders
        source = {"source_model": "source_model"}
        return [
            source_model_step(spec, source_model),
            TaskStep("mocks", "fit_mocks", mock_params, source),
            TaskStep("map", "fit_map", map_params, {"mocks": "mocks", **source}),
            TaskStep("nuts", "fit_nuts", nuts_params, {"mocks": "mocks", "map": "map", **source}),
            TaskStep("evaluate", "fit_recovery", nuts_params, {"mocks": "mocks", "map": "map", "nuts": "nuts"}),
        ]
    return [
        TaskStep("mocks", "fit_mocks", mock_params),
        TaskStep("map", "fit_map", map_params, {"mocks": "mocks"}),
        TaskStep("nuts", "fit_nuts", nuts_params, {"mocks": "mocks", "map": "map"}),
        TaskStep("evaluate", "fit_recovery", nuts_params, {"mocks": "mocks", "map": "map", "nuts": "nuts"}),
    ]


def fit_scale(spec) -> str:
    """How big a fit run is: mocks, MAP starts and NUTS chains (the report's scale banner)."""
    mocks, fit, sampler = (spec.task_sections[name] for name in ("mocks", "fit", "sampler"))
    if spec.task_sections["fit_data"].inputs:
        return fit_data_scale(spec.task_sections["fit_data"], fit, sampler)
    sampled = min(sampler.per_snr, mocks.per_snr) * len(mocks.snrs)
    vae = f"; {source_model_scale(spec.task_sections['source_model'])}" if mocks.source == "vae" else ""
    return (f"{mocks.per_snr * len(mocks.snrs)} mock lenses ({mocks.per_snr} per SNR, {mocks.lens_profile.upper()}), "
            f"{fit.starts} MAP starts each; NUTS on {sampled} of them, {sampler.chains} chains x "
            f"({sampler.warmup} warm-up + {sampler.draws}) draws{vae}")


def fit_report(branches, context):
    """The report sections (:mod:`lensbench.report.fit`; :mod:`lensbench.report.fit_data` for
    branches that fitted observed cutouts)."""
    from lensbench.report.fit import fit_sections
    from lensbench.report.fit_data import fit_data_sections

    observed = {name: b for name, b in branches.items() if "data" in b.outputs}
    mocks = {name: b for name, b in branches.items() if name not in observed}
    sections = fit_sections(mocks, context) if mocks else {}
    for title, blocks in (fit_data_sections(observed, context) if observed else {}).items():
        sections.setdefault(title, []).extend(blocks)
    return sections


TASKS.register("fit")(Task(
    name="fit", steps=fit_steps, report=fit_report, labels="parameters",
    sections={"mocks": MocksSection, "fit": FitSection, "sampler": SamplerSection, "fit_data": FitDataSection,
              "source_model": SourceModelSection},
    splits=(), report_roles=("mocks", "data", "map", "nuts", "evaluate", "source_model"), scale=fit_scale, trains_model=False,
    description="differentiable lens fitting of mocks (recovery against SNR, Chianese+20) or of FITS cutouts ([fit_data]): multi-start MAP + NUTS"))
