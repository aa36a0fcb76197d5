"""Rendering lenses in buckets of similar subhalo counts.

A batch's subhalo plane is padded to its largest count; Brehmer+19's populations span 0 to
thousands of subhalos per lens, so one padded batch costs the largest count for every lens.
Grouping lenses by the power of four at or above their own count and cutting each group's plane
to that width costs at most 4x each lens's own count, with few distinct widths (16, 64, 256,
1024, 4096) for a compiled renderer. Padded entries sit after a lens's subhalos and are masked,
so cutting them changes nothing rendered.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lensbench.simulate.scene import Scene, Subhalos

SMALLEST_BUCKET = 16
"""Narrowest subhalo width a lens is rendered at (:func:`count_buckets`)."""


def count_buckets(scene: Scene) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """Lenses grouped by the power of four at or above their own subhalo count in each plane
    (at least :data:`SMALLEST_BUCKET`, at most the plane's width): (indices, width per plane) per
    group. Rendering each group at its width costs at most 4x the lenses' own counts, not the
    batch's largest (Brehmer+19's counts span 0 to thousands per lens: 4x faster on the proposal);
    powers of four keep a compiled renderer's shapes few (16, 64, 256, 1024, 4096)."""
    if not scene.subhalos:
        return [(np.arange(scene.n), ())]
    widths = np.stack([_bucket_width(plane.mask.sum(axis=1), plane.max_count) for plane in scene.subhalos], axis=1)
    keys, inverse = np.unique(widths, axis=0, return_inverse=True)
    return [(np.flatnonzero(inverse.ravel() == k), tuple(int(w) for w in key)) for k, key in enumerate(keys)]


def _bucket_width(counts: np.ndarray, most: int) -> np.ndarray:
    """The smallest of 16, 64, 256, ... at or above each count, never above ``most``."""
    levels = SMALLEST_BUCKET * 4 ** np.arange(16, dtype=np.int64)
    return np.minimum(levels[np.searchsorted(levels, counts)], most)


def trimmed(scene: Scene, widths: tuple[int, ...]) -> Scene:
    """``scene`` with each subhalo plane cut to ``widths`` columns (its padded columns beyond the
    lenses' counts are masked out, so nothing rendered changes)."""
    planes = []
    for plane, width in zip(scene.subhalos, widths):
        if plane.mask[:, width:].any():
            raise ValueError(f"cannot trim a subhalo plane to {width} columns: a subhalo lies beyond them")
        planes.append(Subhalos(plane.profile, {k: v[:, :width] for k, v in plane.params.items()}, plane.mask[:, :width]))
    return dataclasses.replace(scene, subhalos=tuple(planes))
