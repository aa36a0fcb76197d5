"""Tests of lensbench.train: learning, early stopping, schedulers, checkpoints and determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts
from torch.utils.data import Dataset, TensorDataset

from lensbench.models import build_model
from lensbench.train import CosineAnnealingWarmupRestarts, History, fit, predict

SIDE = 8


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tiny models train ~10x faster on one thread on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _blobs(n: int, seed: int, flip: bool = False) -> TensorDataset:
    """1x8x8 images: class 1 has mean +0.5, class 0 mean -0.5, unit Gaussian noise per pixel."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    images = rng.normal(size=(n, 1, SIDE, SIDE)) + (labels[:, None, None, None] - 0.5)
    targets = 1 - labels if flip else labels
    return TensorDataset(torch.from_numpy(images).float(), torch.from_numpy(targets).long())


def _tiny_cnn(seed: int = 0, num_outputs: int = 2, dropout: float = 0.5):
    return build_model("cnn", in_channels=1, num_outputs=num_outputs, input_size=(SIDE, SIDE), seed=seed,
                       channels=(4, 8, 8), hidden=16, dropout=dropout)


class FailingAfter(Dataset):
    """Wraps a dataset and raises on its ``fail_at``-th item access, as a crash would."""

    def __init__(self, dataset: Dataset, fail_at: int):
        self.dataset, self.fail_at, self.calls = dataset, fail_at, 0

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyboardInterrupt("simulated interruption")
        return self.dataset[index]


COMMON = dict(epochs=4, batch_size=16, lr=1e-2, progress=False, seed=3)


def _state_bytes(model) -> list[bytes]:
    return [value.numpy().tobytes() for value in model.state_dict().values()]


def test_separable_problem_is_learned_and_predict_gives_probabilities():
    train, val = _blobs(256, 0), _blobs(128, 1)
    model = _tiny_cnn()
    history = fit(model, train, val, **COMMON)
    assert history.epochs_run == 4 and len(history.val_acc) == 4
    assert history.val_acc[history.best_epoch] > 0.9
    assert history.val_loss[-1] < history.val_loss[0] or history.best_epoch > 0
    probabilities = predict(model, val, batch_size=50)
    assert probabilities.shape == (128, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    labels = val.tensors[1].numpy()
    assert np.mean(probabilities.argmax(axis=1) == labels) == pytest.approx(history.val_acc[history.best_epoch])


def test_regression_learns_image_mean():
    rng = np.random.default_rng(5)
    images = rng.normal(size=(256, 1, SIDE, SIDE)) + rng.uniform(-1, 1, size=(256, 1, 1, 1))
    targets = images.mean(axis=(1, 2, 3))[:, None]
    data = TensorDataset(torch.from_numpy(images).float(), torch.from_numpy(targets).float())
    train, val = torch.utils.data.random_split(data, [192, 64], generator=torch.Generator().manual_seed(0))
    model = _tiny_cnn(num_outputs=1, dropout=0.0)
    history = fit(model, train, val, task="regress", **COMMON)
    assert history.train_acc == [] and history.val_acc == []
    assert min(history.val_loss) < 0.5 * float(np.var(targets))
    outputs = predict(model, val, batch_size=32, task="regress")
    assert outputs.shape == (64, 1)


def test_early_stopping_keeps_best_weights():
    """Validation labels are the training labels flipped: validation loss only worsens after epoch 1."""
    train, val = _blobs(256, 0), _blobs(128, 1, flip=True)
    model = _tiny_cnn()
    history = fit(model, train, val, **{**COMMON, "epochs": 30}, early_stopping_patience=2)
    assert history.stopped_early
    assert history.epochs_run == history.best_epoch + 3
    first_epoch_only = _tiny_cnn()
    fit(first_epoch_only, train, val, **{**COMMON, "epochs": history.best_epoch + 1})
    assert _state_bytes(model) == _state_bytes(first_epoch_only)


def test_plateau_divides_lr_by_ten():
    train, val = _blobs(256, 0), _blobs(128, 1, flip=True)
    history = fit(_tiny_cnn(), train, val, **{**COMMON, "epochs": 5}, scheduler="plateau", plateau_patience=1)
    assert history.best_epoch == 0
    # epochs 1 and 2 do not improve; torch's patience 1 reduces after the second of them
    assert history.lr == pytest.approx([1e-2, 1e-2, 1e-2, 1e-3, 1e-3])


def test_warmup_restarts_without_warmup_match_torch():
    def lrs(make, steps=30):
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
        scheduler = make(optimizer)
        values = []
        for _ in range(steps):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        return values

    ours = lrs(lambda o: CosineAnnealingWarmupRestarts(o, T_0=3, T_mult=2, eta_min=0.01))
    reference = lrs(lambda o: CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01))
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_warmup_restarts_hand_values():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = CosineAnnealingWarmupRestarts(optimizer, T_0=4, warmup=2, gamma=0.5)
    values = []
    for _ in range(8):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # cycle 0: warm-up 1/3, 2/3, then cosine from the peak 1 over two steps; cycle 1: peak 1/2
    expected = [1 / 3, 2 / 3, 1.0, 0.5 * (1 + math.cos(math.pi / 2)), 1 / 6, 1 / 3, 0.5, 0.25]
    np.testing.assert_allclose(values, expected, atol=1e-12)
    with pytest.raises(ValueError, match="warmup"):
        CosineAnnealingWarmupRestarts(optimizer, T_0=2, warmup=2)


