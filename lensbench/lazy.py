"""Modules imported on first use, so that commands that never need them start fast.

``lensbench validate`` and ``lensbench list`` read registries and dataclasses from modules whose
heavy dependencies (healpy, which imports matplotlib and astropy; scipy.stats; scikit-learn) only
their functions use. Such a module holds ``hp = lazy_module("healpy")`` instead of
``import healpy as hp``: the name is bound at once, the module is imported at the first attribute
access.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType


class LazyModule:
    """Stands for module ``name`` and imports it at the first attribute access.

    Unlike :class:`importlib.util.LazyLoader`, nothing is imported or put in ``sys.modules``
    before then, not even the parent package of a submodule (``sklearn`` of ``sklearn.metrics``,
    which is itself slow to import).
    """

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str) -> ModuleType | LazyModule:
    """Module ``name``: itself when it is already imported, else a :class:`LazyModule`.

    Raises ``ModuleNotFoundError`` at once when its top-level package is not installed, as
    ``import`` would.
    """
    if name in sys.modules:
        return sys.modules[name]
    top = name.partition(".")[0]
    if top not in sys.modules and importlib.util.find_spec(top) is None:
        raise ModuleNotFoundError(f"No module named {top!r}", name=top)
    return LazyModule(name)
