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
