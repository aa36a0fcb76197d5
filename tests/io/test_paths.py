"""Spec text that becomes a folder name stays one safe path component inside its root."""

from __future__ import annotations

import pytest

from lensbench.io.paths import MAX_COMPONENT_BYTES, inside, safe_component

HOSTILE = ["..", ".", "../../../../tmp/evil", "/../tmp/evil", "/etc/passwd", "a\0b", "x" * 300,
           "é" * 200, "title=../../x", "C:\\Windows\\x", "", ".hidden", "a/b"]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_becomes_one_safe_component(text, tmp_path):
    name = safe_component(text)
    assert name and name not in (".", "..") and not name.startswith(".")
    assert "/" not in name and "\\" not in name and "\0" not in name
    assert len(name.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert inside(tmp_path, name).parent == tmp_path
    (tmp_path / name).mkdir()  # the file system accepts it


def test_names_are_readable_stable_and_distinct():
    assert safe_component("architecture=cnn,lr=0.001") == "architecture=cnn,lr=0.001"
    assert safe_component("a/b") == safe_component("a/b")
    assert safe_component("a/b") != safe_component("a_b") == "a_b"
    assert safe_component("x" * 300) != safe_component("x" * 301)


def test_inside_refuses_what_leaves_the_root(tmp_path):
    for part in ("..", "a/b", "", "a\0"):
        with pytest.raises(ValueError):
            inside(tmp_path, part)
    (tmp_path / "link").symlink_to("/tmp")
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path, "link")
