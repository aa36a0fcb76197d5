"""One normalisation (:func:`lensbench.io.preprocess.normaliser`) for training, evaluation and
apply: the training definitions kept bit for bit, and the preprocessing of real stamps using the
same ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lensbench.io.preprocess import Preprocessing, normaliser, prepare_batch
from lensbench.models import saved

#: The training definitions as they were written before they were shared with apply.
HISTORICAL = {"max": lambda x: x / x.abs().amax().clamp_min(1e-12),
              "standardize": lambda x: (x - x.mean()) / x.std().clamp_min(1e-12)}


@pytest.mark.parametrize("method", sorted(HISTORICAL))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_training_normalisation_is_unchanged_bit_for_bit(method, dtype):
    generator = torch.Generator().manual_seed(3)
    for shape in [(1, 64, 64), (3, 17, 23)]:
        image = torch.randn(shape, generator=generator, dtype=dtype) * 4.0 - 1.0
        assert torch.equal(normaliser(method)(image), HISTORICAL[method](image))
    zeros = torch.zeros(1, 8, 8, dtype=dtype)
    assert torch.equal(normaliser(method)(zeros), HISTORICAL[method](zeros))


def test_models_use_the_same_definition():
    assert saved.normaliser is normaliser
    assert normaliser("none") is None
    with pytest.raises(ValueError, match="unknown normalisation 'l2'; one of: minmax, max"):
        normaliser("l2")


@pytest.mark.parametrize("method", ["max", "standardize", "minmax", "sum"])
def test_preprocessing_normalises_with_the_shared_definition(method):
    """prepare_batch's normalisation is normaliser(method) of the resampled image, exactly; for
    'max' that is the largest absolute value, also for images with negative pixels."""
    images = np.random.default_rng(5).normal(0.2, 1.0, (3, 70, 70))
    resampled = prepare_batch(images, Preprocessing(normalisation="none"))
    prepared = prepare_batch(images, Preprocessing(normalisation=method))
    expected = torch.stack([normaliser(method)(image) for image in torch.from_numpy(resampled)])
    assert torch.equal(torch.from_numpy(prepared), expected)
    if method == "max":
        assert np.abs(prepared).max(axis=(1, 2, 3)) == pytest.approx(1.0)
    if method == "standardize":
        assert prepared.std(axis=(1, 2, 3), ddof=1) == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------------------------------------
# Bringing a stamp to the network size: native pixel scale (crop or pad) or resampling


def test_native_preparation_crops_larger_stamps_about_their_centre_without_interpolation():
    image = np.random.default_rng(0).normal(0.0, 1.0, (80, 80)).astype(np.float32)
    prepared = prepare_batch(image[None], Preprocessing(normalisation="none"))[0, 0]
    assert np.array_equal(prepared, image[8:72, 8:72])


def test_native_preparation_pads_smaller_stamps_with_noise_like_their_border():
    rng = np.random.default_rng(1)
    image = rng.normal(0.01, 0.005, (50, 50)).astype(np.float32)  # counts/s, COSMOS-like noise
    image[22:28, 22:28] += 1.0                                     # the galaxy
    prep = Preprocessing(normalisation="none")
    prepared = prepare_batch(image[None], prep)[0, 0]
    assert np.array_equal(prepared[7:57, 7:57], image)            # the stamp itself, untouched
    pad = np.concatenate([prepared[:7].ravel(), prepared[57:].ravel()])
    assert pad.mean() == pytest.approx(0.01, abs=5e-4)
    assert pad.std() == pytest.approx(0.005, rel=0.1)
    assert np.array_equal(prepared, prepare_batch(image[None], prep)[0, 0])  # deterministic


def test_resampling_is_kept_as_an_option_and_changes_the_pixel_scale():
    image = np.zeros((80, 80), np.float32)
    image[30:50, 30:50] = 1.0  # 20 px wide
    native = prepare_batch(image[None], Preprocessing(normalisation="none"))[0, 0]
    resampled = prepare_batch(image[None], Preprocessing(normalisation="none",
                                                         preparation="resample"))[0, 0]
    assert (native > 0.5).sum() == 400
    assert (resampled > 0.5).sum() == pytest.approx(400 * (64 / 80) ** 2, rel=0.1)


def test_zoom_magnifies_about_the_centre():
    image = np.zeros((64, 64), np.float32)
    image[22:42, 22:42] = 1.0
    zoomed = prepare_batch(image[None], Preprocessing(normalisation="none", zoom=1.1))[0, 0]
    rows = np.flatnonzero(zoomed[:, 32] > 0.5)
    assert rows.size == 22 and rows.mean() == pytest.approx(31.5, abs=0.6)


def test_unknown_preparation_and_bad_zoom_are_refused():
    with pytest.raises(ValueError, match="preparation 'warp' is not one of native, resample"):
        Preprocessing(preparation="warp")
    with pytest.raises(ValueError, match="zoom must be a positive factor"):
        Preprocessing(zoom=0.0)
