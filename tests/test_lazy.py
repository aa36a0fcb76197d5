"""lazy_module: bound at once, imported at the first attribute access."""

from __future__ import annotations

import sys

import pytest

from lensbench.lazy import lazy_module


def test_module_is_imported_at_first_attribute_access(tmp_path, monkeypatch):
    package = tmp_path / "w3_lazy_probe"
    package.mkdir()
    (package / "__init__.py").write_text("import pathlib\npathlib.Path(__file__).parent.joinpath('ran').touch()\n")
    (package / "sub.py").write_text("VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("w3_lazy_probe", "w3_lazy_probe.sub"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    module = lazy_module("w3_lazy_probe.sub")
    assert not (package / "ran").exists() and "w3_lazy_probe" not in sys.modules  # not even the package
    assert module.VALUE == 42 and (package / "ran").exists()
    assert lazy_module("w3_lazy_probe.sub") is sys.modules["w3_lazy_probe.sub"]
    for name in ("w3_lazy_probe", "w3_lazy_probe.sub"):
        monkeypatch.delitem(sys.modules, name)


def test_missing_module_fails_at_once():
    with pytest.raises(ModuleNotFoundError, match="no_such_module_w3"):
        lazy_module("no_such_module_w3.sub")
