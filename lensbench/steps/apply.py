"""The apply step: run a branch's trained classifier on the spec's real FITS inputs.

It writes, in its cache folder, what ``lensbench apply`` writes (``predictions.csv``,
``predictions.fits``, ``apply.json``, ``report.md``, ``report.html``, ``figures/``); the report
step summarises it in the run's report (:func:`lensbench.report.apply.application_blocks`) and
copies the whole application report beside it.
"""

from __future__ import annotations

import dataclasses

from lensbench.models.saved import read_model_card
from lensbench.report.apply import write_apply_report
from lensbench.scoring import apply_model, preprocessing_for
from lensbench.steps.base import STEP_KINDS, StepContext


def paper_counts(application) -> dict | None:
    """``[application.paper]`` as the scorer's ``paper`` dict; None when the spec gives none."""
    paper = dataclasses.asdict(application.paper)
    return paper if any(value not in ("", None) for value in paper.values()) else None


@STEP_KINDS.register("apply")
class ApplyStep:
    """Classify the real stamps of ``[application] inputs`` with the branch's model.

    Its parameters (:func:`lensbench.tasks.supervised.apply_params`): ``application``, the
    spec's ``[application]`` section; ``inputs``, the input paths made absolute; ``fingerprint``,
    their sizes and modification times (part of the cache key only).
    """

    VERSION = 2  # 2: the paper's counts come from [application.paper]
    CACHED = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        app = ctx.params["application"]
        prep = preprocessing_for(read_model_card(ctx.inputs["model"]), min_size=app.min_size,
                                 max_size=app.max_size, max_pixel=app.max_pixel,
                                 reject_non_finite=app.reject_non_finite,
                                 normalisation=app.normalisation, resampling=app.resampling)
        result = apply_model(ctx.inputs["model"], ctx.params["inputs"], ctx.work, preprocessing=prep,
                             device=ctx.device, progress=ctx.progress, gallery_size=app.gallery_size,
                             paper=paper_counts(app))
        write_apply_report(result)
        ctx.log.info("%d stamps read, %d passed the cuts, %d scored, %d positive, %d problems",
                     result.stamps_read, result.passed, result.scored, result.positive, len(result.problems))
        return {"stamps_read": result.stamps_read, "passed": result.passed, "scored": result.scored,
                "positive": result.positive, "problems": len(result.problems)}
