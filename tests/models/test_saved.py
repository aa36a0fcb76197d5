"""The model card reader (:func:`lensbench.models.saved.read_model_card`): a usable card is
returned as it is, a missing, malformed or incomplete one is a clear DataError."""

from __future__ import annotations

import json

import pytest

from lensbench.errors import DataError
from lensbench.models.saved import read_model_card

CARD = {"format": "lensbench.model/1", "architecture": "cnn", "options": {"kernel_size": 5},
        "in_channels": 1, "input_size": [64, 64], "num_outputs": 2, "task": "classify",
        "classes": ["no_halo", "halo"], "labels": [], "label_scale": None, "normalize": "max",
        "training": {}, "simulation_kind": "galaxy"}


def write_card(folder, card) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(card if isinstance(card, str) else json.dumps(card))


def test_a_complete_card_is_read_as_written(tmp_path):
    write_card(tmp_path, CARD)
    assert read_model_card(tmp_path) == CARD


@pytest.mark.parametrize("card, message", [
    ({key: value for key, value in CARD.items() if key != "input_size"},
     r"missing key\(s\) input_size"),
    ({**CARD, "input_size": [64]}, r"'input_size' must be two positive pixel counts \[H, W\]"),
    ({**CARD, "input_size": "64x64"}, "'input_size' must be a JSON list"),
    ({**CARD, "in_channels": True}, "'in_channels' must be a JSON int"),
    ({**CARD, "normalize": "l2"}, "'normalize' must be one of"),
    ([1, 2], "expected a JSON object, got list"),
    ("{\"architecture\": ", "malformed model card \\(not JSON\\)"),
])
def test_malformed_cards_are_data_errors_naming_the_file(tmp_path, card, message):
    write_card(tmp_path, card)
    with pytest.raises(DataError, match=message) as raised:
        read_model_card(tmp_path)
    assert raised.value.path == str(tmp_path / "model.json") and raised.value.exit_code == 3


def test_a_missing_card_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no model card"):
        read_model_card(tmp_path)
