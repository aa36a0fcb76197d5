"""Tests of lensbench.models: registry, option checking, shapes and torchvision parameter counts."""

from __future__ import annotations

import pytest
import torch

from lensbench.models import ARCHITECTURES, build_model, model_options

NAMES = ["cnn", "resnet18", "resnet50", "vgg11", "alexnet", "vit"]


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs on one torch thread (see ``one_torch_thread``)."""


def _parameter_count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def test_registry_holds_the_six_architectures():
    # and the HEALPix face CNN, which takes only the face layout (tests/models/test_healpix.py)
    assert ARCHITECTURES.names() == sorted(NAMES + ["healpix_cnn"])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("in_channels, input_size", [(1, (64, 64)), (2, (64, 128))])
def test_output_and_embedding_shapes(name, in_channels, input_size):
    model = build_model(name, in_channels=in_channels, num_outputs=3, input_size=input_size, seed=0).eval()
    images = torch.randn(2, in_channels, *input_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        outputs = model(images)
        features = model.forward_features(images)
    assert outputs.shape == (2, 3) and outputs.dtype == torch.float32
    assert features.shape == (2, model.embedding_dim)


@pytest.mark.parametrize("name, published", [
    ("resnet18", 11_689_512), ("resnet50", 25_557_032), ("vgg11", 132_863_336), ("alexnet", 61_100_840),
])
def test_parameter_counts_match_torchvision(name, published):
    """torchvision's documented counts for ImageNet models (3 channels, 1000 classes, 224x224)."""
    model = build_model(name, in_channels=3, num_outputs=1000, input_size=(224, 224))
    assert _parameter_count(model) == published


def test_first_and_last_layers_follow_channels_and_outputs():
    """Only the stem's input channels and the head change: 3 -> 2 channels removes 64*7*7 weights,
    1000 -> 2 outputs removes 998*(512+1)."""
    model = build_model("resnet18", in_channels=2, num_outputs=2, input_size=(64, 128))
    assert _parameter_count(model) == 11_689_512 - 64 * 7 * 7 - 998 * (512 + 1)


def test_ko_cnn_parameter_count_by_hand():
    """Three conv+PReLU blocks (16, 32, 64 channels, 3x3) on 1x64x64 leave 64x8x8 features."""
    model = build_model("cnn", in_channels=1, num_outputs=2, input_size=(64, 64))
    convs = (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 64 * 9 + 64)
    prelus = 16 + 32 + 64
    linears = (64 * 8 * 8 * 128 + 128) + (128 * 2 + 2)
    assert _parameter_count(model) == convs + prelus + linears
    kernel5 = build_model("cnn", in_channels=1, num_outputs=2, input_size=(64, 64), kernel_size=5)
    assert kernel5.embedding_dim == 64 * 6 * 6  # padding 1 with a 5x5 kernel: 64->62->31->29->14->12->6


def test_vit_patch_and_token_count():
    model = build_model("vit", in_channels=1, num_outputs=3, input_size=(64, 128), patch_size=16, depth=2)
    assert model.pos_embedding.shape == (1, 4 * 8 + 1, 192)
    assert len(model.layers) == 2


def test_unknown_architecture_lists_names():
    with pytest.raises(KeyError, match="unknown architecture 'resnet81'; one of: alexnet, cnn, healpix_cnn, "
                                       "resnet18, resnet50, vgg11, vit"):
        build_model("resnet81", in_channels=1, num_outputs=2, input_size=(64, 64))


def test_unknown_option_lists_accepted_ones():
    assert model_options("cnn") == {"kernel_size": 3, "channels": (16, 32, 64), "hidden": 128, "dropout": 0.5}
    with pytest.raises(TypeError, match="unknown option 'kernal_size' for architecture 'cnn'; options: "
                                        "kernel_size, channels, hidden, dropout .did you mean 'kernel_size'"):
        build_model("cnn", in_channels=1, num_outputs=2, input_size=(64, 64), kernal_size=5)
    with pytest.raises(TypeError, match="unknown option 'zero_init_residual' for architecture 'alexnet'"):
        build_model("alexnet", in_channels=1, num_outputs=2, input_size=(64, 64), zero_init_residual=True)


@pytest.mark.parametrize("name, options, input_size, message", [
    ("cnn", {"kernel_size": 7}, (64, 64), "kernel_size must be 3 or 5"),
    ("cnn", {}, (4, 4), "too small"),
    ("alexnet", {}, (62, 64), "at least 63 pixels"),
    ("vgg11", {}, (31, 64), "at least 32 pixels"),
    ("vit", {}, (64, 48), "multiple of patch_size 32"),
    ("vit", {"dim": 100}, (64, 64), "multiple of heads 3"),
    ("resnet18", {}, (64,), "two positive integers"),
])
def test_bad_values_raise_value_error(name, options, input_size, message):
    with pytest.raises(ValueError, match=message):
        build_model(name, in_channels=1, num_outputs=2, input_size=input_size, **options)


def test_seed_fixes_weights_without_touching_global_rng():
    torch.manual_seed(5)
    expected_next = torch.rand(1)
    torch.manual_seed(5)
    first = build_model("cnn", in_channels=1, num_outputs=2, input_size=(32, 32), seed=11)
    assert torch.equal(torch.rand(1), expected_next)
    second = build_model("cnn", in_channels=1, num_outputs=2, input_size=(32, 32), seed=11)
    other = build_model("cnn", in_channels=1, num_outputs=2, input_size=(32, 32), seed=12)
    for a, b, c in zip(first.parameters(), second.parameters(), other.parameters()):
        assert torch.equal(a, b)
    assert not torch.equal(first.head[0].weight, other.head[0].weight)
