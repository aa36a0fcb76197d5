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

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
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


@app.callback()
def main_options(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of errors.")):
    """Global options."""
    _DEBUG["on"] = debug


@app.command()
def run(
    spec: Path = typer.Argument(..., help="The experiment spec (TOML)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Apply [presets.NAME] (smoke, quick, ...)."),
    set_: List[str] = typer.Option([], "--set", "-s", help="Override a key: --set training.epochs=3 (repeatable)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Report folder [reports/<experiment>/<preset>]."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Cache folder [~/.cache/lensbench]."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    force: List[str] = typer.Option([], "--force", help="Recompute a step (id or kind, or 'all'; repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="CPU threads for torch [torch's default]; 1 is often faster on "
                                               "a machine shared with other jobs."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks of errors."),
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
                    force=tuple(force), progress=progress, echo=typer.echo)
    ran = sum(r.status == "ran" for r in result.records)
    typer.echo(f"done in {result.wall_time_s:.1f} s ({ran} step(s) ran, "
               f"{sum(r.status == 'cached' for r in result.records)} from cache)")
    typer.echo(f"report: {result.out_dir / 'report.html'}")


def _usage(message: str):
    from lensbench.errors import UsageError

    return UsageError(message)


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
            for name in presets:
                load_spec(path, preset=name)
            typer.echo(f"{path}: ok ({', '.join(p for p in presets if p) or 'no presets'})")
        except SpecError as err:
            problems.extend(err.issues)
    if problems:
        _fail(SpecError(list(dict.fromkeys(problems))))


@app.command()
def plan(
    spec: Path = typer.Argument(..., help="The experiment spec (TOML)."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p"),
    set_: List[str] = typer.Option([], "--set", "-s"),
    cache: Optional[Path] = typer.Option(None, "--cache"),
):
    """Show the steps a run would take and which are already cached."""
    from lensbench.cache import Cache
    from lensbench.plan import make_plan
    from lensbench.spec import load_spec
    from lensbench.steps import STEP_KINDS

    specs = _guard(load_spec, spec, preset=preset, overrides=set_)
    the_plan = make_plan(specs)
    store = Cache(cache)
    for step in the_plan.steps:
        cached = getattr(STEP_KINDS.get(step.kind), "CACHED", True)
        status = ("cached" if store.has(step.kind, step.key) else "to run") if cached else "always runs"
        inputs = f" <- {', '.join(step.inputs.values())}" if step.inputs and step.kind != "report" else ""
        typer.echo(f"{step.id:<44} {status:<12} {step.key[:12]}{inputs}")


@app.command("list")
def list_():
    """List registered tasks, simulators, architectures, metrics, priors, step kinds and paper analyses."""
    from lensbench.metrics import METRICS
    from lensbench.models import ARCHITECTURES
    from lensbench.papers import PAPER_ANALYSES
    from lensbench.simulate.priors import PRIORS
    from lensbench.simulate.register import SIMULATION_KINDS
    from lensbench.steps import STEP_KINDS
    from lensbench.tasks import TASKS

    for name in TASKS:
        task = TASKS.get(name)
        owned = f" (sections: {', '.join(task.sections)})" if task.sections else ""
        typer.echo(f"task {name}: {task.description}{owned}")
    for title, registry in (("simulators", SIMULATION_KINDS), ("architectures", ARCHITECTURES),
                            ("metrics", METRICS), ("priors", PRIORS), ("steps", STEP_KINDS),
                            ("paper analyses", PAPER_ANALYSES)):
        typer.echo(f"{title}: {', '.join(registry.names())}")


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
):
    """Run a trained classifier on real FITS cutouts and write a table and a report."""
    from lensbench.models.saved import read_model_card
    from lensbench.report.apply import write_apply_report
    from lensbench.runner import resolve_device
    from lensbench.scoring import apply_model, find_model_dir, preprocessing_for

    def run_it():
        cuts = dict(min_size=None, max_size=None, max_pixel=None) if no_cuts else dict(
            min_size=min_size, max_size=max_size, max_pixel=max_pixel)
        prep = preprocessing_for(read_model_card(find_model_dir(model)), **cuts)
        scored = apply_model(model, list(inputs), out, preprocessing=prep, batch_size=batch_size,
                             device=resolve_device(device), progress=progress)
        write_apply_report(scored)
        return scored

    result = _guard(run_it)
    for problem in result.problems:
        typer.echo(f"skipped: {problem}", err=True)
    interval = f" [{result.interval[0]:.3f}, {result.interval[1]:.3f}]" if result.interval else ""
    fraction = f"{result.fraction:.3f}{interval}" if result.fraction is not None else "n/a"
    typer.echo(f"{result.stamps_read} stamps read, {result.passed} passed the cuts, {result.scored} scored; "
               f"fraction '{result.positive_class}': {fraction}; {len(result.problems)} problem(s)")
    typer.echo(f"report: {result.out_dir / 'report.html'}")


@app.command()
def fetch(
    dataset: str = typer.Argument(..., help="What to download: cosmos."),
    sample: str = typer.Option("25.2", "--sample", help="COSMOS sample: 23.5 or 25.2."),
    dest: Path = typer.Option(Path("data/cosmos"), "--dest", help="Folder to unpack into."),
    checksum: Optional[str] = typer.Option(None, "--checksum", help="Expected md5:HEX or sha256:HEX."),
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LensbenchError as err:  # pragma: no cover - errors raised outside commands
        typer.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)


if __name__ == "__main__":
    main()
