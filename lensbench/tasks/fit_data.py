"""``[fit_data]``: fit observed FITS cutouts instead of mocks (task ``fit``).

With ``inputs`` set, the fit task reads the cutouts instead of drawing mocks, and its steps are::

    data -> map -> nuts -> evaluate (per-file posterior summary, no recovery: there is no truth)

The MAP and NUTS steps are the mocks' (:mod:`lensbench.steps.fit`); the lens model and the prior
stay ``[mocks] lens_profile`` and ``[mocks.priors]``, the optimiser ``[fit]`` and the sampler
``[sampler]``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lensbench.tasks.base import TaskStep
from lensbench.tasks.supervised import _expand, fingerprint


@dataclass(frozen=True)
class FitDataSection:
    """``[fit_data]``: observed cutouts, their noise, pixel scale and PSF.

    Paths are relative to the spec file, with ``${NAME}`` and ``${NAME:-default}`` read from the
    environment. The noise is a per-pixel map (``noise_hdu`` or ``noise_file``) or, without one,
    the stated model ``sigma^2 = background_rms^2 + max(d, 0) / exposure_time``. The PSF is a
    FITS kernel (``psf``) or a Gaussian (``psf_fwhm``). Files that cannot be used are named in
    the report and skipped.
    """

    inputs: tuple[str, ...] = field(default=(), metadata={
        "help": "FITS cutouts: files, folders or glob patterns relative to the spec (`${NAME:-default}` from the "
                "environment); empty: fit mocks ([mocks]) instead."})
    image_hdu: str = field(default="", metadata={
        "help": "Science-image HDU (EXTNAME or 0-based index); empty: the first 2-D image."})
    noise_hdu: str = field(default="", metadata={
        "help": "Noise-map HDU of each cutout (EXTNAME or index); empty: none."})
    noise_file: str = field(default="", metadata={
        "help": "Noise-map file beside each cutout, `{stem}` for the cutout's name without suffix "
                "(e.g. \"{stem}_rms.fits\"); empty: none."})
    noise_kind: Literal["sigma", "variance", "inverse_variance"] = field(default="sigma", metadata={
        "help": "What the noise map holds per pixel, in the image's units."})
    background_rms: float | None = field(default=None, metadata={
        "min": 0.0, "unit": "counts/s", "help": "Stated background noise per pixel, used without a noise map."})
    exposure_time: float | None = field(default=None, metadata={
        "min": 1e-12, "unit": "s", "help": "Exposure time of the stated model's Poisson term max(d, 0) / t; unset: background only."})
    pixel_scale: float | None = field(default=None, metadata={
        "min": 1e-6, "unit": "arcsec", "help": "Pixel side where a cutout's header has no celestial WCS (CD/CDELT)."})
    npix: int | None = field(default=None, metadata={
        "min": 4, "unit": "pixels", "help": "Cut a centred npix x npix square from every cutout; unset: cutouts must be square, all one size."})
    psf: str = field(default="", metadata={
        "help": "FITS file of the pixel PSF kernel (odd square, at the cutouts' pixel scale; normalised here)."})
    psf_hdu: str = field(default="", metadata={"help": "HDU of the PSF kernel; empty: the first 2-D image."})
    psf_fwhm: float | None = field(default=None, metadata={
        "min": 1e-6, "unit": "arcsec", "help": "Gaussian PSF full width at half maximum, used without a `psf` file."})
    supersampling: int = field(default=1, metadata={"min": 1, "help": "Sub-pixels per pixel side of the model."})
    fixed: dict[str, float] = field(default_factory=dict, metadata={
        "help": "Values of parameters that are not fitted ([fit] free); default: their prior median."})

    def __post_init__(self):
        from lensbench.fit.keys import PARAMETER_UNITS

        if not self.inputs:
            return
        if not self.psf and self.psf_fwhm is None:
            raise ValueError("no PSF: give psf (a FITS kernel file) or psf_fwhm (a Gaussian, arcsec)")
        if self.psf and self.psf_fwhm is not None:
            raise ValueError("give one PSF: psf (a FITS kernel file) or psf_fwhm, not both")
        if self.noise_hdu and self.noise_file:
            raise ValueError("give one noise map: noise_hdu or noise_file, not both")
        if not (self.noise_hdu or self.noise_file) and self.background_rms is None:
            raise ValueError("no noise: give noise_hdu or noise_file (a per-pixel map), or background_rms "
                             "(and exposure_time for the Poisson term)")
        if self.noise_file and "{stem}" not in self.noise_file:
            raise ValueError(f"noise_file must name the cutout's noise map with {{stem}}, got {self.noise_file!r}")
        unknown = [name for name in self.fixed if name not in PARAMETER_UNITS]
        if unknown:
            raise ValueError(f"fixed: unknown parameters {unknown}; known: {', '.join(PARAMETER_UNITS)}")


def resolve_path(text: str, base: Path) -> str:
    """``text`` with ``${NAME:-default}`` expanded, relative to ``base`` when not absolute."""
    path = Path(_expand(text)).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def data_params(spec, section: FitDataSection, model_params: dict) -> dict:
    """What the ``fit_data`` step reads: the section with its paths resolved, the inputs'
    fingerprint (a changed file is read again), and the model and prior (``model_params``)."""
    base = Path(spec.source).parent
    inputs = [resolve_path(p, base) for p in section.inputs]
    psf = resolve_path(section.psf, base) if section.psf else ""
    resolved = dataclasses.replace(section, inputs=tuple(inputs), psf=psf)
    return {"fit_data": dataclasses.asdict(resolved), "fingerprint": fingerprint(inputs + ([psf] if psf else [])),
            **model_params}


def fit_data_steps(spec, section: FitDataSection, map_params: dict, nuts_params: dict) -> list[TaskStep]:
    """data -> map -> nuts -> evaluate; ``map_params`` and ``nuts_params`` are the mocks' (their
    ``observation`` of the ``[survey]`` is dropped: the cutouts bring their own)."""
    if map_params["mocks"].get("source", "sersic") != "sersic":
        raise ValueError(f"[fit_data] fits a Sersic source; [mocks] source = {map_params['mocks']['source']!r} is not "
                         "supported for observed cutouts yet")
    map_params = {key: value for key, value in map_params.items() if key != "observation"}
    nuts_params = {key: value for key, value in nuts_params.items() if key != "observation"}
    load = data_params(spec, section, {"mocks": map_params["mocks"], "fit": map_params["fit"]})
    return [
        TaskStep("data", "fit_data", load),
        TaskStep("map", "fit_map", map_params, {"mocks": "data"}),
        TaskStep("nuts", "fit_nuts", nuts_params, {"mocks": "data", "map": "map"}),
        TaskStep("evaluate", "fit_data_summary", {**nuts_params, "fit_data": load["fit_data"]},
                 {"mocks": "data", "map": "map", "nuts": "nuts"}),
    ]


def fit_data_scale(section: FitDataSection, fit, sampler) -> str:
    """How big a fit of cutouts is (the report's scale banner)."""
    sampled = f"NUTS on every cutout, {sampler.chains} chains x ({sampler.warmup} warm-up + {sampler.draws}) draws" \
        if sampler.per_snr else "no NUTS ([sampler] per_snr = 0)"
    return f"FITS cutouts from {', '.join(section.inputs)}, {fit.starts} MAP starts each; {sampled}"
