"""Prior distributions of simulation parameters, as a spec writes them.

A spec writes a prior as a fixed value (``theta_E = 1.0``) or as a table
(``gamma = { dist = "lognormal", mu = 0.7, sigma = 0.1 }``). Every draw uses a
:class:`numpy.random.Generator`, so the same seed gives the same numbers bit for bit.

Supported distributions (``dist``)
----------------------------------
fixed        ``value``
uniform      ``low``, ``high``
loguniform   ``low``, ``high`` (both > 0): log x uniform
normal       ``mu``, ``sigma``; optional ``low``/``high`` truncate it
lognormal    ``mu``, ``sigma`` of ln x (Ko 2024, Table I's N_log); optional ``low``/``high``
             truncate x itself
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from lensbench.registry import Registry

PRIORS: Registry[tuple[str, ...]] = Registry("prior distribution")
"""Each distribution's name, mapped to the parameters it requires."""

PRIORS.register("fixed")(("value",))
PRIORS.register("uniform")(("low", "high"))
PRIORS.register("loguniform")(("low", "high"))
PRIORS.register("normal")(("mu", "sigma"))
PRIORS.register("lognormal")(("mu", "sigma"))

_OPTIONAL = {"normal": ("low", "high"), "lognormal": ("low", "high")}

MIN_WINDOW_MASS = 1e-12
"""Smallest probability a truncated ``normal``/``lognormal`` may keep inside [low, high]: below
it the inverse-CDF draws of :meth:`Prior.sample` lose all precision (or leave the window)."""


