"""lensbench.registry: named registries that refuse duplicates and explain unknown names."""

from __future__ import annotations

import pytest

from lensbench.registry import Registry


@pytest.fixture
def architectures() -> Registry:
    """A registry of three dummy builders, registered out of alphabetical order."""
    registry = Registry("architecture")
    for name in ("resnet18", "cnn", "alexnet"):
        registry.register(name)(lambda name=name: name)
    return registry


def test_register_as_a_decorator_returns_the_object_and_get_finds_it():
    registry = Registry("metric")

    @registry.register("auc")
    def auc():
        return 0.5

    assert auc() == 0.5
    assert registry.get("auc") is auc
    assert "auc" in registry and "roc" not in registry


def test_a_name_can_be_registered_only_once(architectures):
    original = architectures.get("cnn")
    with pytest.raises(ValueError, match="architecture 'cnn' is already registered"):
        architectures.register("cnn")(object())
    assert architectures.get("cnn") is original


def test_unknown_name_lists_every_name_and_the_closest_one(architectures):
    with pytest.raises(KeyError) as error:
        architectures.get("resnet81")
    message = error.value.args[0]
    assert message == "unknown architecture 'resnet81'; one of: alexnet, cnn, resnet18 (did you mean 'resnet18'?)"
    assert architectures.unknown_message("resnet81") == message


def test_unknown_name_without_a_close_match_only_lists_the_names(architectures):
    assert architectures.unknown_message("transformer") == "unknown architecture 'transformer'; one of: alexnet, cnn, resnet18"


def test_iteration_and_names_are_sorted_whatever_the_registration_order(architectures):
    assert list(architectures) == ["alexnet", "cnn", "resnet18"]
    assert architectures.names() == ["alexnet", "cnn", "resnet18"]


def test_an_empty_registry_says_so_for_any_name():
    registry = Registry("simulator")
    assert list(registry) == []
    with pytest.raises(KeyError, match="unknown simulator 'strong'; one of: "):
        registry.get("strong")


def test_a_lazy_entry_is_listed_at_once_and_imported_at_the_first_get():
    registry = Registry("thing")
    registry.register_lazy("dumps", "json:dumps")
    assert registry.names() == ["dumps"] and "dumps" in registry
    assert registry.location("dumps") == ("json", "dumps")
    import json

    assert registry.get("dumps") is json.dumps
    assert registry.get("dumps") is json.dumps and registry.location("dumps") == ("json", "dumps")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_lazy("dumps", "json:loads")
    with pytest.raises(ValueError, match="'package.module:attribute'"):
        registry.register_lazy("bad", "json.dumps")
