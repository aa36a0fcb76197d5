"""The HEALPix face CNN: shapes, shared weights over faces, and its input checks."""

from __future__ import annotations

import pytest
import torch

from lensbench.models import build_model

NSIDE = 16


def test_logits_and_features_for_the_face_layout():
    model = build_model("healpix_cnn", in_channels=2, num_outputs=2, input_size=(12 * NSIDE, NSIDE), seed=0).eval()
    x = torch.randn(3, 2, 12 * NSIDE, NSIDE)
    assert model(x).shape == (3, 2)
    assert model.forward_features(x).shape == (3, model.embedding_dim)


def test_faces_share_weights_so_the_features_ignore_the_face_order():
    """Pooling over faces makes the features invariant to a permutation of the 12 faces."""
    model = build_model("healpix_cnn", in_channels=2, num_outputs=2, input_size=(12 * NSIDE, NSIDE), seed=1).eval()
    x = torch.randn(2, 2, 12, NSIDE, NSIDE)
    shuffled = x[:, :, torch.randperm(12, generator=torch.Generator().manual_seed(0))]
    with torch.no_grad():
        a = model.forward_features(x.reshape(2, 2, 12 * NSIDE, NSIDE))
        b = model.forward_features(shuffled.reshape(2, 2, 12 * NSIDE, NSIDE))
    torch.testing.assert_close(a, b)


def test_input_size_must_be_the_face_layout():
    with pytest.raises(ValueError, match="12 nside, nside"):
        build_model("healpix_cnn", in_channels=2, num_outputs=2, input_size=(64, 128))
    with pytest.raises(ValueError, match="too small"):
        build_model("healpix_cnn", in_channels=2, num_outputs=2, input_size=(24, 2))
    with pytest.raises(TypeError, match="unknown option"):
        build_model("healpix_cnn", in_channels=2, num_outputs=2, input_size=(12 * NSIDE, NSIDE), kernel=5)
