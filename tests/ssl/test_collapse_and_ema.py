"""The collapse monitor, the EMA update, probes and label subsets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lensbench.metrics import macro_auc
from lensbench.models import build_model
from lensbench.ssl.base import ema_update, frozen_copy
from lensbench.ssl.collapse import (
    COLLAPSED_BELOW,
    SpreadRecord,
    normalised_std,
    spread_ratio,
)
from lensbench.ssl.compare import difference, verdict
from lensbench.ssl.finetune import label_subset
from lensbench.ssl.probes import knn_probe, linear_probe


class ConstantEncoder(nn.Module):
    """Maps every image to the same embedding: complete collapse."""

    embedding_dim = 16

    def forward_features(self, x):
        return torch.ones(x.shape[0], self.embedding_dim)


def test_collapse_is_detected_on_a_constant_encoder():
    z = ConstantEncoder().forward_features(torch.zeros(32, 1, 8, 8))
    assert normalised_std(z) == 0.0 and spread_ratio(z) < COLLAPSED_BELOW


def test_spread_of_a_real_encoder_is_far_from_collapse():
    encoder = build_model("resnet18", in_channels=1, num_outputs=3, input_size=(32, 32), seed=0).eval()
    with torch.no_grad():
        z = encoder.forward_features(torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert spread_ratio(z) > COLLAPSED_BELOW


def test_isotropic_embeddings_have_ratio_one():
    z = torch.randn(20000, 32, generator=torch.Generator().manual_seed(0))
    assert spread_ratio(z) == pytest.approx(1.0, abs=0.02)  # std of a uniform point on S^(d-1): 1/sqrt(d)


def test_spread_record_accumulates_batches_like_one_batch():
    z = torch.randn(100, 8, generator=torch.Generator().manual_seed(1))
    record = SpreadRecord()
    for chunk in z.split(30):
        record.add(chunk)
    record.close_epoch()
    record.close_epoch()  # nothing added: no second value
    assert record.per_epoch == [pytest.approx(spread_ratio(z), rel=1e-9)]


def test_ema_update_by_hand():
    student, teacher = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        student.weight.fill_(3.0), student.bias.fill_(-1.0), teacher.weight.fill_(1.0), teacher.bias.fill_(1.0)
    ema_update(teacher, student, 0.75)
    assert teacher.weight.item() == pytest.approx(0.75 * 1 + 0.25 * 3)
    assert teacher.bias.item() == pytest.approx(0.75 * 1 - 0.25)
    ema_update(teacher, student, 1.0)  # momentum 1: frozen
    assert teacher.weight.item() == pytest.approx(1.5)


def test_frozen_copy_takes_no_gradient_and_copies_buffers():
    student = nn.BatchNorm1d(2)
    teacher = frozen_copy(student)
    assert not any(p.requires_grad for p in teacher.parameters())
    with torch.no_grad():
        student.running_mean.fill_(4.0)
    ema_update(teacher, student, 0.9)
    assert torch.equal(teacher.running_mean, student.running_mean)


def test_probes_separate_separable_embeddings():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    x = rng.normal(size=(120, 5)) + 6.0 * np.eye(5)[y]
    assert macro_auc(y, linear_probe(x, y, x, seed=0)) == pytest.approx(1.0)
    assert macro_auc(y, knn_probe(x, y, x, neighbours=5)) == pytest.approx(1.0)


def test_label_subset_is_stratified_and_seeded():
    labels = np.repeat(np.arange(3), 50)
    subset = label_subset(labels, 0.1, seed=4)
    assert np.bincount(labels[subset]).tolist() == [5, 5, 5]
    assert np.array_equal(subset, label_subset(labels, 0.1, seed=4))
    assert len(label_subset(labels, 0.001, seed=4)) == 3  # at least one per class
    assert np.array_equal(label_subset(labels, 1.0, seed=4), np.arange(150))


def test_difference_verdicts():
    clear = difference([0.95, 0.951, 0.949], [0.90, 0.901, 0.899])
    assert clear["resolved"] and verdict(clear) == "SSL better, beyond the seed spread"
    noisy = difference([0.95, 0.90, 0.99], [0.94, 0.92, 0.96])
    assert noisy["resolved"] is False and "within the seed spread" in verdict(noisy)
    assert difference([0.9], [0.8])["resolved"] is None
