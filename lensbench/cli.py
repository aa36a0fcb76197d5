"""The ``lensbench`` command line. It parses arguments and calls the library; nothing more.

Exit codes: 0 success; 1 a step failed; 2 bad spec or arguments; 3 bad input data.
Tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from lensbench.errors import LensbenchError

# rich_markup_mode=None: plain help text, so "[presets.NAME]" and "[default]" show as written
# (rich markup would read them as style tags and drop them).
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None,
                  help="Reproducible benchmarks for dark-matter substructure searches with lensing and ML.")

_DEBUG = {"on": False}


def _fail(err: LensbenchError) -> None:
    if _DEBUG["on"]:
        raise err
    typer.echo(f"error: {err}" if not hasattr(err, "issues") else str(err), err=True)
    if hasattr(err, "issues"):
        typer.echo(f"{len(err.issues)} problem(s) found.", err=True)
    raise typer.Exit(err.exit_code)


def _guard(func, *args, **kwargs):
    try:
        return func(*args, **kwargs)
    except LensbenchError as err:
        _fail(err)


def _print_version(value: bool) -> None:
    if value:
        from lensbench import __version__

        typer.echo(f"lensbench {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of errors."),
                 version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                              help="Print the version and exit.")):
    """Global options."""
    _DEBUG["on"] = debug


@app.command()
def run(
    spec: Path = typer.Argument(..., help="The experiment spec (TOML)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Apply [presets.NAME] (smoke, quick, ...)."),
    set_: List[str] = typer.Option([], "--set", "-s", help="Override a key: --set training.epochs=3 (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Report folder [reports/<experiment>/<preset>; with --set, "
                                            "<preset>-<hash of the overrides>]. A folder holding another "
                                            "spec's report is replaced only when named here."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder [~/.cache/lensbench]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    force: List[str] = typer.Option([], "--force", help="Recompute a step (id or kind, or 'all'; repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="CPU threads for torch [torch's default]; 1 is often faster on "
                                               "a machine shared with other jobs."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of errors."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start a run estimated to take hours on the CPU without asking."),
):
    """Run an experiment spec and write its report."""
    _DEBUG["on"] = _DEBUG["on"] or debug
    if device not in ("auto", "cpu", "cuda"):
        _fail(_usage(f"--device must be auto, cpu or cuda, got {device!r}"))
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from lensbench.runner import run_spec

    result = _guard(run_spec, spec, preset=preset, overrides=set_, out=out, cache=cache, device=device,
                    force=tuple(force), progress=progress, echo=typer.echo, yes=yes,
                    ask=typer.confirm if sys.stdin.isatty() else None)
    ran = sum(r.status == "ran" for r in result.records)
    typer.echo(f"done in {result.wall_time_s:.1f} s ({ran} step(s) ran, "
               f"{sum(r.status == 'cached' for r in result.records)} from cache)")
    from lensbench.report.terminal import headline_lines

    for line in headline_lines(result.out_dir / "metrics.json"):
        typer.echo(line)
    typer.echo(f"report: {result.out_dir / 'report.html'}")


def _usage(message: str):
    from lensbench.errors import UsageError

    return UsageError(message)


def _spec_warnings(spec) -> list[str]:
    """What a user should know before a run that is not an error (missing application inputs)."""
    from lensbench.tasks.supervised import application_warnings

    return application_warnings(spec)


@app.command()
def validate(
    specs: List[Path] = typer.Argument(..., help="Spec files to check."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Also apply this preset."),
):
    """Check specs (every preset of each, unless --preset is given) and report every problem."""
    from lensbench.errors import SpecError
    from lensbench.spec import load_raw, load_spec

    problems = []
    for path in specs:
        try:
            presets = [preset] if preset else [None] + load_raw(path).presets
            warnings, failed = [], []
            for name in presets:  # every preset is checked: their problems are reported together
                try:
                    warnings += [w for one in load_spec(path, preset=name) for w in _spec_warnings(one)]
                except SpecError as err:
                    failed += err.issues
            if failed:
                raise SpecError(failed)
            typer.echo(f"{path}: ok ({', '.join(p for p in presets if p) or 'no presets'})")
            for warning in dict.fromkeys(warnings):
                typer.echo(f"{path}: warning: {warning}", err=True)
        except SpecError as err:
            problems.extend(err.issues)
    if problems:
        _fail(SpecError(list(dict.fromkeys(problems))))


@app.command()
def plan(
    spec: Path = typer.Argument(..., help="The experiment spec (TOML)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Apply [presets.NAME] (smoke, quick, ...)."),
    set_: List[str] = typer.Option([], "--set", "-s", help="Override a key: --set training.epochs=3 (repeatable)."),
    cache: Optional[Path] = typer.Option(None, "--cache",
                                         help="Cache folder to look up [$LENSBENCH_CACHE or ~/.cache/lensbench]."),
):
    """Show the steps a run would take and which are already cached."""
    from lensbench.cache import Cache
    from lensbench.estimate import estimate_plan
    from lensbench.humanize import human_bytes, human_seconds
    from lensbench.plan import make_plan
    from lensbench.spec import load_spec
    from lensbench.steps import STEP_KINDS

    specs = _guard(load_spec, spec, preset=preset, overrides=set_)
    for warning in dict.fromkeys(w for one in specs for w in _spec_warnings(one)):
        typer.echo(f"warning: {warning}", err=True)
    the_plan = make_plan(specs)
    store = Cache(cache)
    for step in the_plan.steps:
        cached = getattr(STEP_KINDS.get(step.kind), "CACHED", True)
        status = ("cached" if store.has(step.kind, step.key) else "to run") if cached else "always runs"
        inputs = f" <- {', '.join(step.inputs.values())}" if step.inputs and step.kind != "report" else ""
        typer.echo(f"{step.id:<44} {status:<12} {step.key[:12]}{inputs}")
    estimate = estimate_plan(the_plan, is_cached=lambda step: store.has(step.kind, step.key))
    for one in estimate.steps:
        if one.seconds:
            typer.echo(f"  {one.step_id:<42} disk {human_bytes(one.disk_bytes):>9}  memory "
                       f"{human_bytes(one.memory_bytes):>9}  time {human_seconds(one.seconds)}")
    typer.echo(estimate.summary())


@app.command("list")
def list_():
    """List registered tasks, simulators, architectures, metrics, priors and paper analyses."""
    from lensbench.metrics import METRICS
    from lensbench.models import ARCHITECTURES
    from lensbench.papers import PAPER_ANALYSES
    from lensbench.simulate.priors import PRIORS
    from lensbench.simulate.register import SIMULATION_KINDS
    from lensbench.tasks import TASKS

    for name in TASKS:
        task = TASKS.get(name)
        owned = f" (sections: {', '.join(task.sections)})" if task.sections else ""
        typer.echo(f"task {name}: {task.description}{owned}")
    for title, registry in (("simulators", SIMULATION_KINDS), ("architectures", ARCHITECTURES),
                            ("metrics", METRICS), ("priors", PRIORS), ("paper analyses", PAPER_ANALYSES)):
        typer.echo(f"{title}: {', '.join(registry.names())}")


@app.command()
def explain(
    target: Optional[str] = typer.Argument(None, help="A section (survey) or a key (training.lr); "
                                                      "nothing for every section."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k", help="Only this simulation kind's [simulation] "
                                                                  "and [survey] (strong_lensing, galaxy, ...)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print Markdown (docs/spec-reference.md is this, "
                                                            "for every section)."),
):
    """Explain spec keys: type, unit, default, allowed values and meaning, and named surveys' values."""
    from lensbench.spec.reference import select
    from lensbench.spec.reference_render import markdown as as_markdown, text

    docs, _ = _guard(select, target, kind)
    typer.echo(as_markdown(docs) if markdown else text(docs), nl=False)


