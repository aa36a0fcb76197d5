"""lensbench.simulate.scene: the lens-profile registry is the one list of main-lens profiles."""

from __future__ import annotations

import pytest

from lensbench.simulate.backends import torch_renderer
from lensbench.simulate.scene import LENS_PROFILES
from lensbench.simulate.strong import StrongLensingConfig


def test_registered_profiles():
    assert LENS_PROFILES.names() == ["epl", "none", "sie", "sis"]
    assert not LENS_PROFILES.get("none").deflects and LENS_PROFILES.get("none").keys == ()
    assert all(LENS_PROFILES.get(name).deflects for name in ("sis", "sie", "epl"))


def test_the_torch_renderer_implements_every_main_lens():
    deflecting = {name for name in LENS_PROFILES if LENS_PROFILES.get(name).deflects}
    assert set(torch_renderer.LENS_DEFLECTIONS) == deflecting


def test_a_config_refuses_an_unknown_profile_and_a_missing_shape_prior():
    with pytest.raises(ValueError, match="unknown lens profile 'nie'; one of: epl, none, sie, sis .did you mean 'sie'"):
        StrongLensingConfig(lens_profile="nie")
    with pytest.raises(ValueError, match="lens profile 'epl' needs prior lens_gamma"):
        StrongLensingConfig(lens_profile="epl")