RESUME = dict(COMMON, scheduler="cosine_warmup_restarts", t_0=2, warmup_epochs=1, cycle_gamma=0.5)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    train, val = _blobs(128, 0), _blobs(64, 1)
    reference = _tiny_cnn()
    reference_history = fit(reference, train, val, **RESUME)

    crashing = FailingAfter(train, fail_at=2 * len(train) + 40)  # inside the third epoch
    with pytest.raises(KeyboardInterrupt):
        fit(_tiny_cnn(), crashing, val, **RESUME, checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert History.from_dict(saved["history"]).epochs_run == 2

    resumed = _tiny_cnn(seed=99)  # the initial weights must not matter once last.pt exists
    history = fit(resumed, train, val, **RESUME, checkpoint_dir=tmp_path)
    assert history.to_dict() | {"epoch_seconds": None} == reference_history.to_dict() | {"epoch_seconds": None}
    assert _state_bytes(resumed) == _state_bytes(reference)


def test_checkpoints_load_with_weights_only(tmp_path):
    train, val = _blobs(64, 0), _blobs(32, 1)
    model = _tiny_cnn()
    fit(model, train, val, **{**COMMON, "epochs": 2}, checkpoint_dir=tmp_path, optimizer="sgd",
        scheduler="plateau")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(last) >= {"model", "optimizer", "scheduler", "history"}
    fresh = _tiny_cnn(seed=7)
    fresh.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    assert _state_bytes(fresh) == _state_bytes(model)


def test_resume_refuses_other_settings(tmp_path):
    train, val = _blobs(64, 0), _blobs(32, 1)
    fit(_tiny_cnn(), train, val, **{**COMMON, "epochs": 1}, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="lr: 0.01 -> 0.001"):
        fit(_tiny_cnn(), train, val, **{**COMMON, "epochs": 2, "lr": 1e-3}, checkpoint_dir=tmp_path)


def test_same_seed_same_bytes_and_global_rng_untouched():
    train, val = _blobs(64, 0), _blobs(32, 1)
    runs = []
    for seed in (3, 3, 4):
        model = _tiny_cnn()
        torch.manual_seed(1234)
        fit(model, train, val, **{**COMMON, "epochs": 2, "seed": seed})
        runs.append((_state_bytes(model), torch.rand(1).item()))
    assert runs[0][0] == runs[1][0]
    assert runs[0][0] != runs[2][0]
    torch.manual_seed(1234)
    assert runs[0][1] == runs[2][1] == torch.rand(1).item()


def test_bad_arguments_are_named():
    train, val = _blobs(16, 0), _blobs(8, 1)
    with pytest.raises(ValueError, match="optimizer must be one of: adam, sgd, adamw"):
        fit(_tiny_cnn(), train, val, **{**COMMON, "optimizer": "adma"})
    with pytest.raises(ValueError, match="scheduler must be one of"):
        fit(_tiny_cnn(), train, val, **COMMON, scheduler="cosine")
    with pytest.raises(ValueError, match="val_set is empty"):
        fit(_tiny_cnn(), train, TensorDataset(torch.zeros(0, 1, SIDE, SIDE), torch.zeros(0)), **COMMON)