@app.command()
def compare(
    reports: List[Path] = typer.Argument(..., help="Report folders (each with metrics.json)."),
    out: Path = typer.Option(Path("reports/compare"), "--out", "-o", help="Where to write the comparison."),
):
    """Put benchmark reports side by side: metrics, differences, ROC curves, spec differences."""
    from lensbench.report.compare import compare_reports

    if len(reports) < 2:
        _fail(_usage("compare needs at least two report folders"))
    path = _guard(compare_reports, list(reports), out)
    typer.echo(f"comparison: {path}")


@app.command()
def apply(
    inputs: List[str] = typer.Argument(..., help="FITS files, folders or glob patterns (GalSim catalogues too)."),
    model: Path = typer.Option(..., "--model", "-m", help="A model folder, or a run's report folder."),
    out: Path = typer.Option(Path("reports/apply"), "--out", "-o", help="Where to write the table and report."),
    min_size: Optional[int] = typer.Option(50, help="Reject stamps with a side below this (pixels; Ko: 50)."),
    max_size: Optional[int] = typer.Option(80, help="Reject stamps with a side above this (pixels; Ko: 80)."),
    max_pixel: Optional[float] = typer.Option(2.0, help="Reject stamps brighter than this (file units; Ko: 2)."),
    no_cuts: bool = typer.Option(False, "--no-cuts", help="Disable the size and brightness cuts."),
    batch_size: int = typer.Option(256, help="Stamps scored together (memory holds one batch)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    preparation: str = typer.Option("native", "--preparation",
                                    help="native: crop or pad at the stamps' pixel scale; resample: interpolate "
                                         "to the network size (changes the pixel scale)."),
    kind: str = typer.Option("galaxy", "--kind", help="What the stamps show, as a simulation kind, checked "
                                                      "against the model's (galaxy: single galaxies, COSMOS)."),
    pixel_scale: Optional[float] = typer.Option(None, "--pixel-scale",
                                                help="The stamps' pixel scale in arcsec where no catalogue gives it."),
    controls: bool = typer.Option(True, "--controls/--no-controls",
                                  help="Zoom curve and size-matched simulated control of what the fraction means."),
    calibration: Optional[Path] = typer.Option(None, "--calibration",
                                               help="Likelihood-ratio models: a ratio_calibrate cache entry or "
                                                    "calibration.npz [found beside the model, else uncalibrated]."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Likelihood-ratio models: the cache holding a run's "
                                                               "calibration [~/.cache/lensbench]."),
):
    """Run a trained classifier on real FITS cutouts and write a table and a report; or, with a
    likelihood-ratio model, combine lens images into one (f_sub, beta) map and its CL regions."""
    from lensbench.models.saved import read_model_card
    from lensbench.report.apply import write_apply_report
    from lensbench.runner import resolve_device
    from lensbench.scoring import ZOOMS, apply_model, control_from_card, find_model_dir, preprocessing_for

    if _guard(lambda: read_model_card(find_model_dir(model)).get("task")) == "likelihood_ratio":
        _apply_ratio(inputs, model, out, calibration, cache, batch_size, device, progress)
        return
    if calibration is not None:
        _fail(_usage(f"--calibration is for likelihood-ratio models; {model} holds a classifier"))

    def run_it():
        cuts = dict(min_size=None, max_size=None, max_pixel=None) if no_cuts else dict(
            min_size=min_size, max_size=max_size, max_pixel=max_pixel)
        card = read_model_card(find_model_dir(model))
        prep = preprocessing_for(card, preparation=preparation, **cuts)
        control, note = control_from_card(card) if controls else (None, "switched off (--no-controls)")
        scored = apply_model(model, list(inputs), out, preprocessing=prep, batch_size=batch_size,
                             device=resolve_device(device), progress=progress, zooms=ZOOMS if controls else None,
                             control=control, control_note=note, input_kind=kind, pixel_scale=pixel_scale)
        write_apply_report(scored)
        return scored

    if preparation not in ("native", "resample"):
        _fail(_usage(f"--preparation must be native or resample, got {preparation!r}"))
    result = _guard(run_it)
    for problem in result.problems:
        typer.echo(f"skipped: {problem}", err=True)
    for warning in result.summary["domain"]["warnings"]:
        typer.echo(f"warning: training domain: {warning}", err=True)
    interval = f" [{result.interval[0]:.3f}, {result.interval[1]:.3f}]" if result.interval else ""
    fraction = f"{result.fraction:.3f}{interval}" if result.fraction is not None else "n/a"
    typer.echo(f"{result.stamps_read} stamps read, {result.passed} passed the cuts, {result.scored} scored; "
               f"fraction '{result.positive_class}': {fraction}; {len(result.problems)} problem(s)")
    control = result.summary["control"]
    if control.get("fraction") is not None:
        typer.echo(f"size-matched simulated galaxies without a halo: fraction '{result.positive_class}' "
                   f"{control['fraction']:.3f} (what apparent size alone gives; see the report)")
    typer.echo(f"report: {result.out_dir / 'report.html'}")


