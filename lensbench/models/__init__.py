"""Network architectures by name, built with keyword-only options.

``build_model("resnet18", in_channels=2, num_outputs=2, input_size=(64, 128))`` returns a plain
torch module; every model also has ``forward_features(x) -> (N, embedding_dim)`` (the input of
its last linear block) and an ``embedding_dim`` attribute, for self-supervised pre-training and
fine-tuning. Models return logits (classification) or raw outputs (regression).
"""

from __future__ import annotations

import difflib
import typing
from typing import TYPE_CHECKING, Any, Callable

from lensbench.models.signatures import builder_options
from lensbench.registry import Registry

if TYPE_CHECKING:
    from torch import nn

ARCHITECTURES: Registry[Callable[..., "nn.Module"]] = Registry("architecture")
# Registered lazily: listing and validating names and options imports no torch (signatures.py).
for _name, _target in (("cnn", "cnn:cnn"), ("resnet18", "resnet:resnet18"), ("resnet50", "resnet:resnet50"),
                       ("vgg11", "vgg:vgg11"), ("alexnet", "alexnet:alexnet"), ("vit", "vit:vit"),
                       ("healpix_cnn", "healpix:healpix_cnn")):
    ARCHITECTURES.register_lazy(_name, f"lensbench.models.{_target}")


def model_options(name: str) -> dict[str, Any]:
    """The options architecture ``name`` accepts, with their defaults.

    Raises
    ------
    KeyError
        For an unknown architecture, with the registry's list of names.
    """
    return {option: default for option, (_, default) in builder_options(ARCHITECTURES, name).items()}


_PLURAL = {bool: "booleans", int: "integers", float: "numbers"}


def _type_problem(value: Any, annotation: Any) -> str | None:
    """What is wrong with ``value`` (as TOML gives it) for a builder's ``annotation``, or None.

    Checks bool, int, float and tuples of those (a TOML array); any other annotation passes.
    """
    if annotation is bool:
        return None if isinstance(value, bool) else "true or false"
    if annotation is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if annotation is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if typing.get_origin(annotation) is tuple:
        kinds = typing.get_args(annotation)
        variable = len(kinds) == 2 and kinds[1] is Ellipsis
        if variable:
            kinds = kinds[:1]
        items = _PLURAL.get(kinds[0], "values") if len(set(kinds)) == 1 else "values"
        wanted = f"an array of {items}" if variable else f"an array of {len(kinds)} {items}"
        if not isinstance(value, (list, tuple)) or (not variable and len(value) != len(kinds)):
            return wanted
        expected = kinds * len(value) if variable else kinds
        if any(_type_problem(item, kind) for item, kind in zip(value, expected)):
            return wanted
    return None


def option_errors(architecture: str, options: dict[str, Any]) -> list[str]:
    """Every problem with ``options`` for ``architecture``, from its builder's keyword-only signature.

    Names are checked against the builder's options; values of bool, int, float and tuple
    options against their annotations (ranges are the builder's own checks, when it is built).

    Returns
    -------
    list of str
        One message per problem, e.g. "unknown option 'kernel_sise' for architecture 'cnn';
        options: kernel_size, channels, hidden, dropout (did you mean 'kernel_size'?)"; the
        registry's message for an unknown architecture; empty when all is well.
    """
    if architecture not in ARCHITECTURES:
        return [ARCHITECTURES.unknown_message(architecture)]
    signature = builder_options(ARCHITECTURES, architecture)
    accepted = list(signature)
    errors = []
    for option, value in options.items():
        if option not in accepted:
            close = difflib.get_close_matches(option, list(accepted), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            listing = ", ".join(accepted) if accepted else "none"
            errors.append(f"unknown option '{option}' for architecture '{architecture}'; options: {listing}{hint}")
        elif (problem := _type_problem(value, signature[option][0])) is not None:
            errors.append(f"option '{option}' of architecture '{architecture}' must be {problem}, got {value!r}")
    return errors


def _check_shape_arguments(in_channels: int, num_outputs: int, input_size: tuple[int, int]) -> None:
    for argument, value in (("in_channels", in_channels), ("num_outputs", num_outputs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{argument} must be a positive integer, got {value!r}")
    if (len(tuple(input_size)) != 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in input_size)):
        raise ValueError(f"input_size must be two positive integers (height, width) in pixels, got {input_size!r}")


def build_model(name: str, *, in_channels: int, num_outputs: int, input_size: tuple[int, int],
                seed: int | None = None, **options: Any) -> "nn.Module":
    """Build architecture ``name`` for inputs of shape (in_channels, *input_size).

    Parameters
    ----------
    name : str
        One of ``ARCHITECTURES.names()``: cnn, resnet18, resnet50, vgg11, alexnet, vit.
    in_channels : int
        Channels of the input (e.g. 2 for (u_l, u_b) velocity maps in muas/yr, 1 for an image).
    num_outputs : int
        Classes (classification) or regressed parameters.
    input_size : tuple of int
        (height, width) in pixels.
    seed : int, optional
        Seed for the weight initialisation, drawn from a forked RNG so the global torch
        state is left untouched; without it the global torch RNG is used.
    **options
        Architecture options; ``model_options(name)`` lists them with their defaults.

    Raises
    ------
    KeyError
        Unknown architecture (message lists the known names).
    TypeError
        Unknown option (message lists the accepted ones) or one of the wrong type.
    ValueError
        Bad option value, or an input size the network cannot process.
    """
    import torch

    builder = ARCHITECTURES.get(name)
    errors = option_errors(name, options)
    if errors:
        raise TypeError("; ".join(errors))
    _check_shape_arguments(in_channels, num_outputs, input_size)
    input_size = tuple(input_size)
    arguments = dict(in_channels=in_channels, num_outputs=num_outputs, input_size=input_size, **options)
    if seed is None:
        return builder(**arguments)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return builder(**arguments)


__all__ = ["ARCHITECTURES", "build_model", "model_options", "option_errors"]
