"""Differentiable lens fitting: parameters with priors, image likelihoods, multi-start MAP and
NUTS posteriors on the torch renderer, and recovery statistics (Chianese et al. 2020).

Core package: imports physics/simulate only, never the spec, steps or report layers.
"""

from lensbench.fit.lens_model import LensImageModel
from lensbench.fit.likelihood import ImagePosterior, NoiseModel
from lensbench.fit.parameters import Parameter, ParameterSpace, make_prior

__all__ = ["ImagePosterior", "LensImageModel", "NoiseModel", "Parameter", "ParameterSpace", "make_prior"]