def _apply_ratio(inputs, model, out, calibration, cache, batch_size, device, progress) -> None:
    """``lensbench apply`` with a likelihood-ratio model: the combined map, its regions, a summary."""
    from lensbench.report.ratio_apply import write_ratio_figure
    from lensbench.runner import resolve_device
    from lensbench.scoring.ratio import apply_ratio_model

    def run_it():
        result = apply_ratio_model(model, list(inputs), out, calibration=calibration, cache_root=cache,
                                   batch_size=batch_size, device=resolve_device(device), progress=progress)
        return result, write_ratio_figure(result)

    result, figure = _guard(run_it)
    for problem in result.problems:
        typer.echo(f"skipped: {problem}", err=True)
    s = result.summary
    calibrated = (f"calibrated ({s['calibration']['how']})" if result.calibrated
                  else s["calibration"]["how"])
    typer.echo(f"{s['images']['used']} lens image(s) used, {s['images']['skipped']} skipped; {calibrated}; "
               f"model {s['model']['cache_entry'] or 'weights sha256 ' + s['model']['weights_sha256']}")
    typer.echo(f"MLE: f_sub {s['mle']['f_sub']:.4g}, beta {s['mle']['beta']:.4g}")
    for level, region in s["regions"].items():
        interval = s["f_sub_interval"][level]
        at_slice = f"[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "empty"
        edge = " (touches the grid's edge)" if region["at_edge"] else ""
        typer.echo(f"{float(level):.0%} CL region (2 dof): f_sub [{region['f_sub'][0]:.4g}, {region['f_sub'][1]:.4g}], "
                   f"beta [{region['beta'][0]:.4g}, {region['beta'][1]:.4g}]{edge}; "
                   f"f_sub at beta = {s['f_sub_interval']['beta']:g}: {at_slice}")
    typer.echo(f"map: {figure}; table: {result.out_dir / 'per_image.csv'}; summary: {result.out_dir / 'apply.json'}")


