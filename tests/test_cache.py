"""Cache keys and atomic writes."""

from __future__ import annotations

import os

import pytest

from lensbench.cache import Cache, step_key
from lensbench.io.atomic import write_atomic
from lensbench.simulate.priors import Prior


def test_key_does_not_depend_on_dict_order():
    a = {"lr": 1e-3, "epochs": 3, "priors": {"x": Prior("uniform", low=0, high=1), "y": Prior("fixed", value=2)}}
    b = {"priors": {"y": Prior("fixed", value=2), "x": Prior("uniform", low=0, high=1)}, "epochs": 3, "lr": 1e-3}
    assert step_key("train", 1, a, ["k1"]) == step_key("train", 1, b, ["k1"])


@pytest.mark.parametrize("change", [
    lambda c: c.update(epochs=4),
    lambda c: c["priors"].update(x=Prior("uniform", low=0, high=2)),
])
def test_key_changes_with_any_value(change):
    config = {"epochs": 3, "priors": {"x": Prior("uniform", low=0, high=1)}}
    before = step_key("train", 1, config, [])
    change(config)
    assert step_key("train", 1, config, []) != before


def test_key_changes_with_version_kind_and_inputs():
    base = step_key("train", 1, {"a": 1}, ["x"])
    assert step_key("train", 2, {"a": 1}, ["x"]) != base
    assert step_key("evaluate", 1, {"a": 1}, ["x"]) != base
    assert step_key("train", 1, {"a": 1}, ["y"]) != base


def test_commit_renames_partial_into_place(tmp_path):
    cache = Cache(tmp_path)
    work = cache.begin("simulate", "ab" * 32)
    (work / "data.txt").write_text("x")
    assert not cache.has("simulate", "ab" * 32)
    final = cache.commit("simulate", "ab" * 32, {"n": 1})
    assert cache.has("simulate", "ab" * 32) and (final / "data.txt").read_text() == "x"
    assert not cache.partial("simulate", "ab" * 32).exists()


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["out.json"]
