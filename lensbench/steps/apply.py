"""The apply step: run a branch's trained classifier on the spec's real FITS inputs.

It writes, in its cache folder, what ``lensbench apply`` writes (``predictions.csv``,
``predictions.fits``, ``apply.json``, ``report.md``, ``report.html``, ``figures/``), with the
zoom curve and the size-matched control of :mod:`lensbench.scoring.controls`; the report step
summarises it in the run's report (:func:`lensbench.report.apply.application_blocks`) and
copies the whole application report beside it. When the inputs are missing it writes only an
``apply.json`` saying what is missing and how to get it, so the run still writes its report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lensbench.io.atomic import write_json
from lensbench.models.saved import read_model_card
from lensbench.report.apply import MISSING_FORMAT, write_apply_report
from lensbench.scoring import ControlConfig, apply_model, preprocessing_for
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.tasks.supervised import missing_inputs


def paper_counts(application) -> dict | None:
    """``[application.paper]`` as the scorer's ``paper`` dict; None when the spec gives none."""
    paper = dataclasses.asdict(application.paper)
    return paper if any(value not in ("", None) for value in paper.values()) else None


def control_for(params: dict) -> tuple[ControlConfig | None, str]:
    """The size-matched control of a branch (its own simulation), or None and why not."""
    app = params["application"]
    if app.control_size == 0:
        return None, "switched off ([application] control_size = 0)"
    if params["simulation_kind"] != "galaxy":
        return None, (f"the model was trained on simulation kind '{params['simulation_kind']}'; "
                      f"the control simulates single galaxies (kind 'galaxy')")
    return ControlConfig(params["simulation"], params["survey"], pool_size=app.control_size,
                         neighbours=app.control_neighbours, seed=params["seed"]), ""


@STEP_KINDS.register("apply")
class ApplyStep:
    """Classify the real stamps of ``[application] inputs`` with the branch's model.

    Its parameters (:func:`lensbench.tasks.supervised.apply_params`): ``application``, the
    spec's ``[application]`` section; ``inputs``, the input paths made absolute; ``fingerprint``,
    their sizes and modification times (part of the cache key only); the branch's
    ``simulation_kind``, ``simulation``, ``survey`` and ``seed`` for the control.
    """

    VERSION = 4  # 3: native preparation, domain check, zoom curve, control; 4: no machine paths recorded
    CACHED = True
    THREADS_IN_KEY = True  # the model's forward pass rounds differently with other thread counts

    @staticmethod
    def run(ctx: StepContext) -> dict:
        app = ctx.params["application"]
        missing = missing_inputs(ctx.params["inputs"])
        if missing:
            ctx.log.warning("application inputs not found: %s", ", ".join(missing))
            write_json(ctx.work / "apply.json", {"format": MISSING_FORMAT, "inputs": ctx.params["inputs"],
                                                 "missing": missing, "fetch_hint": app.fetch_hint})
            return {"missing": len(missing)}
        prep = preprocessing_for(read_model_card(ctx.inputs["model"]), min_size=app.min_size,
                                 max_size=app.max_size, max_pixel=app.max_pixel,
                                 reject_non_finite=app.reject_non_finite,
                                 normalisation=app.normalisation, resampling=app.resampling,
                                 preparation=app.preparation)
        control, note = control_for(ctx.params)
        result = apply_model(ctx.inputs["model"], ctx.params["inputs"], ctx.work, preprocessing=prep,
                             device=ctx.device, progress=ctx.progress, gallery_size=app.gallery_size,
                             paper=paper_counts(app), zooms=app.zooms, control=control, control_note=note,
                             input_kind=app.input_kind, pixel_scale=app.pixel_scale,
                             model_label=f"this branch's train step (cache entry train/{Path(ctx.inputs['model']).name})",
                             input_labels=list(app.inputs))
        write_apply_report(result)
        for warning in result.summary["domain"]["warnings"]:
            ctx.log.warning("training domain: %s", warning)
        ctx.log.info("%d stamps read, %d passed the cuts, %d scored, %d positive, %d problems",
                     result.stamps_read, result.passed, result.scored, result.positive, len(result.problems))
        return {"stamps_read": result.stamps_read, "passed": result.passed, "scored": result.scored,
                "positive": result.positive, "problems": len(result.problems)}
