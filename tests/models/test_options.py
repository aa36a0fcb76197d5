"""lensbench.models.option_errors: a spec's [model] options checked against the builder's signature."""

from __future__ import annotations

import pytest

from lensbench.models import build_model, option_errors


def test_good_options_have_no_errors():
    assert option_errors("cnn", {"kernel_size": 5, "channels": [8, 16, 32], "hidden": 64, "dropout": 0}) == []
    assert option_errors("vgg11", {"batch_norm": True}) == []


def test_a_misspelt_option_lists_the_options_and_the_closest():
    assert option_errors("cnn", {"kernel_sise": 3}) == [
        "unknown option 'kernel_sise' for architecture 'cnn'; options: kernel_size, channels, hidden, dropout "
        "(did you mean 'kernel_size'?)"]


def test_values_are_checked_against_the_annotations():
    assert option_errors("cnn", {"dropout": "high", "channels": [16, 32], "hidden": 1.5}) == [
        "option 'dropout' of architecture 'cnn' must be a number, got 'high'",
        "option 'channels' of architecture 'cnn' must be an array of 3 integers, got [16, 32]",
        "option 'hidden' of architecture 'cnn' must be an integer, got 1.5"]
    assert option_errors("vgg11", {"batch_norm": 1}) == [
        "option 'batch_norm' of architecture 'vgg11' must be true or false, got 1"]


def test_an_unknown_architecture_gives_the_registry_message():
    assert option_errors("resnet81", {"depth": 3}) == [
        "unknown architecture 'resnet81'; one of: alexnet, cnn, healpix_cnn, resnet18, resnet50, vgg11, vit "
        "(did you mean 'resnet18'?)"]


def test_build_model_refuses_what_option_errors_finds():
    with pytest.raises(TypeError, match="option 'hidden' of architecture 'cnn' must be an integer"):
        build_model("cnn", in_channels=1, num_outputs=2, input_size=(64, 64), hidden=1.5)
