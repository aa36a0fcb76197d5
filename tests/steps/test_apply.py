"""The apply step's adapter (:mod:`lensbench.steps.apply`): the paper's counts come from the
spec's ``[application.paper]``, and only from there."""

from __future__ import annotations

import json
import logging

import pytest

from lensbench.spec import load_spec
from lensbench.spec.sections import ApplicationSection
from lensbench.steps import StepContext
from lensbench.steps.apply import ApplyStep, control_for, paper_counts

KO_COSMOS = {"stamps_read": 29062, "passed": 3707, "positive": 3689}


def cosmos_branches(repo) -> dict:
    return {spec.branch_name: spec
            for spec in load_spec(repo / "specs" / "papers" / "cosmos.toml", preset="smoke")}


def test_paper_counts_come_from_the_spec(repo):
    branches = cosmos_branches(repo)
    paper = paper_counts(branches["variant=nfw_galaxy"].application)
    assert {key: paper[key] for key in KO_COSMOS} == KO_COSMOS
    assert "3689 of those 3707 (99.5 %)" in paper["source"]
    assert paper_counts(branches["variant=nfw_strong"].application) is None
    assert paper_counts(ApplicationSection(inputs=("stamps.fits",))) is None


class Recorded(Exception):
    """Stops the step once the scorer's arguments are recorded."""


def test_the_step_passes_the_spec_paper_to_the_scorer(repo, tmp_path, monkeypatch):
    spec = cosmos_branches(repo)["variant=nfw_galaxy"]
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text(json.dumps({
        "architecture": "cnn", "options": {}, "in_channels": 1, "input_size": [64, 64],
        "num_outputs": 2, "task": "classify", "normalize": "max"}))
    recorded = {}

    def record(model_dir, inputs, out_dir, **options):
        recorded.update(options, inputs=inputs)
        raise Recorded

    monkeypatch.setattr("lensbench.steps.apply.apply_model", record)
    monkeypatch.setattr("lensbench.steps.apply.missing_inputs", lambda paths: [])
    params = {"application": spec.application, "inputs": ["stamps.fits"], "fingerprint": [],
              "simulation_kind": spec.simulation_kind, "simulation": spec.simulation,
              "survey": spec.survey, "seed": spec.experiment.seed}
    ctx = StepContext("apply", params, tmp_path / "work", {"model": model},
                      logging.getLogger("test"), progress=False)
    with pytest.raises(Recorded):
        ApplyStep.run(ctx)
    assert {key: recorded["paper"][key] for key in KO_COSMOS} == KO_COSMOS
    assert recorded["preprocessing"].output_shape == (64, 64)
    assert recorded["preprocessing"].preparation == "native"
    assert recorded["inputs"] == ["stamps.fits"]
    assert recorded["input_kind"] == "galaxy" and recorded["zooms"] == (0.9, 0.95, 1.0, 1.05, 1.1)
    control = recorded["control"]
    assert control.simulation is spec.simulation and control.survey.pixel_scale == 0.03
    assert control.pool_size == 100  # the smoke preset's control_size


def test_missing_inputs_leave_a_note_instead_of_failing(repo, tmp_path):
    spec = cosmos_branches(repo)["variant=nfw_galaxy"]
    missing = str(tmp_path / "no_such_sample")
    params = {"application": spec.application, "inputs": [missing], "fingerprint": [],
              "simulation_kind": "galaxy", "simulation": spec.simulation, "survey": spec.survey,
              "seed": 0}
    ctx = StepContext("apply", params, tmp_path / "work", {"model": tmp_path / "model"},
                      logging.getLogger("test"), progress=False)
    assert ApplyStep.run(ctx) == {"missing": 1}
    written = json.loads((tmp_path / "work" / "apply.json").read_text())
    assert written["missing"] == [missing] and "lensbench fetch cosmos" in written["fetch_hint"]


def test_no_control_for_a_strong_lensing_model(repo):
    spec = cosmos_branches(repo)["variant=nfw_strong"]
    control, note = control_for({"application": spec.application, "simulation_kind": spec.simulation_kind})
    assert control is None and "strong_lensing" in note