@app.command()
def fit(
    inputs: List[str] = typer.Argument(..., help="FITS cutouts: files, folders or glob patterns."),
    spec: Optional[Path] = typer.Option(None, "--spec", help="A 'fit' spec whose model, fit and sampler settings "
                                                              "are used [specs/papers/differentiable.toml]."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Apply [presets.NAME] (smoke, quick, ...)."),
    set_: List[str] = typer.Option([], "--set", "-s", help="Override a key: --set fit.starts=4 (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder [reports/<experiment>/<preset>-<hash>]."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder [~/.cache/lensbench]."),
    psf: Optional[Path] = typer.Option(None, "--psf", help="FITS file of the pixel PSF kernel (at the cutouts' pixel scale)."),
    psf_fwhm: Optional[float] = typer.Option(None, "--psf-fwhm", help="Gaussian PSF FWHM (arcsec), without --psf."),
    pixel_scale: Optional[float] = typer.Option(None, "--pixel-scale", help="Pixel side (arcsec) where a header has no WCS."),
    image_hdu: Optional[str] = typer.Option(None, "--image-hdu", help="Science-image HDU (EXTNAME or index) [first 2-D image]."),
    noise_hdu: Optional[str] = typer.Option(None, "--noise-hdu", help="Noise-map HDU of each cutout (EXTNAME or index)."),
    noise_file: Optional[str] = typer.Option(None, "--noise-file", help="Noise-map file beside each cutout ('{stem}_rms.fits')."),
    noise_kind: Optional[str] = typer.Option(None, "--noise-kind", help="sigma, variance or inverse_variance [sigma]."),
    background_rms: Optional[float] = typer.Option(None, "--background-rms", help="Stated background noise (counts/s), without a map."),
    exposure_time: Optional[float] = typer.Option(None, "--exposure-time", help="Exposure time (s) of the stated Poisson term."),
    npix: Optional[int] = typer.Option(None, "--npix", help="Cut a centred npix x npix square from every cutout."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Start a run estimated to take hours without asking."),
):
    """Fit a lens model to FITS cutouts (MAP + NUTS) and write a report of per-file posteriors."""
    from lensbench.fit_files import run_fit_files

    result = _guard(run_fit_files, inputs, spec=spec, preset=preset, overrides=set_, out=out, cache=cache, device=device,
                    progress=progress, echo=typer.echo, yes=yes, ask=typer.confirm if sys.stdin.isatty() else None,
                    psf=psf, psf_fwhm=psf_fwhm, pixel_scale=pixel_scale, image_hdu=image_hdu, noise_hdu=noise_hdu,
                    noise_file=noise_file, noise_kind=noise_kind, background_rms=background_rms,
                    exposure_time=exposure_time, npix=npix)
    from lensbench.report.terminal import headline_lines

    for line in headline_lines(result.out_dir / "metrics.json"):
        typer.echo(line)
    typer.echo(f"report: {result.out_dir / 'report.html'}")


@app.command()
def fetch(
    dataset: str = typer.Argument(..., help="What to download: cosmos."),
    sample: str = typer.Option("25.2", "--sample", help="COSMOS sample: 23.5 or 25.2."),
    dest: Path = typer.Option(Path("data/cosmos"), "--dest", help="Folder to unpack into."),
    checksum: Optional[str] = typer.Option(None, "--checksum", help="Expected md5:HEX or sha256:HEX, or none to skip verification; default: the md5 the Zenodo record publishes, read before downloading."),
    url: Optional[str] = typer.Option(None, "--url", help="Another address of the archive (a mirror, file://)."),
):
    """Download and unpack a public data set (the COSMOS real-galaxy samples; see data/cosmos/README.md)."""
    from lensbench.io.fetch import fetch_cosmos

    if dataset != "cosmos":
        _fail(_usage(f"unknown data set {dataset!r}; one of: cosmos"))
    if sample not in ("23.5", "25.2"):
        _fail(_usage(f"--sample must be 23.5 or 25.2, got {sample!r}"))
    path = _guard(fetch_cosmos, sample, dest, url=url, checksum=checksum)
    typer.echo(f"COSMOS {sample} sample in {path}")


cache_app = typer.Typer(no_args_is_help=True, help="Show, verify and prune the cache of step outputs.")
app.add_typer(cache_app, name="cache")
_CACHE_OPTION = typer.Option(None, "--cache", help="Cache folder [~/.cache/lensbench].")


@cache_app.command("info")
def cache_info(cache: Optional[Path] = _CACHE_OPTION):
    """Size of the cache, and its entries by step kind and by experiment."""
    from lensbench.cache import Cache
    from lensbench.cache.admin import summary

    for line in summary(Cache(cache)):
        typer.echo(line)


@cache_app.command("verify")
def cache_verify(
    cache: Optional[Path] = _CACHE_OPTION,
    fix: bool = typer.Option(False, "--fix", help="Move bad entries aside (to <cache>/corrupt/) to be recomputed."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Check every file of every entry against the sha256 stored when it was written; exit 3 when
    bad entries remain (not moved aside)."""
    from lensbench.cache import Cache
    from lensbench.cache.admin import verify

    store = Cache(cache)
    checked, bad = verify(store, fix=fix, progress=progress, echo=typer.echo)
    moved = sum(1 for e, _ in bad if not store.path(e.kind, e.key).exists())
    typer.echo(f"{checked} entries checked, {len(bad)} bad" + (f", {moved} moved aside" if fix else ""))
    if len(bad) > moved:
        raise typer.Exit(3)


@cache_app.command("prune")
def cache_prune(
    cache: Optional[Path] = _CACHE_OPTION,
    older_than: Optional[str] = typer.Option(None, "--older-than", help="Entries last used longer ago (30d, 12h, 2w)."),
    keep_report: List[Path] = typer.Option([], "--keep-report",
                                           help="Keep the entries this run report used (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be removed."),
):
    """Remove entries matching every criterion given (interrupted work folders and moved-aside
    entries too); entries a running lensbench holds are kept."""
    from lensbench.cache import Cache
    from lensbench.cache.admin import parse_age, prune
    from lensbench.humanize import human_bytes

    def run_it():
        age = parse_age(older_than) if older_than is not None else None
        return prune(Cache(cache), older_than=age, keep_reports=keep_report, dry_run=dry_run)

    result = _guard(run_it)
    for e in result.removed:
        typer.echo(f"{'would remove' if dry_run else 'removed'}: {e.name} ({human_bytes(e.size)})")
    for e in result.busy:
        typer.echo(f"kept: {e.name}: held by a running lensbench")
    typer.echo(f"{len(result.removed)} entries, {human_bytes(result.freed)} {'to free' if dry_run else 'freed'}")


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LensbenchError as err:  # pragma: no cover - errors raised outside commands
        typer.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
