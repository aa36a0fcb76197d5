"""Rendering lenses in buckets of similar subhalo counts.

A batch's subhalo plane is padded to its largest count; Brehmer+19's populations span 0 to
thousands of subhalos per lens, so one padded batch costs the largest count for every lens.
Grouping lenses by the width at or above their own count, on a ladder that grows by sqrt(2)
(16, 24, 32, 48, 64, 96, 128, 184, 256, ...; multiples of 8), and cutting each group's plane to that
width costs at most ~1.41x each lens's own count (~1.2x on average over the proposal), not the
batch's largest. The compiled torch renderer takes the width as a dynamic size, so many widths
share one compiled function. Padded entries sit after a lens's subhalos and are masked, so cutting
them changes nothing rendered.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lensbench.simulate.scene import Scene, Subhalos

SMALLEST_BUCKET = 16
"""Narrowest subhalo width a lens is rendered at (:func:`count_buckets`)."""


def count_buckets(scene: Scene) -> list[tuple[np.ndarray, tuple[int, ...]]]:
    """Lenses grouped by the ladder width (:func:`_bucket_width`) at or above their own subhalo
    count in each plane (at least :data:`SMALLEST_BUCKET`, at most the plane's width): (indices,
    width per plane) per group. Rendering each group at its width costs at most ~1.41x the lenses'
    own counts, not the batch's largest (Brehmer+19's counts span 0 to thousands per lens)."""
    if not scene.subhalos:
        return [(np.arange(scene.n), ())]
    widths = np.stack([_bucket_width(plane.mask.sum(axis=1), plane.max_count) for plane in scene.subhalos], axis=1)
    keys, inverse = np.unique(widths, axis=0, return_inverse=True)
    return [(np.flatnonzero(inverse.ravel() == k), tuple(int(w) for w in key)) for k, key in enumerate(keys)]


def bucket_ladder(most: int) -> np.ndarray:
    """The widths 16 x sqrt(2)^k rounded up to multiples of 8, up to the first at or above ``most``."""
    powers = SMALLEST_BUCKET * 2 ** np.arange(32, dtype=np.int64)
    between = np.ceil(powers * np.sqrt(2.0) / 8).astype(np.int64) * 8
    levels = np.stack([powers, between], axis=1).ravel()
    return levels[: np.searchsorted(levels, most) + 1]


def _bucket_width(counts: np.ndarray, most: int) -> np.ndarray:
    """The smallest ladder width at or above each count, never above ``most``."""
    levels = bucket_ladder(max(int(np.max(counts, initial=0)), SMALLEST_BUCKET))
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
