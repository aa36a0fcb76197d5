"""The training-domain check of ``lensbench apply`` (:mod:`lensbench.scoring.domain`)."""

from __future__ import annotations

import numpy as np

from lensbench.io.preprocess import Preprocessing
from lensbench.scoring.domain import domain_check

GALAXY = {"simulation_kind": "galaxy", "pixel_scale": 0.03, "input_size": [64, 64]}
COSMOS = np.full(3, 0.03)
SIDES = np.array([50, 64, 80])


def test_cosmos_stamps_at_native_scale_match_a_cosmos_model():
    check = domain_check(GALAXY, Preprocessing(), "galaxy", COSMOS, SIDES)
    assert check["warnings"] == []
    assert check["inputs"]["network_pixel_scale"] == [0.03, 0.03] and check["inputs"]["sides"] == [50, 80]


def test_resampling_changes_the_scale_the_network_gets():
    check = domain_check(GALAXY, Preprocessing(preparation="resample"), "galaxy", COSMOS, SIDES)
    low, high = check["inputs"]["network_pixel_scale"]
    assert (low, high) == (0.03 * 50 / 64, 0.03 * 80 / 64)
    assert any("trained at 0.03 arcsec/px" in warning for warning in check["warnings"])


def test_a_strong_lensing_model_on_cosmos_galaxies_is_warned_twice():
    card = {"simulation_kind": "strong_lensing", "pixel_scale": 0.08, "input_size": [64, 64]}
    warnings = domain_check(card, Preprocessing(), "galaxy", COSMOS, SIDES)["warnings"]
    assert any("simulation kind 'strong_lensing'" in warning for warning in warnings)
    assert any("gets 0.03 arcsec/px" in warning and "trained at 0.08" in warning and "267%" in warning
               for warning in warnings)


def test_unknown_scales_and_far_sizes_are_said():
    card = {"simulation_kind": "galaxy", "input_size": [64, 64]}
    assert "records no pixel scale" in domain_check(card, Preprocessing(), None, COSMOS, SIDES)["warnings"][0]
    check = domain_check(GALAXY, Preprocessing(), "galaxy", np.full(2, np.nan), np.array([40, 64]))
    assert any("pixel scale is unknown" in warning for warning in check["warnings"])
    assert any("1 stamp(s) have sides more than 25%" in warning for warning in check["warnings"])
