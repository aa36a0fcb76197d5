"""Named lens and source parameters, their priors, and bijections to unconstrained space.

A :class:`ParameterSpace` is an ordered list of :class:`Parameter`; values travel as tensors of
shape ``(..., P)`` in that order. Each prior is a ``torch.distributions`` distribution; the map
from unconstrained ``u`` (any real) to the parameter ``theta`` in the prior's support is
``torch.distributions.transform_to(prior.support)`` (an affine sigmoid for a uniform prior, exp
for a log-normal, the identity for a normal), and the log-density of ``u`` is
``log p(theta(u)) + log |d theta / d u|`` (change of variables).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch.distributions import Distribution, LogNormal, Normal, Uniform, transform_to

from lensbench.fit.keys import PARAMETER_UNITS, PRIOR_KINDS, check_prior, is_latent  # noqa: F401  (re-exported)

LATENT_PRIOR = ("normal", 0.0, 1.0)
"""Prior of every latent component of a neural source (the VAE's own prior)."""

COMPONENTS = ("lens", "shear", "source")
"""Where a parameter goes in the renderer's tensors (:func:`scene_tensors` layout)."""



def make_prior(kind: str, a: float, b: float, dtype=torch.float64) -> Distribution:
    """A prior distribution from its family name and two numbers (see :data:`PRIOR_KINDS`).

    Raises
    ------
    ValueError
        For an unknown family or invalid numbers (low >= high, sd <= 0, median <= 0).
    """
    check_prior(kind, a, b)
    a_t, b_t = torch.tensor(float(a), dtype=dtype), torch.tensor(float(b), dtype=dtype)
    if kind == "uniform":
        return Uniform(a_t, b_t)
    if kind == "normal":
        return Normal(a_t, b_t)
    return LogNormal(torch.log(a_t), b_t)


@dataclass(frozen=True)
class Parameter:
    """One named parameter.

    Attributes
    ----------
    name : str
        ``<component>_<key>``, e.g. ``lens_theta_E`` (see :data:`PARAMETER_UNITS`).
    prior : torch.distributions.Distribution
        Its prior; its support fixes the bijection to unconstrained space.
    """

    name: str
    prior: Distribution = field(compare=False)

    def __post_init__(self):
        if self.name not in PARAMETER_UNITS:
            raise ValueError(f"unknown parameter {self.name!r}; known: {', '.join(PARAMETER_UNITS)}")

    @property
    def component(self) -> str:
        """``lens``, ``shear`` or ``source``."""
        return self.name.split("_", 1)[0]

    @property
    def key(self) -> str:
        """The renderer's keyword (``theta_E``, ``gamma1``, ``R_sersic``...)."""
        return self.name.split("_", 1)[1]

    @property
    def unit(self) -> str:
        """Unit of the parameter (empty when dimensionless)."""
        return PARAMETER_UNITS[self.name]


class ParameterSpace:
    """An ordered set of parameters with priors and the bijection to unconstrained space."""

    def __init__(self, parameters: list[Parameter]):
        names = [p.name for p in parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"parameter names repeat: {names}")
        self.parameters = tuple(parameters)
        self.transforms = tuple(transform_to(p.prior.support) for p in parameters)

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names, in column order."""
        return tuple(p.name for p in self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def index(self, name: str) -> int:
        """Column of ``name``."""
        return self.names.index(name)

    def subset(self, names) -> ParameterSpace:
        """The parameters named in ``names``, in that order."""
        return ParameterSpace([self.parameters[self.index(n)] for n in names])

    def to_constrained(self, u: torch.Tensor) -> torch.Tensor:
        """``theta(u)``: columns of ``u`` (..., P) mapped into each prior's support."""
        return torch.stack([t(u[..., i]) for i, t in enumerate(self.transforms)], dim=-1)

    def to_unconstrained(self, theta: torch.Tensor) -> torch.Tensor:
        """``u(theta)``, the inverse of :meth:`to_constrained`."""
        return torch.stack([t.inv(theta[..., i]) for i, t in enumerate(self.transforms)], dim=-1)

    def log_abs_det_jacobian(self, u: torch.Tensor) -> torch.Tensor:
        """``sum_i log |d theta_i / d u_i|`` at ``u`` (..., P) -> (...)."""
        terms = [t.log_abs_det_jacobian(u[..., i], t(u[..., i])) for i, t in enumerate(self.transforms)]
        return torch.stack(terms, dim=-1).sum(-1)

    def log_prior(self, theta: torch.Tensor) -> torch.Tensor:
        """``sum_i log p_i(theta_i)`` (..., P) -> (...)."""
        return torch.stack([p.prior.log_prob(theta[..., i]) for i, p in enumerate(self.parameters)], dim=-1).sum(-1)

    def log_density_unconstrained(self, u: torch.Tensor) -> torch.Tensor:
        """Log prior density of ``u``: ``log p(theta(u)) + log |d theta / d u|``."""
        return self.log_prior(self.to_constrained(u)) + self.log_abs_det_jacobian(u)

    def sample(self, n: int, rng: np.random.Generator, dtype=torch.float64) -> torch.Tensor:
        """``n`` prior draws (n, P), by inverse-CDF of uniforms from ``rng`` (reproducible)."""
        uniforms = torch.as_tensor(rng.uniform(1e-6, 1 - 1e-6, size=(n, len(self))), dtype=dtype)
        return torch.stack([p.prior.icdf(uniforms[:, i]) for i, p in enumerate(self.parameters)], dim=-1)


def model_prior(names, priors: dict) -> ParameterSpace:
    """The prior of a model's parameters ``names``: ``priors[name]`` (family, a, b) for each, and
    :data:`LATENT_PRIOR` for the latent components of a neural source."""
    return ParameterSpace([Parameter(name, make_prior(*(LATENT_PRIOR if is_latent(name) else priors[name])))
                           for name in names])
