"""Interchangeable strong-lensing renderers: ``(scene, observation, *, compile) -> (n, npix, npix)`` images.

``RENDERERS.get("torch")`` is the batched torch renderer (float32, CPU, compiled by default);
``RENDERERS.get("lenstronomy")`` builds one lenstronomy ``ImageModel`` per system (the reference).
Both return float64 numpy arrays in counts/s per pixel.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lensbench.registry import Registry

Renderer = Callable[..., np.ndarray]
"""``renderer(scene, observation, *, compile: bool) -> images``; ``compile`` is ``[execution] compile``."""

RENDERERS: Registry[Renderer] = Registry("renderer")
# Imported at first use (torch, lenstronomy): validating a spec only checks the names.
RENDERERS.register_lazy("torch", "lensbench.simulate.backends.torch_renderer:render_torch")
RENDERERS.register_lazy("lenstronomy", "lensbench.simulate.backends.lenstronomy_renderer:render_lenstronomy")

_BY_FUNCTION = {"render_torch": "torch", "render_lenstronomy": "lenstronomy"}


def __getattr__(name: str):
    """``render_torch`` and ``render_lenstronomy``, imported at first access."""
    if name in _BY_FUNCTION:
        return RENDERERS.get(_BY_FUNCTION[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["RENDERERS", "Renderer", "render_lenstronomy", "render_torch"]
