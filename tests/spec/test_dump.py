"""spec.resolved.toml: the spec as TOML, and each branch's resolved survey as comments."""

from __future__ import annotations

import sys

from lensbench.spec import load_spec
from lensbench.spec.dump import dumps, resolved_surveys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def test_named_survey_is_written_with_its_values_without_changing_the_spec(in_repo):
    specs = load_spec("specs/examples/nfw_detection.toml", preset="smoke")
    text = dumps(specs[0].document) + resolved_surveys(specs)
    assert '# branch main, scenario "hst":' in text
    for line in ("# pixel_scale = 0.08", "# psf_fwhm = 0.08", "# exposure_time = 5400.0", "# read_noise = 4.0",
                 "# sky_brightness = 22.3", "# unset: background_rms"):
        assert line in text.splitlines(), line
    assert tomllib.loads(text) == specs[0].document  # comments only: the same spec, the same hash


def test_overrides_of_a_scenario_show_in_the_resolved_survey(in_repo):
    specs = load_spec("specs/examples/nfw_detection.toml", preset="smoke", overrides=["survey.pixel_scale=0.05"])
    lines = resolved_surveys(specs).splitlines()
    assert "# pixel_scale = 0.05" in lines and "# psf_fwhm = 0.08" in lines


def test_grid_branches_with_the_same_survey_share_one_block(in_repo):
    specs = load_spec("specs/papers/astrometric.toml", preset="smoke")
    text = resolved_surveys(specs)
    assert text.count("# [survey]") == 5  # scenarios A-E; C's three architectures share one
    assert '# branches variant=C, variant=C_alexnet, variant=C_vgg11, scenario "C":' in text
    block_b = text.split('scenario "B":')[1].split("#\n")[0]
    assert "# n_quasars = 1e8" in block_b and "# sigma_u = 0.1" in block_b
