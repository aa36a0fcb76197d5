"""The supervised tasks' parameters (:mod:`lensbench.tasks.supervised`): where the application's
real data are read from, what happens when they are missing, and what the model card records."""

from __future__ import annotations

import dataclasses

from lensbench.spec import load_spec
from lensbench.tasks.supervised import (application_inputs, application_warnings, fingerprint,
                                        missing_inputs, train_params)

CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"


def galaxy_branch(repo):
    return next(spec for spec in load_spec(repo / "specs" / "papers" / "cosmos.toml", preset="smoke")
                if spec.branch_name == "variant=nfw_galaxy")


def test_cosmos_reads_data_cosmos_unless_the_environment_says_otherwise(repo, monkeypatch, cosmos_dir):
    monkeypatch.delenv("LENSBENCH_COSMOS", raising=False)
    spec = galaxy_branch(repo)
    assert application_inputs(spec) == [str(repo / "data" / "cosmos" / "COSMOS_25.2_training_sample")]
    monkeypatch.setenv("LENSBENCH_COSMOS", str(cosmos_dir / CATALOGUE))
    assert application_inputs(spec) == [str(cosmos_dir / CATALOGUE)]
    assert application_warnings(spec) == []


def test_missing_inputs_are_a_warning_with_the_way_to_get_them(repo, monkeypatch, tmp_path):
    monkeypatch.setenv("LENSBENCH_COSMOS", str(tmp_path / "nowhere"))
    [warning] = application_warnings(galaxy_branch(repo))
    assert f"inputs not found: {tmp_path / 'nowhere'}" in warning
    assert "lensbench fetch cosmos" in warning and "the run will skip the application" in warning


def test_unset_environment_name_without_default_stays_visible(repo, monkeypatch):
    monkeypatch.delenv("LENSBENCH_NOWHERE", raising=False)
    spec = galaxy_branch(repo)
    spec = dataclasses.replace(spec, application=dataclasses.replace(
        spec.application, inputs=("${LENSBENCH_NOWHERE}/stamps.fits",)))
    [path] = application_inputs(spec)
    assert path.endswith("${LENSBENCH_NOWHERE}/stamps.fits") and missing_inputs([path]) == [path]


def test_globs_are_found_and_fingerprinted(tmp_path):
    for name in ("a.fits", "b.fits"):
        (tmp_path / name).write_bytes(b"x" * 10)
    pattern = str(tmp_path / "*.fits")
    assert missing_inputs([pattern]) == [] and missing_inputs([str(tmp_path / "*.fz")]) != []
    [[path, files]] = fingerprint([pattern])
    assert path == pattern and [entry[:2] for entry in files] == [["a.fits", 10], ["b.fits", 10]]


def test_the_model_card_gets_the_simulation_and_survey(repo):
    params = train_params(galaxy_branch(repo))
    assert params["survey"].pixel_scale == 0.03 and params["simulation"].backend == "torch"
