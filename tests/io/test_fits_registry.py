"""lensbench.io.fits: which reader reads a file follows the priority it was registered with."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from lensbench.io.fits import FITS_READERS, FitsReader, choose_reader, reader_precedence, summarise_file


@pytest.fixture
def single_image(tmp_path):
    path = tmp_path / "one.fits"
    fits.HDUList([fits.PrimaryHDU(np.ones((8, 8), dtype=np.float32))]).writeto(path)
    return summarise_file(path)


def _claims_everything(summary) -> bool:
    return True


def _add(monkeypatch, name: str, priority: int) -> None:
    """Register a reader claiming every file for this test only (the registry cannot unregister)."""
    monkeypatch.setitem(FITS_READERS._entries, name, FitsReader(name, _claims_everything, lambda s, p: iter(()),
                                                                 priority))


def test_built_in_precedence_catalogue_first_catch_all_last():
    assert reader_precedence() == ["realgalaxy_catalog", "cube", "single", "multi_hdu"]


def test_a_reader_registered_with_a_higher_priority_is_asked_first(monkeypatch, single_image):
    assert choose_reader(single_image).name == "single"
    _add(monkeypatch, "everything", priority=100)
    assert reader_precedence()[0] == "everything"
    assert choose_reader(single_image).name == "everything"


def test_a_reader_below_the_catch_all_is_asked_only_when_nothing_else_claims(monkeypatch, single_image):
    _add(monkeypatch, "fallback", priority=-1)
    assert reader_precedence()[-1] == "fallback"
    assert choose_reader(single_image).name == "single"
