"""Reading specs: line index, extends, presets, --set."""

from __future__ import annotations

import pytest

from lensbench.errors import SpecError
from lensbench.spec.load import index_lines, load_raw, parse_override


def test_index_lines_tables_keys_and_inline_tables():
    text = """
# comment
[experiment]
name = "x"   # trailing
seed = 1

[simulation.priors]
gamma = { dist = "lognormal", mu = 0.7, sigma = 0.1 }
"quoted.key" = 3
list = [
  1, 2,
]
after = 4
"""
    index = index_lines(text)
    assert index["experiment"] == 3
    assert index["experiment.name"] == 4
    assert index["experiment.seed"] == 5
    assert index["simulation.priors.gamma"] == 8
    assert index["simulation.priors.quoted.key"] == 9
    assert index["simulation.priors.list"] == 10
    assert index["simulation.priors.after"] == 13


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_extends_merges_and_keeps_origins(tmp_path):
    write(tmp_path, "base.toml", "[training]\nepochs = 5\nlr = 0.1\n")
    child = write(tmp_path, "child.toml", 'extends = "base.toml"\n[training]\nepochs = 7\n')
    raw = load_raw(child)
    assert raw.data["training"] == {"epochs": 7, "lr": 0.1}
    assert raw.origin("training.epochs").file.endswith("child.toml")
    assert raw.origin("training.epochs").line == 3
    assert raw.origin("training.lr").file.endswith("base.toml")
    assert raw.origin("training.lr").line == 3


def test_circular_extends_is_reported(tmp_path):
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(SpecError, match="circular extends"):
        load_raw(tmp_path / "a.toml")


def test_preset_then_overrides_win(tmp_path):
    path = write(tmp_path, "s.toml", """
[training]
epochs = 50
lr = 0.1
[presets.quick]
"training.epochs" = 3
[presets.smoke.training]
epochs = 1
""")
    assert load_raw(path, preset="quick").data["training"]["epochs"] == 3
    assert load_raw(path, preset="smoke").data["training"]["epochs"] == 1
    raw = load_raw(path, preset="quick", overrides=["training.epochs=9", "training.lr=1e-3"])
    assert raw.data["training"] == {"epochs": 9, "lr": 1e-3}
    assert raw.origin("training.epochs").file == "<command line>"
    assert raw.presets == ["quick", "smoke"]


def test_unknown_preset_lists_known_ones(tmp_path):
    path = write(tmp_path, "s.toml", "[presets.quick]\n")
    with pytest.raises(SpecError, match="unknown preset 'fast'; one of: quick"):
        load_raw(path, preset="fast")


def test_toml_syntax_error_has_line(tmp_path):
    path = write(tmp_path, "s.toml", "[training]\nepochs = = 3\n")
    with pytest.raises(SpecError) as info:
        load_raw(path)
    assert info.value.issues[0].line == 2
    assert "TOML syntax error" in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("a.b=3", ("a.b", 3)),
    ("a=1e-3", ("a", 1e-3)),
    ("a=true", ("a", True)),
    ('a="x y"', ("a", "x y")),
    ("a=[1, 2]", ("a", [1, 2])),
    ("model.architecture=resnet18", ("model.architecture", "resnet18")),
])
def test_parse_override(text, expected):
    assert parse_override(text) == expected


def test_parse_override_rejects_missing_equals():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_override("training.epochs")


def test_preset_replaces_a_prior_whole(tmp_path):
    path = write(tmp_path, "s.toml", """
[simulation.priors]
x = { dist = "uniform", low = 0.0, high = 1.0 }
[presets.quick.simulation.priors]
x = { dist = "normal", mu = 0.0, sigma = 1.0 }
""")
    assert load_raw(path, preset="quick").data["simulation"]["priors"]["x"] == {"dist": "normal", "mu": 0.0,
                                                                                "sigma": 1.0}
