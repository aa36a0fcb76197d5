"""Tests of lensbench.training.loop: learning, early stopping, schedulers, checkpoints and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from lensbench.training import History, Supervised, TrainConfig, fit, predict

COMMON = dict(epochs=4, batch_size=16, lr=1e-2, seed=3)
CLASSIFY = Supervised("classify")


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{**COMMON, **changes})


def _fit(model, train, val, objective=CLASSIFY, **changes) -> History:
    """fit with the COMMON settings changed by ``changes`` (config fields or fit keywords)."""
    keywords = {k: changes.pop(k) for k in ("checkpoint_dir",) if k in changes}
    return fit(model, train, val, _config(**changes), objective=objective, progress=False, **keywords)


def test_separable_problem_is_learned_and_predict_gives_probabilities(blobs, tiny_cnn):
    train, val = blobs(256, 0), blobs(128, 1)
    model = tiny_cnn()
    history = _fit(model, train, val)
    assert history.epochs_run == 4 and len(history.val_acc) == 4
    assert history.val_acc[history.best_epoch] > 0.9
    assert history.val_loss[-1] < history.val_loss[0] or history.best_epoch > 0
    probabilities = predict(model, val, batch_size=50)
    assert probabilities.shape == (128, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)
    labels = val.tensors[1].numpy()
    assert np.mean(probabilities.argmax(axis=1) == labels) == pytest.approx(history.val_acc[history.best_epoch])


def test_regression_learns_image_mean(tiny_cnn):
    rng = np.random.default_rng(5)
    images = rng.normal(size=(256, 1, 8, 8)) + rng.uniform(-1, 1, size=(256, 1, 1, 1))
    targets = images.mean(axis=(1, 2, 3))[:, None]
    data = TensorDataset(torch.from_numpy(images).float(), torch.from_numpy(targets).float())
    train, val = torch.utils.data.random_split(data, [192, 64], generator=torch.Generator().manual_seed(0))
    model = tiny_cnn(num_outputs=1, dropout=0.0)
    history = _fit(model, train, val, objective=Supervised("regress"))
    assert history.train_acc == [] and history.val_acc == []
    assert min(history.val_loss) < 0.5 * float(np.var(targets))
    outputs = predict(model, val, batch_size=32, task="regress")
    assert outputs.shape == (64, 1)


def test_early_stopping_keeps_best_weights(blobs, tiny_cnn, state_bytes):
    """Validation labels are the training labels flipped: validation loss only worsens after epoch 1."""
    train, val = blobs(256, 0), blobs(128, 1, flip=True)
    model = tiny_cnn()
    history = _fit(model, train, val, epochs=30, early_stopping_patience=2)
    assert history.stopped_early
    assert history.epochs_run == history.best_epoch + 3
    first_epoch_only = tiny_cnn()
    _fit(first_epoch_only, train, val, epochs=history.best_epoch + 1)
    assert state_bytes(model) == state_bytes(first_epoch_only)


class _KeepLast(Supervised):
    keep_best = False


def test_objective_without_keep_best_keeps_the_last_epoch(blobs, tiny_cnn, state_bytes, tmp_path):
    """Validation loss only worsens after the first epoch: the best epoch is 0, yet the model
    holds the last epoch's weights (those of ``last.pt``), where a keep-best objective restores epoch 0's."""
    train, val = blobs(256, 0), blobs(128, 1, flip=True)
    model = tiny_cnn()
    history = _fit(model, train, val, objective=_KeepLast("classify"), epochs=3, checkpoint_dir=tmp_path)
    assert history.best_epoch == 0
    last = tiny_cnn()
    last.load_state_dict(torch.load(tmp_path / "last.pt", weights_only=True)["model"])
    assert state_bytes(model) == state_bytes(last)
    restored, best_only = tiny_cnn(), tiny_cnn()
    _fit(restored, train, val, epochs=3)
    _fit(best_only, train, val, epochs=1)
    assert state_bytes(restored) == state_bytes(best_only) != state_bytes(model)


def test_plateau_divides_lr_by_ten(blobs, tiny_cnn):
    train, val = blobs(256, 0), blobs(128, 1, flip=True)
    history = _fit(tiny_cnn(), train, val, epochs=5, scheduler="plateau", plateau_patience=1)
    assert history.best_epoch == 0
    # epochs 1 and 2 do not improve; torch's patience 1 reduces after the second of them
    assert history.lr == pytest.approx([1e-2, 1e-2, 1e-2, 1e-3, 1e-3])


RESUME = dict(scheduler="cosine_warmup_restarts", t_0=2, warmup_epochs=1, cycle_gamma=0.5)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, blobs, tiny_cnn, state_bytes, failing_after):
    train, val = blobs(128, 0), blobs(64, 1)
    reference = tiny_cnn()
    reference_history = _fit(reference, train, val, **RESUME)

    crashing = failing_after(train, fail_at=2 * len(train) + 40)  # inside the third epoch
    with pytest.raises(KeyboardInterrupt):
        _fit(tiny_cnn(), crashing, val, **RESUME, checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert History.from_dict(saved["history"]).epochs_run == 2

    resumed = tiny_cnn(seed=99)  # the initial weights must not matter once last.pt exists
    history = _fit(resumed, train, val, **RESUME, checkpoint_dir=tmp_path)
    assert history.to_dict() | {"epoch_seconds": None} == reference_history.to_dict() | {"epoch_seconds": None}
    assert state_bytes(resumed) == state_bytes(reference)


def test_checkpoints_load_with_weights_only(tmp_path, blobs, tiny_cnn, state_bytes):
    train, val = blobs(64, 0), blobs(32, 1)
    model = tiny_cnn()
    _fit(model, train, val, epochs=2, checkpoint_dir=tmp_path, optimizer="sgd", scheduler="plateau")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert set(last) >= {"model", "objective", "optimizer", "scheduler", "history"}
    fresh = tiny_cnn(seed=7)
    fresh.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    assert state_bytes(fresh) == state_bytes(model)


def test_resume_refuses_other_settings(tmp_path, blobs, tiny_cnn):
    train, val = blobs(64, 0), blobs(32, 1)
    _fit(tiny_cnn(), train, val, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="lr: 0.01 -> 0.001"):
        _fit(tiny_cnn(), train, val, epochs=2, lr=1e-3, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="objective: 'supervised:classify' -> 'supervised:regress'"):
        _fit(tiny_cnn(), train, val, objective=Supervised("regress"), epochs=2, checkpoint_dir=tmp_path)


def test_same_seed_same_bytes_other_seed_other_bytes_and_global_rng_untouched(blobs, tiny_cnn, state_bytes):
    train, val = blobs(64, 0), blobs(32, 1)
    runs = []
    for seed in (1, 1, 2):
        model = tiny_cnn()
        torch.manual_seed(1234)
        _fit(model, train, val, epochs=2, seed=seed)
        runs.append((state_bytes(model), torch.rand(1).item()))
    assert runs[0][0] == runs[1][0]
    assert runs[0][0] != runs[2][0]
    torch.manual_seed(1234)
    assert runs[0][1] == runs[2][1] == torch.rand(1).item()


def test_bad_arguments_are_named(blobs, tiny_cnn):
    train, val = blobs(16, 0), blobs(8, 1)
    with pytest.raises(ValueError, match="config.seed is None"):
        fit(tiny_cnn(), train, val, TrainConfig(epochs=1), objective=CLASSIFY, progress=False)
    with pytest.raises(ValueError, match="val_set is empty"):
        _fit(tiny_cnn(), train, TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0)))
    with pytest.raises(ValueError, match="task must be one of: classify, regress; got 'segment'"):
        predict(tiny_cnn(), val, batch_size=4, task="segment")
