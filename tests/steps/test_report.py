"""Tests of the report step's reading of the paper's setup (lensbench.steps.report): the paper's
scale, the file that states the paper's numbers, and a spec that extends it with other physics."""

from __future__ import annotations

from lensbench.report.branch import Scale
from lensbench.spec import load_spec
from lensbench.steps.report import paper_scales, paper_spec_file, scale_of, setup_differences

SPEC = "specs/examples/nfw_detection.toml"


def test_the_papers_scale_is_the_spec_without_preset(repo):
    smoke, = load_spec(repo / SPEC, preset="smoke")
    assert scale_of(smoke) == Scale(smoke.data.n_train, smoke.data.n_val, smoke.data.n_test, True,
                                    smoke.training.epochs)
    paper = paper_scales(smoke)["main"]
    full, = load_spec(repo / SPEC)
    assert paper == scale_of(full) and paper != scale_of(smoke)


def test_the_paper_of_a_spec_is_its_own_and_the_same_physics_differs_nowhere(repo):
    specs = load_spec(repo / SPEC, preset="smoke")
    assert paper_spec_file(specs[0].source) == (repo / SPEC).resolve()
    assert setup_differences(specs) == {"main": ()}


def test_a_spec_extending_a_paper_with_other_physics_is_marked(repo, tmp_path):
    derived = tmp_path / "derived.toml"
    derived.write_text(f'extends = "{(repo / SPEC).as_posix()}"\n[survey]\npixel_scale = 0.05\n'
                       "[data]\nn_train = 50\n")
    specs = load_spec(derived, preset="smoke")
    assert paper_spec_file(derived) == (repo / SPEC).resolve()
    assert setup_differences(specs) == {"main": ("survey.pixel_scale",)}
    sizes_only = tmp_path / "sizes.toml"
    sizes_only.write_text(f'extends = "{(repo / SPEC).as_posix()}"\n[data]\nn_train = 50\n')
    assert setup_differences(load_spec(sizes_only, preset="smoke")) == {"main": ()}


def test_set_overrides_of_the_physics_are_marked(repo):
    specs = load_spec(repo / SPEC, preset="smoke", overrides=["survey.psf_fwhm=0.2"])
    assert setup_differences(specs) == {"main": ("survey.psf_fwhm",)}
