"""One canonical JSON and one hash: cache keys and spec hashes."""

import dataclasses
import datetime
import enum
import json
import math
from pathlib import Path

import numpy as np

from lensbench.cache import step_key
from lensbench.io.atomic import write_json
from lensbench.io.canonical import canonical_json, sha256_of, to_jsonable
from lensbench.simulate.priors import Prior
from lensbench.spec.schema import spec_hash


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass(frozen=True)
class Options:
    size: int = 3
    scale: Prior = dataclasses.field(default_factory=lambda: Prior("uniform", low=0.0, high=2.0))


def test_to_jsonable_gives_plain_json_types():
    value = {"options": Options(), "pair": (1, 2), 3: Colour.RED, "path": Path("a/b"), "array": np.arange(2),
             "scalar": np.float32(0.5), "day": datetime.date(2024, 5, 1)}
    assert to_jsonable(value) == {
        "options": {"size": 3, "scale": {"prior": {"dist": "uniform", "low": 0.0, "high": 2.0}}},
        "pair": [1, 2], "3": "red", "path": "a/b", "array": [0, 1], "scalar": 0.5, "day": "2024-05-01",
    }


def test_canonical_json_is_compact_sorted_and_order_free():
    assert canonical_json({"b": 1, "a": [1.5, math.nan]}) == '{"a":[1.5,NaN],"b":1}'
    assert sha256_of({"b": 1, "a": {"y": 2, "x": 1}}) == sha256_of({"a": {"x": 1, "y": 2}, "b": 1})
    assert sha256_of({"a": 1}) != sha256_of({"a": 2})
    assert len(sha256_of(None)) == 64


def test_cache_keys_did_not_change():
    """The key of a step is pinned: a change here re-runs every cached step of every user."""
    config = {"a": 1, "lr": 0.001, "prior": Prior("lognormal", mu=0.0, sigma=0.1)}
    assert step_key("train", 1, config, ["k"]) == "87da128d0adcbb0ce7d878bcc676037cb3607fe1c785363d1733d224fcf8c057"


def test_spec_hash_is_the_canonical_hash_of_the_document():
    document = {"experiment": {"name": "x", "seed": 1}, "made": datetime.datetime(2024, 1, 2, 3, 4, 5)}
    legacy = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)  # what spec_hash hashed before
    assert spec_hash(document) == sha256_of(document)
    assert canonical_json(document) == legacy


def test_write_json_uses_the_same_conversion(tmp_path):
    write_json(tmp_path / "options.json", {"options": Options(size=5)})
    assert json.loads((tmp_path / "options.json").read_text()) == to_jsonable({"options": Options(size=5)})
