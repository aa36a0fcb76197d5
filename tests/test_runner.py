"""The runner and a damaged cache: every bad entry is named, moved aside and recomputed, and the
run ends with the metrics of an untouched run (issue 15's reproducers)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lensbench.runner import run_spec

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[1]


def run(repo, cache, out, force=()):
    lines = []
    run_spec(repo / "specs/examples/nfw_detection.toml", preset="smoke", out=out, cache=cache, device="cpu",
             force=force, progress=False, echo=lines.append)
    return "\n".join(lines), json.loads((out / "metrics.json").read_text())["branches"]["main"]["metrics"]


@pytest.fixture(scope="module")
def untouched(tmp_path_factory, one_torch_thread):
    """A smoke run: its cache, report folder, output, metrics and its steps' cache folders by id."""
    root = tmp_path_factory.mktemp("runner")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LENSBENCH_NO_COMPILE", "1")
        output, metrics = run(REPO, root / "cache", root / "out")
    folders = {}
    for meta in (root / "cache").glob("*/*/*/meta.json"):
        folders[json.loads(meta.read_text())["step"]] = meta.parent.relative_to(root / "cache")
    return {"root": root, "metrics": metrics, "folders": folders, "repo": REPO}


def damaged_run(untouched, tmp_path, step, damage, force=()):
    """Copy the untouched cache, damage one entry of ``step``, run again; returns output and metrics."""
    cache = tmp_path / "cache"
    shutil.copytree(untouched["root"] / "cache", cache)
    damage(cache / untouched["folders"][step])
    output, metrics = run(untouched["repo"], cache, tmp_path / "out", force)
    return cache, output, metrics


def truncate(path, size):
    with open(path, "r+b") as stream:
        stream.truncate(size)


def zero_pixels(folder):
    images = np.load(folder / "images_00000.npy")
    np.save(folder / "images_00000.npy", np.zeros_like(images))


@pytest.mark.parametrize("step, damage, force, problem", [
    ("simulate:test", lambda f: truncate(f / "images_00000.npy", 5000), ("evaluate",),
     "images_00000.npy is 5000 bytes"),
    ("simulate:test", zero_pixels, ("evaluate",), "images_00000.npy has other content"),
    ("evaluate", lambda f: truncate(f / "meta.json", 40), (), "meta.json is not valid JSON"),
], ids=["truncated shard", "zeroed pixels", "truncated meta.json"])
def test_bad_entry_is_recomputed_to_the_untouched_metrics(untouched, tmp_path, step, damage, force, problem):
    cache, output, metrics = damaged_run(untouched, tmp_path, step, damage, force)
    key = untouched["folders"][step].name
    assert f"bad cache entry {untouched['folders'][step].parts[0]}/{key[:12]}: {problem}" in output
    assert metrics == untouched["metrics"]
    assert len(list((cache / "corrupt").glob(f"*/{key}.*"))) == 1


def test_truncated_model_is_retrained_not_linked_into_the_report(untouched, tmp_path):
    cache, output, metrics = damaged_run(untouched, tmp_path, "train", lambda f: truncate(f / "model.pt", 1000))
    assert "model.pt is 1000 bytes" in output and metrics == untouched["metrics"]
    good = (untouched["root"] / "out" / "model" / "model.pt").read_bytes()
    assert (tmp_path / "out" / "model" / "model.pt").read_bytes() == good
