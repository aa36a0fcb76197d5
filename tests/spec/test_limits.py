"""Specs too large, too deep or with hostile strings are positioned errors, never tracebacks;
every spec string that reaches a path stays inside the report folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.errors import SpecError
from lensbench.spec import load_raw, load_spec
from lensbench.spec.load import MAX_NESTING, MAX_SPEC_BYTES

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "specs" / "examples" / "nfw_detection.toml"


def issues_of(path, **kwargs) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(path, **kwargs)
    return [str(issue) for issue in info.value.issues]


def test_a_spec_over_the_size_limit_is_refused_unread(tmp_path):
    spec = tmp_path / "big.toml"
    spec.write_text("# padding\n" * (MAX_SPEC_BYTES // 10 + 1))
    base = tmp_path / "top.toml"
    base.write_text(f'# a comment\nextends = "{spec.name}"\n')
    assert issues_of(base) == [f"{issues_of(base)[0].split(':')[0]}:2: extends: {spec} is larger than "
                               f"{MAX_SPEC_BYTES} bytes, too large for a spec"]


def test_nesting_limits_cover_arrays_tables_and_dotted_keys(tmp_path):
    spec = tmp_path / "deep.toml"
    spec.write_text("ok = [[1]]\n[" + ".".join(["a"] * (MAX_NESTING + 5)) + "]\nx = 1\n")
    assert issues_of(spec)[0].endswith(f"tables nested deeper than {MAX_NESTING} levels")
    spec.write_text('s = "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["  # strings do not count\n'
                    + "x = " + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1) + "\n")
    assert issues_of(spec) == [f"{issues_of(spec)[0].split(':')[0]}:2: arrays or inline tables nested deeper "
                               f"than {MAX_NESTING} levels"]


def test_a_nan_in_model_options_is_refused(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(f'extends = "{BASE}"\n[model]\noptions = {{ kernel_size = 3, dropout = nan }}\n')
    assert issues_of(spec) == [f"{issues_of(spec)[0].split(':')[0]}:3: model.options.dropout: value must be a finite number"]


def test_errors_of_every_preset_come_in_one_report(in_repo):
    result = CliRunner().invoke(app, ["validate", "tests/specs/bad/several_presets.toml"])
    assert result.exit_code == 2 and "2 problem(s) found" in result.output


def test_hostile_names_never_leave_the_report_folder(tmp_path, in_repo):
    """A grid over report.title with ``..`` and with an absolute path holding NUL and 300 more
    bytes, crossed with a variant named "/../tmp/...": every file the run writes lies under --out."""
    escape = f"lensbench-escape-{tmp_path.name}"
    spec = tmp_path / "evil.toml"
    spec.write_text(
        f'extends = "{BASE}"\n'
        f'[grid]\n"report.title" = ["../../../../../../tmp/{escape}", "/tmp/{escape}-abs\\u0000{"y" * 300}"]\n'
        f'[grid.variants."/../tmp/{escape}-variant"]\n"report.examples_per_class" = 1\n')
    out, cache = tmp_path / "deep" / "er" / "out", tmp_path / "cache"
    result = CliRunner().invoke(app, ["run", str(spec), "--preset", "smoke", "--out", str(out), "--cache", str(cache),
                                      "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert not list(Path("/tmp").glob(f"{escape}*")) and not list(tmp_path.glob(f"**/{escape}*/"))
    models = sorted(p.name for p in (out / "models").iterdir())
    assert len(models) == 2 and all(len(name) <= 120 and "/" not in name for name in models)
    assert all((out / "models" / name / "model.pt").is_file() for name in models)
    assert load_raw(spec).presets == ["quick", "smoke"]
