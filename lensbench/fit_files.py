"""``lensbench fit FITS...``: fit observed cutouts with a spec's model, fit and sampler settings.

The command is a run of a ``fit`` spec (by default the differentiable-lensing paper spec,
``specs/papers/differentiable.toml``) with ``[fit_data]`` set from the command line as ``--set``
overrides, so its report, cache and reproducibility are those of ``lensbench run``. Before any
step runs it checks what a user can fix at once (exit 2): a PSF file that does not exist, and
cutouts with neither a header pixel scale nor ``--pixel-scale``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lensbench.errors import UsageError
from lensbench.fit.cutouts import UnusableCutout, header_pixel_scale, select_hdu
from lensbench.io.fits import expand_inputs

DEFAULT_SPEC = Path(__file__).resolve().parents[1] / "specs" / "papers" / "differentiable.toml"
"""The spec whose model, fit and sampler settings ``lensbench fit`` uses unless told otherwise."""


MAX_NAMED_INPUTS = 4
"""Inputs named one by one in the report's title; more are counted."""


def _toml(value) -> str:
    """``value`` as a TOML literal (strings JSON-quoted, which TOML reads the same)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def fit_overrides(inputs, *, psf: Path | None = None, psf_fwhm: float | None = None, pixel_scale: float | None = None,
                  image_hdu: str | None = None, noise_hdu: str | None = None, noise_file: str | None = None,
                  noise_kind: str | None = None, background_rms: float | None = None,
                  exposure_time: float | None = None, npix: int | None = None) -> list[str]:
    """``--set`` overrides of ``[fit_data]`` for the given cutouts (absolute paths) and the
    options given (None: the spec's value)."""
    values = {"inputs": [str(Path(p).expanduser().resolve()) for p in inputs],
              "psf": str(Path(psf).expanduser().resolve()) if psf is not None else None, "psf_fwhm": psf_fwhm,
              "pixel_scale": pixel_scale, "image_hdu": image_hdu, "noise_hdu": noise_hdu, "noise_file": noise_file,
              "noise_kind": noise_kind, "background_rms": background_rms, "exposure_time": exposure_time, "npix": npix}
    return [f"fit_data.{key}={_toml(value)}" for key, value in values.items() if value is not None]


def describing_overrides(inputs, spec: Path, overrides=()) -> list[str]:
    """``report.title`` and ``experiment.description`` of a fit of ``inputs`` (the spec's own
    describe its mocks), unless ``overrides`` set them."""
    named = ", ".join(Path(p).name for p in inputs) if len(inputs) <= MAX_NAMED_INPUTS else \
        f"{len(inputs)} inputs in {', '.join(sorted({str(Path(p).parent) for p in inputs}))}"
    texts = {"report.title": f"Lens fit of FITS cutouts ({named}) with the settings of {spec.name}",
             "experiment.description": f"The FITS cutouts {named} fitted with the lens model, prior, multi-start MAP "
                                       f"([fit]) and NUTS ([sampler]) settings of {spec.name}: per-file posterior "
                                       "medians and intervals, fit quality and residuals (lensbench fit)."}
    given = {text.split("=", 1)[0].strip() for text in overrides}
    return [f"{key}={_toml(value)}" for key, value in texts.items() if key not in given]


def files_without_pixel_scale(inputs, image_hdu: str = "") -> list[str]:
    """The readable cutouts among ``inputs`` whose science-image header has no celestial WCS
    (unreadable files are left to the run, which names and skips them)."""
    from astropy.io import fits

    missing = []
    for path in expand_inputs(inputs, []):
        try:
            with fits.open(path, memmap=False) as hdul:
                if header_pixel_scale(select_hdu(hdul, image_hdu, "science image").header) is None:
                    missing.append(str(path))
        except (UnusableCutout, OSError, ValueError, TypeError, IndexError, KeyError, EOFError):
            continue
    return missing


def check_fit_request(specs) -> None:
    """Refuse (:class:`UsageError`, exit 2) a fit whose PSF file is missing or whose cutouts have
    no pixel scale; ``specs`` are the validated specs of the run."""
    section = specs[0].task_sections["fit_data"]
    from lensbench.tasks.fit_data import data_params

    params = data_params(specs[0], section, {})["fit_data"]
    if params["psf"] and not Path(params["psf"]).is_file():
        raise UsageError(f"PSF file not found: {params['psf']} (--psf or [fit_data] psf)")
    if section.pixel_scale is None:
        missing = files_without_pixel_scale(params["inputs"], section.image_hdu)
        if missing:
            raise UsageError(f"no pixel scale for {', '.join(missing)}: the header has no celestial WCS (CD or CDELT); "
                             "pass --pixel-scale ARCSEC (or set [fit_data] pixel_scale)")


def run_fit_files(inputs, *, spec: Path | None = None, preset: str | None = None, overrides=(), out: Path | None = None,
                  cache: Path | None = None, device: str = "auto", progress: bool = True, echo=print, yes: bool = False,
                  ask=None, **options):
    """Fit the cutouts ``inputs`` with ``spec``'s settings (:data:`DEFAULT_SPEC` by default) and
    write the report; ``options`` are :func:`fit_overrides`' keywords, ``overrides`` further
    ``--set`` values. Returns the :class:`lensbench.runner.RunResult`."""
    from lensbench.runner import run_spec
    from lensbench.spec import load_spec

    path = Path(spec) if spec is not None else DEFAULT_SPEC
    everything = fit_overrides(inputs, **options) + describing_overrides(inputs, path, overrides) + list(overrides)
    specs = load_spec(path, preset=preset, overrides=everything)
    if specs[0].experiment.task != "fit":
        raise UsageError(f"{path}: lensbench fit needs a spec of task 'fit', got {specs[0].experiment.task!r}")
    check_fit_request(specs)
    result = run_spec(path, preset=preset, overrides=everything, out=out, cache=cache, device=device, progress=progress,
                      echo=echo, yes=yes, ask=ask)
    for record in result.records:
        if record.kind == "fit_data":
            for problem in json.loads((record.folder / "problems.json").read_text()):
                echo(f"skipped: {problem['file']}: {problem['reason']}")
    return result
