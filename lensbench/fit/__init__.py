"""Differentiable lens fitting: parameters with priors, image likelihoods, multi-start MAP and
NUTS posteriors on the torch renderer, and recovery statistics (Chianese et al. 2020).

Core package: imports physics/simulate only, never the spec, steps or report layers.
"""

import importlib

_HOMES = {"LensImageModel": "lens_model", "ImagePosterior": "likelihood", "NoiseModel": "likelihood",
          "Parameter": "parameters", "ParameterSpace": "parameters", "make_prior": "parameters"}
"""Where each public name lives; imported at first access, so that a spec's fit sections are
validated without torch (they read :mod:`lensbench.fit.keys`)."""


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"lensbench.fit.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_HOMES)
