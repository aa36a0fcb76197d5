"""Tests of lensbench.training.objectives: the supervised losses, and a second objective trained by
fit with its own module, after-step hook and state, through an interruption."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lensbench.training import Objective, Supervised, TrainConfig, fit

CONFIG = TrainConfig(epochs=3, batch_size=16, lr=1e-2, seed=3)


def test_supervised_classify_is_cross_entropy_with_correct_count():
    outputs = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    targets = torch.tensor([0, 1, 1])
    loss, stats = Supervised("classify").loss(lambda images: images, [outputs, targets])
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(outputs, targets).item())
    assert stats == {"correct": 2}


def test_supervised_regress_is_mse_on_reshaped_targets():
    outputs = torch.tensor([[1.0], [2.0], [4.0]])
    loss, stats = Supervised("regress").loss(lambda images: images, [outputs, torch.tensor([1.0, 1.0, 1.0])])
    assert loss.item() == pytest.approx((0 + 1 + 9) / 3) and stats == {}


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="task must be one of: classify, regress; got 'segment'"):
        Supervised("segment")


class ProjectedCounting(Objective):
    """Cross-entropy through a projection head of its own; counts optimiser steps and records the
    targets of every training batch."""

    def __init__(self, head_seed: int = 0, monitor: str = "loss"):
        self.name, self.monitor = "projected-counting", monitor
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(head_seed)
            self.head = nn.Linear(2, 2)
        self.steps = 0
        self.batch_targets: list[list[int]] = []

    def loss(self, model, batch):
        images, targets = batch
        if self.head.training:
            self.batch_targets.append(targets.tolist())
        return nn.functional.cross_entropy(self.head(model(images)), targets), {"seen": len(targets)}

    def modules(self):
        return [self.head]

    def after_step(self, model):
        self.steps += 1

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def test_second_objective_trains_its_head_and_hooks_every_step(blobs, tiny_cnn):
    train, val = blobs(100, 0), blobs(40, 1)
    objective = ProjectedCounting()
    initial_head = objective.head.weight.detach().clone()
    history = fit(tiny_cnn(), train, val, CONFIG, objective=objective, progress=False)
    steps_per_epoch = -(-100 // 16)
    assert objective.steps == len(objective.batch_targets) == 3 * steps_per_epoch
    assert not torch.equal(objective.head.weight, initial_head)
    assert history.epochs_run == 3 and history.val_acc == []


def test_second_objective_resumes_with_its_state_and_head(tmp_path, blobs, tiny_cnn, state_bytes, failing_after):
    train, val = blobs(96, 0), blobs(32, 1)
    reference_model, reference = tiny_cnn(), ProjectedCounting()
    fit(reference_model, train, val, CONFIG, objective=reference, progress=False)

    crashing = failing_after(train, fail_at=2 * len(train) + 20)  # inside the third epoch
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_cnn(), crashing, val, CONFIG, objective=ProjectedCounting(), checkpoint_dir=tmp_path,
            progress=False)
    model, objective = tiny_cnn(seed=5), ProjectedCounting(head_seed=5)
    fit(model, train, val, CONFIG, objective=objective, checkpoint_dir=tmp_path, progress=False)
    assert objective.steps == reference.steps == 3 * (96 // 16)
    assert state_bytes(objective.head) == state_bytes(reference.head)
    assert state_bytes(model) == state_bytes(reference_model)


def test_seed_sets_the_batch_order(blobs, tiny_cnn):
    train, val = blobs(64, 0), blobs(16, 1)
    orders = []
    for seed in (1, 1, 2):
        objective = ProjectedCounting()
        fit(tiny_cnn(), train, val, TrainConfig(epochs=1, batch_size=16, seed=seed), objective=objective,
            progress=False)
        orders.append(objective.batch_targets)
    assert orders[0] == orders[1] != orders[2]


def test_a_monitor_the_loss_does_not_report_is_named(blobs, tiny_cnn):
    with pytest.raises(ValueError, match="monitors 'agreement', which its loss does not report"):
        fit(tiny_cnn(), blobs(16, 0), blobs(8, 1), CONFIG, objective=ProjectedCounting(monitor="agreement"),
            progress=False)
