"""Tests of lensbench.report.figures: loss curves (integer epochs from 1, small multiples beyond a
few runs, the kept epoch marked) and example images (one colour bar per channel, named with units)."""

from __future__ import annotations

import numpy as np

from lensbench.report import figures


def history(n: int, best: int) -> dict:
    return {"train_loss": list(np.linspace(0.7, 0.2, n)), "val_loss": list(np.linspace(0.7, 0.4, n)),
            "train_acc": list(np.linspace(0.5, 0.9, n)), "val_acc": list(np.linspace(0.5, 0.8, n)), "best_epoch": best}


def visible(fig) -> list:
    return [ax for ax in fig.axes if ax.axison]


def test_few_runs_share_a_loss_panel_and_an_accuracy_panel():
    fig = figures.loss_curves({"a": history(5, 4), "b": history(5, 2)})
    loss, accuracy = fig.axes
    assert (loss.get_title(), accuracy.get_title()) == ("loss", "accuracy")
    assert accuracy.get_ylabel() == "accuracy"
    legend = [text.get_text() for text in loss.get_legend().get_texts()]
    assert legend == ["a", "b", "training", "validation", "kept epoch"]  # not one entry per curve


def test_many_runs_get_one_panel_each():
    runs = {f"variant={name}": history(4, 1) for name in "ABCDEFG"}
    fig = figures.loss_curves(runs)
    panels = visible(fig)
    assert [ax.get_title() for ax in panels] == list(runs)
    assert all(ax.get_legend() is None for ax in panels[1:])


def test_epochs_are_integers_counted_from_one_and_the_kept_epoch_is_marked():
    fig = figures.loss_curves({"run": history(3, 1)})
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    train, val, kept = ax.get_lines()[:3]
    assert list(train.get_xdata()) == [1, 2, 3]
    assert list(kept.get_xdata()) == [2] and kept.get_ydata()[0] == val.get_ydata()[1]


def test_example_images_have_a_colour_bar_per_channel_with_its_name_and_unit():
    rng = np.random.default_rng(1)
    fig = figures.example_images(rng.normal(size=(4, 2, 8, 16)), np.array([0, 1, 0, 1]), ["none", "subhalos"],
                                 per_class=2, channels=[("u_l", "muas/yr"), ("u_b", "muas/yr")])
    labels = sorted(ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>")
    assert labels == ["u_b (muas/yr)", "u_l (muas/yr)"]
    images = [ax.images[0] for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(images) == 8
    assert len({image.get_clim() for image in images[:4]}) == 1  # one scale per channel
    low, high = images[0].get_clim()
    assert low == -high  # signed data: zero-centred


def test_example_images_without_channel_names_are_numbered():
    fig = figures.example_images(np.random.default_rng(2).random((2, 1, 8, 8)), np.array([0, 1]), ["a", "b"],
                                 per_class=1)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_label() == "<colorbar>"] == ["channel 0"]
