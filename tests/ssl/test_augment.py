"""Augmentations keep shape and dtype, are reproducible from the seed, and do what they say."""

from __future__ import annotations

import pytest
import torch

from lensbench.ssl.augment import (
    AUGMENTATIONS,
    augment,
    flip,
    local_crops,
    rotate,
    rotate90,
)


def _batch(n=6, size=16, dtype=torch.float32):
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(5), dtype=dtype)


@pytest.mark.parametrize("name", AUGMENTATIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_reproducibility(name, dtype):
    images = _batch(dtype=dtype)
    first = augment(images, [name], torch.Generator().manual_seed(3))
    again = augment(images, [name], torch.Generator().manual_seed(3))
    other = augment(images, [name], torch.Generator().manual_seed(4))
    assert first.shape == images.shape and first.dtype == dtype
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_rotate90_and_flip_permute_pixels_exactly():
    images = _batch(n=32)
    for function in (rotate90, flip):
        out = function(images, torch.Generator().manual_seed(0))
        assert torch.equal(out.flatten(1).sort(dim=1).values, images.flatten(1).sort(dim=1).values)
    turned = rotate90(images, torch.Generator().manual_seed(0))
    candidates = torch.stack([torch.rot90(images, k, dims=(-2, -1)) for k in range(4)])  # (4, N, 1, H, W)
    matches = (candidates == turned).flatten(2).all(dim=2)                              # (4, N)
    assert bool(matches.any(dim=0).all()) and bool(matches[1:].any())


def test_rotate_keeps_a_centred_ring():
    # An annulus of radius 8 px and width 2.5 px (an Einstein ring) is the same after any rotation
    # about the image centre, up to bilinear interpolation (~ (1/2 px)^2 / 8 / width^2 of the peak).
    size = 32
    y, x = torch.meshgrid(torch.arange(size) - 15.5, torch.arange(size) - 15.5, indexing="ij")
    ring = torch.exp(-((torch.sqrt(x**2 + y**2) - 8.0) ** 2) / (2 * 2.5**2))[None, None].repeat(8, 1, 1, 1)
    out = rotate(ring, torch.Generator().manual_seed(1))
    assert float((out - ring).abs().max()) < 0.03
    assert float(out.sum()) == pytest.approx(float(ring.sum()), rel=1e-2)


def test_noise_has_the_requested_level():
    images = torch.zeros(64, 1, 32, 32)
    out = augment(images, ["noise"], torch.Generator().manual_seed(0), noise_sigma=0.2)
    assert float(out.std()) == pytest.approx(0.2, rel=0.02)


def test_local_crops_are_unresized_windows():
    size, crop = 16, 6
    ramp = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size).repeat(5, 1, 1, 1)
    out = local_crops(ramp, torch.Generator().manual_seed(2), crop)
    assert out.shape == (5, 1, crop, crop)
    for window in out:  # the window's corner value gives its position; the rest must match the slice
        top, left = divmod(int(window[0, 0, 0]), size)
        assert torch.equal(window, ramp[0, :, top:top + crop, left:left + crop])
    with pytest.raises(ValueError, match="crop size"):
        local_crops(ramp, torch.Generator(), size + 1)


def test_unknown_augmentation_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation 'zoom'"):
        augment(_batch(), ["zoom"], torch.Generator())
