"""build_objective: every method's heads start from the seed, whatever ran before in the process."""

from __future__ import annotations

import pytest
import torch

from lensbench.models import build_model
from lensbench.ssl.config import PretrainConfig
from lensbench.ssl.methods import METHODS, build_objective

SMALL = dict(hidden_dim=8, projection_dim=4, prototypes=6, local_views=0)


def _encoder():
    return build_model("cnn", in_channels=1, num_outputs=3, input_size=(16, 16), seed=0)


def _head_weights(method: str, seed: int, draws_before: int) -> list[torch.Tensor]:
    encoder = _encoder()
    torch.rand(draws_before)  # another history of the global generator
    objective = build_objective(PretrainConfig(method=method, **SMALL), encoder, seed)
    return [t.clone() for module in objective.modules() for t in module.state_dict().values()]


@pytest.mark.parametrize("method", METHODS)
def test_heads_are_drawn_from_the_seed_alone(method):
    first, second = _head_weights(method, 3, 1), _head_weights(method, 3, 1000)
    assert first and all(torch.equal(a, b) for a, b in zip(first, second))
    other = _head_weights(method, 4, 1)
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_building_leaves_the_global_generator_alone():
    encoder = _encoder()
    before = torch.random.get_rng_state()
    build_objective(PretrainConfig(method="simclr", **SMALL), encoder, 3)
    assert torch.equal(torch.random.get_rng_state(), before)
