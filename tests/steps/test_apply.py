"""The apply step's adapter (:mod:`lensbench.steps.apply`): the paper's counts come from the
spec's ``[application.paper]``, and only from there."""

from __future__ import annotations

import json
import logging

import pytest

from lensbench.spec import load_spec
from lensbench.spec.sections import ApplicationSection
from lensbench.steps import StepContext
from lensbench.steps.apply import ApplyStep, paper_counts

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
    params = {"application": spec.application, "inputs": ["stamps.fits"], "fingerprint": []}
    ctx = StepContext("apply", params, tmp_path / "work", {"model": model},
                      logging.getLogger("test"), progress=False)
    with pytest.raises(Recorded):
        ApplyStep.run(ctx)
    assert {key: recorded["paper"][key] for key in KO_COSMOS} == KO_COSMOS
    assert recorded["preprocessing"].output_shape == (64, 64)
    assert recorded["inputs"] == ["stamps.fits"]
