"""Every shipped spec validates; every bad spec fails with exactly the errors it states."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.errors import SpecError
from lensbench.spec import load_raw, load_spec

REPO = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO / "specs").rglob("*.toml"))
BAD = sorted((REPO / "tests" / "specs" / "bad").glob("*.toml"))


def expected_errors(path: Path) -> list[str]:
    """The ``# expect: ...`` lines of a bad spec."""
    return [line[len("# expect: "):] for line in path.read_text().splitlines() if line.startswith("# expect: ")]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_spec_validates_with_every_preset(path):
    for preset in [None] + load_raw(path).presets:
        specs = load_spec(path, preset=preset)
        assert specs and all(s.experiment.seed is not None for s in specs)


def test_shipped_specs_have_smoke_and_quick_presets():
    for path in SPECS:
        if "base" in path.stem:
            continue
        assert {"smoke", "quick"} <= set(load_raw(path).presets), path


@pytest.mark.parametrize("path", [p for p in BAD if expected_errors(p)], ids=lambda p: p.name)
def test_bad_spec_reports_exactly_its_errors(path, in_repo):
    result = CliRunner().invoke(app, ["validate", str(path.relative_to(REPO))])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line and "problem(s) found" not in line]
    assert lines == expected_errors(path)
    assert "Traceback" not in result.output


def test_every_problem_is_reported_at_once(in_repo):
    with pytest.raises(SpecError) as info:
        load_spec("tests/specs/bad/several.toml")
    assert len(info.value.issues) == 4


def test_debug_shows_the_traceback(in_repo):
    result = CliRunner().invoke(app, ["--debug", "validate", "tests/specs/bad/unknown_key.toml"])
    assert isinstance(result.exception, SpecError)


def test_grid_gives_one_spec_per_variant(tmp_path, in_repo):
    spec = tmp_path / "grid.toml"
    spec.write_text(f'extends = "{REPO}/specs/examples/deeplense_classes.toml"\n'
                    '[grid]\n"model.architecture" = ["cnn", "resnet18"]\n"training.lr" = [1e-3, 1e-4]\n')
    specs = load_spec(spec, preset="smoke")
    assert [s.branch_name for s in specs] == ["architecture=cnn,lr=0.001", "architecture=cnn,lr=0.0001",
                                              "architecture=resnet18,lr=0.001", "architecture=resnet18,lr=0.0001"]
    assert specs[2].model.architecture == "resnet18" and specs[3].training.lr == 1e-4


def test_a_grid_branch_whose_model_options_do_not_fit_its_architecture_is_refused(tmp_path, in_repo):
    spec = tmp_path / "grid.toml"
    spec.write_text(f'extends = "{REPO}/specs/examples/nfw_detection.toml"\n'
                    '[grid]\n"model.architecture" = ["cnn", "resnet18"]\n')
    with pytest.raises(SpecError, match="unknown option 'kernel_size' for architecture 'resnet18'"):
        load_spec(spec, preset="smoke")


def test_bad_grid_value_is_positioned(tmp_path, in_repo):
    spec = tmp_path / "grid.toml"
    spec.write_text(f'extends = "{REPO}/specs/examples/nfw_detection.toml"\n'
                    '[grid]\n"model.architecture" = ["cnn", "resnet81"]\n')
    with pytest.raises(SpecError, match="unknown architecture 'resnet81'"):
        load_spec(spec)


def test_both_backends_render_the_deeplense_classes_alike(in_repo):
    """The same spec and seed give the same parameters and, to float32 precision, the same images
    with the torch and the lenstronomy renderer, for every class."""
    import numpy as np

    from lensbench.simulate.register import SIMULATION_KINDS

    images = {}
    for backend in ("torch", "lenstronomy"):
        spec = load_spec("specs/examples/deeplense_classes.toml", preset="smoke",
                         overrides=[f"simulation.backend={backend}"])[0]
        kind = SIMULATION_KINDS.get(spec.simulation_kind)
        rng = np.random.default_rng(7)
        images[backend] = {name: kind.simulate_batch(spec.simulation, spec.survey, name, 2, rng)
                           for name in spec.data.classes}
    for name in ("no_sub", "cdm", "vortex"):
        (a, pa), (b, pb) = images["torch"][name], images["lenstronomy"][name]
        assert pa.keys() == pb.keys() and all(np.array_equal(pa[k], pb[k], equal_nan=True) for k in pa)
        # noiseless images agree to ~1e-6 of the peak; with noise drawn from the same generator,
        # a Poisson draw can differ where float32 rounding changed its mean, in under 1 % of pixels
        assert np.max(np.abs(a - b)) <= 5e-3 * np.max(np.abs(b))
        assert np.mean(a != b) < 0.01


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(REPO)))
def test_resolved_spec_round_trips_through_toml(path):
    import tomllib

    from lensbench.spec.dump import dumps

    for preset in [None] + load_raw(path).presets:
        document = load_spec(path, preset=preset)[0].document
        assert tomllib.loads(dumps(document)) == document


def test_hash_covers_what_only_a_variant_changes(in_repo):
    path = "specs/papers/astrometric.toml"
    base = load_spec(path, preset="smoke")
    other = load_spec(path, preset="smoke", overrides=["grid.variants.C_vgg11.model.architecture=alexnet"])
    assert base[0].hash() != other[0].hash()
    assert len({s.hash() for s in base}) == 1
