"""File manifests in meta.json, and what counts as a damaged entry."""

from __future__ import annotations

import json

from lensbench.cache.integrity import entry_problem, file_manifest, read_meta, sealed_meta
from lensbench.io.atomic import write_json


def sealed_folder(tmp_path):
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "a.npy").write_bytes(b"\1" * 100)
    write_json(folder / "meta.json", sealed_meta({"step": "train", "wall_time_s": 1.5, "summary": {"x": float("nan")}},
                                                 folder))
    return folder


def test_manifest_lists_every_file_but_meta_json(tmp_path):
    folder = sealed_folder(tmp_path)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text("b")
    assert sorted(file_manifest(folder)) == ["a.npy", "sub/b.txt"]


def test_intact_entry_has_no_problem_even_with_nan_in_its_summary(tmp_path):
    folder = sealed_folder(tmp_path)
    assert entry_problem(folder, full=True) is None
    assert read_meta(folder)[0]["wall_time_s"] == 1.5


def test_edited_meta_json_is_caught_by_its_checksum(tmp_path):
    folder = sealed_folder(tmp_path)
    meta = json.loads((folder / "meta.json").read_text())
    meta["wall_time_s"] = 2.0
    (folder / "meta.json").write_text(json.dumps(meta))
    assert "checksum" in entry_problem(folder, full=False)


def test_zeroed_bytes_of_the_same_size_need_the_full_check(tmp_path):
    folder = sealed_folder(tmp_path)
    (folder / "a.npy").write_bytes(b"\0" * 100)
    assert entry_problem(folder, full=False) is None
    assert "a.npy has other content" in entry_problem(folder, full=True)


def test_unreadable_meta_json_is_a_problem_not_an_exception(tmp_path):
    folder = sealed_folder(tmp_path)
    (folder / "meta.json").write_bytes(b"\xff\xfe[")
    assert "not valid JSON" in entry_problem(folder, full=True)
    (folder / "meta.json").write_text("[1, 2]")
    assert "not a JSON object" in entry_problem(folder, full=True)
    (folder / "meta.json").unlink()
    assert entry_problem(folder, full=True) == "meta.json is missing"
