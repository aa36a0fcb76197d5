"""The spec reference: `lensbench explain` and docs/spec-reference.md, read from the validating dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.errors import UsageError
from lensbench.spec.fielddoc import UNDOCUMENTED, docstring_entries, key_docs, unit_of
from lensbench.spec.reference import all_docs, select
from lensbench.spec.reference_render import markdown

REGENERATE = "python3 -m lensbench.spec.reference > docs/spec-reference.md"


def explain(*args):
    return CliRunner().invoke(app, ["explain", *args])


def test_explain_a_section_lists_every_key_with_type_default_and_meaning():
    result = explain("training")
    assert result.exit_code == 0, result.output
    assert "lr = 0.001" in result.output and "Initial learning rate" in result.output
    assert "one of: adam, adamw, sgd" in result.output  # the optimiser registry's names
    assert "plateau_factor = 0.1" in result.output and ">= 0.0; <= 1.0" in result.output
    assert "device" in result.output and "one of: auto, cpu, cuda" in result.output  # a Literal


def test_explain_survey_shows_noise_keys_units_and_named_scenarios():
    result = explain("survey", "--kind", "strong_lensing")
    assert result.exit_code == 0, result.output
    for key in ("pixel_scale = 0.08", "read_noise = 4.0", "background_rms = unset", "sky_brightness = 22.3"):
        assert key in result.output, key
    assert "number [arcsec]" in result.output and "number [electrons]" in result.output
    assert "euclid: npix = 64, pixel_scale = 0.101, psf_fwhm = 0.16" in result.output
    assert "astrometric" not in result.output  # --kind keeps one kind
    assert "A: n_quasars = 1e8, sigma_u = 1.0" in explain("survey", "-k", "astrometric").output


def test_explain_a_key_shows_only_that_key():
    result = explain("training.lr")
    assert result.exit_code == 0, result.output
    assert "lr = 0.001" in result.output and "epochs =" not in result.output
    nested = explain("simulation.classes.cdm.count_mode", "--kind", "strong_lensing")
    assert nested.exit_code == 0 and "classes.<name>.count_mode" in nested.output and "poisson" in nested.output


def test_explain_unknown_section_key_or_kind_exits_2_listing_choices():
    result = explain("surve")
    assert result.exit_code == 2
    assert "unknown section 'surve'" in result.output and "did you mean 'survey'" in result.output
    noise = explain("survey.noise")
    assert noise.exit_code == 2 and "keys about 'noise'" in noise.output and "read_noise" in noise.output
    kind = explain("survey", "--kind", "strong")
    assert kind.exit_code == 2 and "strong_lensing" in kind.output


def test_every_key_of_every_shipped_section_is_documented():
    missing = [f"{doc.name}{f' ({doc.kind})' if doc.kind else ''}: {key.key}"
               for doc in all_docs() for key in doc.keys if key.meaning == UNDOCUMENTED]
    assert not missing, "add metadata={'help': ...} or a docstring entry for: " + ", ".join(missing)


def test_generated_reference_is_current(repo):
    current = (repo / "docs" / "spec-reference.md").read_text(encoding="utf-8")
    assert current == markdown(all_docs()), f"docs/spec-reference.md is stale; regenerate it with: {REGENERATE}"


@dataclass(frozen=True)
class _Documented:
    """A test section.

    Parameters
    ----------
    width, height : int
        Size of the thing (pixels).
    speed : float
        How fast it goes [km/s].
    """

    width: int = field(default=3, metadata={"min": 1})
    height: int = 4
    speed: float = 1.0
    colour: str = field(default="red", metadata={"help": "Its colour.", "unit": "nm"})
    mood: str = "calm"
    label: str = "x"
    """Attribute docstring of label."""


def test_meaning_comes_from_help_then_docstring_then_attribute_docstring():
    docs = {k.key: k for k in key_docs(_Documented)}
    assert docs["width"].meaning == docs["height"].meaning == "Size of the thing (pixels)."
    assert docs["width"].unit == "pixels" and docs["width"].allowed == ">= 1" and docs["width"].default == "3"
    assert docs["speed"].unit == "km/s"
    assert (docs["colour"].meaning, docs["colour"].unit) == ("Its colour.", "nm")
    assert docs["label"].meaning == "Attribute docstring of label."
    assert docs["mood"].meaning == UNDOCUMENTED
    assert set(docstring_entries(_Documented)) == {"width", "height", "speed"}


def test_unit_needs_one_known_unit():
    speed = key_docs(_Documented)[2]
    assert unit_of(field(), "deflection [muas] or velocity [muas/yr]") == ""
    assert unit_of(field(), "Subhalo mass range (Msun, M200 of each subhalo).") == "Msun"
    assert speed.unit == "km/s"


def test_select_raises_usage_error():
    with pytest.raises(UsageError, match="unknown key of \\[training\\] 'lrr'.*did you mean 'lr'"):
        select("training.lrr")


@dataclass(frozen=True)
class _PretrainSection:
    """``[pretrain]``: self-supervised pre-training."""

    epochs: int = field(default=5, metadata={"min": 1, "help": "Pre-training epochs."})


def test_a_task_s_own_section_is_explained(monkeypatch):
    from lensbench.tasks import TASKS, Task

    monkeypatch.setitem(TASKS._entries, "toy_ssl", Task(name="toy_ssl", steps=lambda spec: [],
                                                         report=lambda branches, context: {},
                                                         sections={"pretrain": _PretrainSection}))
    result = explain("pretrain")
    assert result.exit_code == 0, result.output
    assert "task toy_ssl" in result.output and "epochs = 5" in result.output and "Pre-training epochs." in result.output
