"""Each self-supervised loss against a small case computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from lensbench.ssl.byol import byol_loss
from lensbench.ssl.dino import dino_loss
from lensbench.ssl.simclr import nt_xent
from lensbench.ssl.simsiam import negative_cosine, simsiam_loss


def test_nt_xent_with_aligned_positives():
    # Views a0 = b0 = (1, 0), a1 = b1 = (0, 1), t = 1: each view has its positive at cosine 1 and
    # two others at cosine 0, so l = -log(e / (e + 2)) for all four views.
    eye = torch.eye(2)
    assert float(nt_xent(eye, eye.clone(), 1.0)) == pytest.approx(math.log((math.e + 2) / math.e), rel=1e-6)


def test_nt_xent_with_orthogonal_positives_and_a_temperature():
    # b0 = (0, 1), b1 = (1, 0): each positive at cosine 0, one negative at cosine 1, one at 0;
    # with t = 0.5: l = -log(1 / (1 + 1 + e^2)).
    z1, z2 = torch.eye(2), torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert float(nt_xent(z1, z2, 0.5)) == pytest.approx(math.log(2 + math.e**2), rel=1e-6)


def test_nt_xent_ignores_the_length_of_the_projections():
    z1, z2 = torch.tensor([[3.0, 4.0], [1.0, -2.0]]), torch.tensor([[0.3, 0.4], [5.0, -10.0]])
    assert float(nt_xent(z1, z2, 0.2)) == pytest.approx(float(nt_xent(z1 / 7, z2 * 2, 0.2)), rel=1e-6)


def test_byol_loss_is_two_minus_twice_the_cosine():
    assert float(byol_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]]))) == pytest.approx(2.0)
    assert float(byol_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 0.0]]))) == pytest.approx(2 - math.sqrt(2), rel=1e-6)
    # mean over the batch: (0 + 4) / 2
    assert float(byol_loss(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))) == pytest.approx(2.0)


def test_simsiam_loss_and_its_stop_gradient():
    p1, p2 = torch.tensor([[1.0, 0.0]], requires_grad=True), torch.tensor([[0.0, 1.0]])
    z1, z2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]], requires_grad=True)
    loss = simsiam_loss(p1, p2, z1, z2)
    assert loss.item() == pytest.approx(0.5 * -1.0 + 0.5 * 0.0)
    loss.backward()
    assert z2.grad is None or torch.all(z2.grad == 0)  # no gradient through the target
    assert float(negative_cosine(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]]))) == pytest.approx(-1 / math.sqrt(2))


def test_dino_loss_by_hand():
    # Two global views. Pair (teacher 0, student 1): teacher (0, 0) -> P_t = (1/2, 1/2); student
    # (tau_s log 3, 0) -> P_s = (3/4, 1/4); H = -(log 3/4 + log 1/4) / 2. Pair (teacher 1,
    # student 0): teacher (1, 0) at tau_t = 1 -> P_t = (e, 1) / (e + 1); student (0, 0) -> P_s =
    # (1/2, 1/2); H = log 2. The loss is the mean of the two pairs.
    tau_s = 0.1
    student = [torch.zeros(1, 2), torch.tensor([[tau_s * math.log(3.0), 0.0]])]
    teacher = [torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])]
    expected = (-(math.log(0.75) + math.log(0.25)) / 2 + math.log(2.0)) / 2
    assert float(dino_loss(student, teacher, torch.zeros(2), tau_s, 1.0)) == pytest.approx(expected, rel=1e-6)


def test_dino_centre_is_subtracted_before_sharpening():
    # Centre (1, 0) turns the teacher's (1, 0) into (0, 0): P_t = (1/2, 1/2) whatever tau_t.
    student = [torch.zeros(1, 2), torch.tensor([[0.1 * math.log(3.0), 0.0]])]
    teacher = [torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0]])]
    centred = dino_loss(student, teacher, torch.tensor([1.0, 0.0]), 0.1, 0.04)
    expected = (-(math.log(0.75) + math.log(0.25)) / 2 + math.log(2.0)) / 2
    assert float(centred) == pytest.approx(expected, rel=1e-6)


def test_dino_local_views_are_students_only():
    # A third (local) student view adds the pairs (t0, s2) and (t1, s2): four pairs in all.
    student = [torch.zeros(1, 2), torch.zeros(1, 2), torch.tensor([[0.1 * math.log(3.0), 0.0]])]
    teacher = [torch.zeros(1, 2), torch.zeros(1, 2)]
    local = -(math.log(0.75) + math.log(0.25)) / 2
    expected = (math.log(2.0) * 2 + local * 2) / 4
    assert float(dino_loss(student, teacher, torch.zeros(2), 0.1, 1.0)) == pytest.approx(expected, rel=1e-6)
