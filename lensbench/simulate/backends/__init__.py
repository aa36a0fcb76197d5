"""Interchangeable strong-lensing renderers: ``(scene, observation, *, compile) -> (n, npix, npix)`` images.

``RENDERERS.get("torch")`` is the batched torch renderer (float32, CPU, compiled by default);
``RENDERERS.get("lenstronomy")`` builds one lenstronomy ``ImageModel`` per system (the reference).
Both return float64 numpy arrays in counts/s per pixel.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from lensbench.registry import Registry
from lensbench.simulate.backends.lenstronomy_renderer import render_lenstronomy
from lensbench.simulate.backends.torch_renderer import render_torch

Renderer = Callable[..., np.ndarray]
"""``renderer(scene, observation, *, compile: bool) -> images``; ``compile`` is ``[execution] compile``."""

RENDERERS: Registry[Renderer] = Registry("renderer")
RENDERERS.register("torch")(render_torch)
RENDERERS.register("lenstronomy")(render_lenstronomy)

__all__ = ["RENDERERS", "Renderer", "render_lenstronomy", "render_torch"]
