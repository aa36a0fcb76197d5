"""Cache keys, committing entries, and claiming them: reuse when intact, else move aside and recompute."""

from __future__ import annotations

import json
import os

import pytest

from lensbench.cache import Cache, step_key
from lensbench.cache import store
from lensbench.io.atomic import write_atomic
from lensbench.simulate.priors import Prior

KEY = "ab" * 32


@pytest.fixture
def new_process(monkeypatch):
    """Forget which entries this process has hashed, as a new process would."""
    monkeypatch.setattr(store, "_HASHED", set())


def commit_entry(cache: Cache, files: dict[str, bytes], key: str = KEY, kind: str = "simulate") -> None:
    claim = cache.claim(kind, key)
    assert claim.path is None
    work = claim.begin()
    for name, content in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(content)
    claim.commit({"step": "simulate:test", "kind": kind, "key": key, "summary": {}})
    cache.release()


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


def test_key_changes_with_version_kind_inputs_and_environment():
    base = step_key("train", 1, {"a": 1}, ["x"])
    assert step_key("train", 2, {"a": 1}, ["x"]) != base
    assert step_key("evaluate", 1, {"a": 1}, ["x"]) != base
    assert step_key("train", 1, {"a": 1}, ["y"]) != base
    one, two = (step_key("train", 1, {"a": 1}, ["x"], {"torch_threads": n}) for n in (1, 2))
    assert len({base, one, two}) == 3


def test_commit_renames_partial_into_place_with_file_hashes(tmp_path):
    cache = Cache(tmp_path)
    commit_entry(cache, {"data.txt": b"x", "sub/more.bin": b"\0" * 10})
    final = cache.path("simulate", KEY)
    assert cache.has("simulate", KEY) and (final / "data.txt").read_text() == "x"
    assert not cache.partial("simulate", KEY).exists()
    meta = json.loads((final / "meta.json").read_text())
    assert meta["files"]["sub/more.bin"]["size"] == 10
    assert meta["files"]["data.txt"]["sha256"] == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    assert meta["created"].endswith("Z") and len(meta["checksum"]) == 64


def test_commit_drops_temporary_files_a_killed_write_left(tmp_path):
    cache = Cache(tmp_path)
    work = cache.begin("simulate", KEY)
    (work / ".images_00001.npy.0123456789abcdef.tmp").write_bytes(b"half")
    commit_entry(cache, {"data.txt": b"x"})
    assert sorted(p.name for p in cache.path("simulate", KEY).iterdir()) == ["data.txt", "meta.json"]


def test_claim_reuses_an_intact_entry_and_records_its_use(tmp_path, new_process):
    cache = Cache(tmp_path)
    commit_entry(cache, {"data.txt": b"x"})
    meta = cache.path("simulate", KEY) / "meta.json"
    os.utime(meta, (1e9, 1e9))
    claim = cache.claim("simulate", KEY)
    assert claim.path == cache.path("simulate", KEY) and claim.meta["step"] == "simulate:test"
    assert meta.stat().st_mtime > 1e9


@pytest.mark.parametrize("damage, reason", [
    (lambda f: (f / "data.txt").write_bytes(b"xy"), "data.txt is 2 bytes, 1 when written"),
    (lambda f: (f / "data.txt").write_bytes(b"y"), "data.txt has other content"),
    (lambda f: (f / "data.txt").unlink(), "data.txt is missing"),
    (lambda f: (f / "meta.json").write_text('{"step": "simu'), "meta.json is not valid JSON"),
])
def test_claim_moves_a_bad_entry_aside_and_says_why(tmp_path, new_process, damage, reason):
    cache = Cache(tmp_path)
    commit_entry(cache, {"data.txt": b"x"})
    damage(cache.path("simulate", KEY))
    store._HASHED.clear()
    told = []
    claim = cache.claim("simulate", KEY, notify=told.append)
    assert claim.path is None and not cache.path("simulate", KEY).exists()
    assert len(told) == 1 and reason in told[0] and f"simulate/{KEY[:12]}" in told[0]
    (moved,) = (tmp_path / "corrupt" / "simulate").iterdir()
    assert moved.name.startswith(KEY) and reason in (moved / "reason.txt").read_text()


def test_same_size_change_is_caught_on_first_use_in_a_process_only(tmp_path, new_process):
    cache = Cache(tmp_path)
    commit_entry(cache, {"data.txt": b"x"})
    (cache.path("simulate", KEY) / "data.txt").write_bytes(b"y")
    assert cache.lookup("simulate", KEY)[0] is not None  # hashed when committed in this process
    store._HASHED.clear()
    assert "other content" in cache.lookup("simulate", KEY)[1]


def test_an_entry_without_file_hashes_is_recomputed(tmp_path):
    cache = Cache(tmp_path)
    folder = cache.path("train", KEY)
    folder.mkdir(parents=True)
    write_atomic(folder / "meta.json", json.dumps({"step": "train", "summary": {}}))
    told = []
    assert cache.claim("train", KEY, notify=told.append).path is None
    assert "older lensbench" in told[0]


def test_force_removes_the_entry_and_partial_work(tmp_path):
    cache = Cache(tmp_path)
    commit_entry(cache, {"data.txt": b"x"})
    cache.begin("simulate", KEY)
    claim = cache.claim("simulate", KEY, force=True)
    assert claim.path is None and not cache.has("simulate", KEY) and not cache.partial("simulate", KEY).exists()
    cache.release()


def test_write_atomic_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "out.json"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert os.listdir(tmp_path) == ["out.json"]