@dataclass(frozen=True)
class Prior:
    """A one-dimensional prior distribution.

    Parameters
    ----------
    dist : str
        One of ``fixed``, ``uniform``, ``loguniform``, ``normal``, ``lognormal``.
    value : float, optional
        The value of a ``fixed`` prior.
    low, high : float, optional
        Bounds: the support of ``uniform``/``loguniform``, or truncation bounds (on x) of
        ``normal``/``lognormal``.
    mu, sigma : float, optional
        Mean and standard deviation of x (``normal``) or of ln x (``lognormal``).
    """

    dist: str = "fixed"
    value: float | None = None
    low: float | None = None
    high: float | None = None
    mu: float | None = None
    sigma: float | None = None

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason this prior is invalid (empty when it is valid)."""
        if self.dist not in PRIORS:
            return [PRIORS.unknown_message(self.dist)]
        required = PRIORS.get(self.dist)
        allowed = set(required) | set(_OPTIONAL.get(self.dist, ()))
        out = []
        for name in ("value", "low", "high", "mu", "sigma"):
            given = getattr(self, name) is not None
            if name in required and not given:
                out.append(f"'{self.dist}' prior needs '{name}'")
            elif given and name not in allowed:
                out.append(f"'{self.dist}' prior takes no '{name}' (it takes {', '.join(sorted(allowed))})")
        if out:
            return out
        out += [f"{name} must be a finite number, got {getattr(self, name)}"
                for name in ("value", "low", "high", "mu", "sigma")
                if getattr(self, name) is not None and not math.isfinite(getattr(self, name))]
        if out:
            return out
        if self.sigma is not None and not self.sigma > 0:
            out.append(f"sigma must be > 0, got {self.sigma}")
        if self.low is not None and self.high is not None and not self.low < self.high:
            out.append(f"low must be < high, got low={self.low}, high={self.high}")
        if self.dist == "loguniform" and not self.low > 0:
            out.append(f"loguniform needs low > 0, got {self.low}")
        if self.dist == "lognormal" and self.high is not None and not self.high > 0:
            out.append(f"lognormal truncation needs high > 0, got {self.high}")
        if not out and self.dist in _OPTIONAL and (self.low is not None or self.high is not None):
            mass = self.window_mass()
            if mass < MIN_WINDOW_MASS:
                low, high = (-math.inf if self.low is None else self.low), (math.inf if self.high is None else self.high)
                out.append(f"the truncation window [{low}, {high}] holds a probability of only {mass:.3g} "
                           f"of this {self.dist} (mu={self.mu}, sigma={self.sigma}): no value can be drawn in it")
        return out

    def _window_z(self) -> tuple[float, float]:
        """The truncation bounds of a ``normal`` or ``lognormal`` prior in standard units."""
        lo_z, hi_z = -math.inf, math.inf
        if self.dist == "normal":
            if self.low is not None:
                lo_z = (self.low - self.mu) / self.sigma
            if self.high is not None:
                hi_z = (self.high - self.mu) / self.sigma
        else:
            if self.low is not None and self.low > 0:
                lo_z = (math.log(self.low) - self.mu) / self.sigma
            if self.high is not None:
                hi_z = (math.log(self.high) - self.mu) / self.sigma
        return lo_z, hi_z

    def window_mass(self) -> float:
        """The probability the untruncated ``normal``/``lognormal`` puts inside [low, high]
        (1 without bounds), accurate in either tail."""
        lo_z, hi_z = self._window_z()
        return float(max(ndtr(hi_z) - ndtr(lo_z), ndtr(-lo_z) - ndtr(-hi_z)))

    @classmethod
    def from_spec(cls, value) -> "Prior":
        """A prior from its spec form: a number (fixed) or a table with ``dist``."""
        if isinstance(value, bool):
            raise ValueError("a prior is a number or a table such as { dist = \"uniform\", low = 0, high = 1 }")
        if isinstance(value, (int, float)):
            return cls(dist="fixed", value=float(value))
        if not isinstance(value, dict):
            raise ValueError("a prior is a number or a table such as { dist = \"uniform\", low = 0, high = 1 }")
        table = dict(value)
        dist = table.pop("dist", None)
        if dist is None:
            raise ValueError("a prior table needs 'dist' (one of: " + ", ".join(PRIORS.names()) + ")")
        known = {"value", "low", "high", "mu", "sigma"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"unknown prior key '{unknown[0]}'; prior keys are: dist, {', '.join(sorted(known))}")
        for key, number in table.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise ValueError(f"prior '{key}' must be a number, got {number!r}")
        return cls(dist=str(dist), **{k: float(v) for k, v in table.items()})

    def to_spec(self):
        """The spec form of this prior (inverse of :meth:`from_spec`)."""
        if self.dist == "fixed":
            return self.value
        out = {"dist": self.dist}
        for name in ("value", "low", "high", "mu", "sigma"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` values (float64) with ``rng``; exactly ``size`` uniform draws are used
        for every distribution but ``fixed`` (none), so draws stay aligned across parameters."""
        if self.dist == "fixed":
            return np.full(size, self.value, dtype=np.float64)
        u = rng.random(size)
        if self.dist == "uniform":
            return self.low + (self.high - self.low) * u
        if self.dist == "loguniform":
            lo, hi = math.log(self.low), math.log(self.high)
            return np.exp(lo + (hi - lo) * u)
        # normal / lognormal by inverse CDF, truncated to [low, high] of x
        lo_z, hi_z = self._window_z()
        p_lo, p_hi = ndtr(lo_z), ndtr(hi_z)
        z = ndtri(p_lo + (p_hi - p_lo) * u)
        x = self.mu + self.sigma * z
        return np.exp(x) if self.dist == "lognormal" else x

    def support(self) -> tuple[float, float]:
        """Smallest interval that holds every draw (may be infinite)."""
        if self.dist == "fixed":
            return (self.value, self.value)
        if self.dist in ("uniform", "loguniform"):
            return (self.low, self.high)
        lo = self.low if self.low is not None else (-math.inf if self.dist == "normal" else 0.0)
        hi = self.high if self.high is not None else math.inf
        return (lo, hi)


def nonnegative(names) -> dict[str, tuple[float, float]]:
    """``{name: (0, inf)}`` for each parameter in ``names``: the physical range of quantities
    that cannot be negative, as a simulation kind declares it for spec validation."""
    return {name: (0.0, math.inf) for name in names}


def sample_priors(priors: dict[str, Prior], rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """Draw every prior in ``priors`` ``size`` times, in sorted name order (stable across dict order)."""
    return {name: priors[name].sample(rng, size) for name in sorted(priors)}
