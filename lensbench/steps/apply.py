"""The apply step: run a branch's trained classifier on the spec's real FITS inputs.

It writes, in its cache folder, what ``lensbench apply`` writes (``predictions.csv``,
``predictions.fits``, ``apply.json``, ``report.md``, ``report.html``); the report step puts a
summary in the run's report and copies the whole application report beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

from lensbench.apply import apply_model
from lensbench.io.preprocess import Preprocessing
from lensbench.steps import STEP_KINDS, StepContext


def resolve_inputs(spec) -> list[str]:
    """The ``[application] inputs`` as absolute paths (relative ones are relative to the spec file)."""
    base = Path(spec.source).parent
    return [str(p if Path(p).is_absolute() else (base / p).resolve()) for p in spec.application.inputs]


def fingerprint(paths: list[str]) -> list:
    """Size and modification time of every input file (folders: of the files in them), so a
    changed input invalidates the cached application."""
    out = []
    for path in map(Path, paths):
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        out.append([str(path), [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files if f.is_file()]])
    return out


@STEP_KINDS.register("apply")
class ApplyStep:
    """Classify the real stamps of ``[application] inputs`` with the branch's model."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def params(spec) -> dict:
        inputs = resolve_inputs(spec)
        return {"application": spec.application, "inputs": inputs, "fingerprint": fingerprint(inputs)}

    @staticmethod
    def run(ctx: StepContext) -> dict:
        app = ctx.params["application"]
        height, width = json.loads((ctx.inputs["model"] / "model.json").read_text())["input_size"]
        prep = Preprocessing(min_size=app.min_size, max_size=app.max_size, max_pixel=app.max_pixel,
                             reject_non_finite=app.reject_non_finite, normalisation=app.normalisation,
                             output_shape=(height, width), resampling=app.resampling)
        result = apply_model(ctx.inputs["model"], ctx.params["inputs"], ctx.work, preprocessing=prep,
                             device=ctx.device, progress=ctx.progress, gallery_size=app.gallery_size)
        ctx.log.info("%d stamps read, %d passed the cuts, %d scored, %d positive, %d problems",
                     result.stamps_read, result.passed, result.scored, result.positive, len(result.problems))
        return {"stamps_read": result.stamps_read, "passed": result.passed, "scored": result.scored,
                "positive": result.positive, "problems": len(result.problems)}
