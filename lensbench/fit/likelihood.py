"""Image likelihoods (Gaussian and Poisson), the SNR definition, and the posterior a fit uses.

SNR (our definition, stated in every report): the matched-filter signal-to-noise ratio of the
noiseless lensed image ``m`` (counts/s per pixel) in its own noise,
``SNR = sqrt(sum_i m_i^2 / sigma_i^2)``, with ``sigma_i`` the noise standard deviation of pixel
``i``: a constant background ``sigma`` (Gaussian noise) or ``sqrt((m_i + sky) / t)`` (Poisson
counts in exposure time ``t`` over a sky of ``sky`` counts/s per pixel).
"""

from __future__ import annotations

import dataclasses

import hashlib
import math
import pickle
import warnings
from dataclasses import dataclass

import torch
from torch.distributions import Distribution
from torch.fx.experimental.proxy_tensor import make_fx

from lensbench.fit.lens_model import LensImageModel
from lensbench.fit.parameters import ParameterSpace

NOISE_KINDS = ("gaussian", "poisson")


def gaussian_sigma_for_snr(image: torch.Tensor, snr: float) -> torch.Tensor:
    """Background ``sigma`` (counts/s per pixel) giving ``image`` (..., H, W) the SNR ``snr``:
    ``sigma = sqrt(sum m^2) / SNR``."""
    return image.pow(2).sum((-2, -1)).sqrt() / snr


def poisson_exposure_for_snr(image: torch.Tensor, sky: float, snr: float) -> torch.Tensor:
    """Exposure time ``t`` (s) giving ``image`` the SNR ``snr`` in Poisson noise over ``sky``:
    ``SNR^2 = t * sum m^2 / (m + sky)``, so ``t = SNR^2 / sum(m^2 / (m + sky))``."""
    return snr**2 / (image.pow(2) / (image.clamp(min=0) + sky)).sum((-2, -1))


def gaussian_log_likelihood(model: torch.Tensor, data: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``sum_i log N(d_i | m_i, sigma^2)`` per image: (..., H, W) -> (...); ``sigma`` (...)."""
    sigma = sigma[..., None, None]
    npix = model.shape[-1] * model.shape[-2]
    chi2 = ((data - model) / sigma).pow(2).sum((-2, -1))
    return -0.5 * chi2 - npix * torch.log(sigma[..., 0, 0] * math.sqrt(2 * math.pi))


def poisson_log_likelihood(model: torch.Tensor, counts: torch.Tensor, exposure: torch.Tensor, sky: float) -> torch.Tensor:
    """``sum_i log Poisson(n_i | (m_i + sky) t)`` per image, ``n`` the counts (electrons)."""
    rate = ((model + sky) * exposure[..., None, None]).clamp(min=1e-12)
    return (counts * torch.log(rate) - rate - torch.lgamma(counts + 1)).sum((-2, -1))


@dataclass(frozen=True)
class NoiseModel:
    """How the data were observed.

    Attributes
    ----------
    kind : {"gaussian", "poisson"}
        Gaussian background of ``scale = sigma`` (counts/s per pixel; data in counts/s), or Poisson
        counts with ``scale = t`` exposure (s) over ``sky`` (counts/s per pixel; data in counts).
    scale : torch.Tensor
        ``(N,)``: sigma or exposure time per image.
    sky : float
        Sky level (counts/s per pixel), Poisson only.
    """

    kind: str
    scale: torch.Tensor
    sky: float = 0.0

    def __post_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"noise kind must be one of {', '.join(NOISE_KINDS)}, got {self.kind!r}")

    def log_likelihood(self, model: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each image (N,)."""
        if self.kind == "gaussian":
            return gaussian_log_likelihood(model, data, self.scale)
        return poisson_log_likelihood(model, data, self.scale, self.sky)

    def take(self, rows: torch.Tensor) -> NoiseModel:
        """The noise of images ``rows``."""
        return NoiseModel(self.kind, self.scale[rows], self.sky)


class ImagePosterior:
    """The log-posterior of the free parameters of N images, in unconstrained space.

    Parameters
    ----------
    model : LensImageModel
        Forward model.
    space : ParameterSpace
        The free parameters (a subset of ``model.names``) with their priors.
    data : torch.Tensor
        ``(N, H, W)`` observed images.
    noise : NoiseModel
        Their noise.
    fixed : torch.Tensor
        ``(N, P_all)`` values of every model parameter; the free columns are overwritten.
    """

    def __init__(self, model: LensImageModel, space: ParameterSpace, data: torch.Tensor, noise: NoiseModel,
                 fixed: torch.Tensor):
        unknown = [n for n in space.names if n not in model.names]
        if unknown:
            raise ValueError(f"parameters {unknown} are not in the {model.lens_profile} model ({', '.join(model.names)})")
        self.model, self.space, self.data, self.noise, self.fixed = model, space, data, noise, fixed
        self.free = torch.tensor([model.names.index(n) for n in space.names], device=data.device)

    def __len__(self) -> int:
        return self.data.shape[0]

    def take(self, rows) -> ImagePosterior:
        """The posterior of images ``rows`` (an index tensor, repeats allowed: one row per start)."""
        rows = torch.as_tensor(rows, device=self.data.device)
        return ImagePosterior(self.model, self.space, self.data[rows], self.noise.take(rows), self.fixed[rows])

    def full_parameters(self, u: torch.Tensor) -> torch.Tensor:
        """Every model parameter (N, P_all): the fixed table with the free columns ``theta(u)``."""
        return self.fixed.index_copy(1, self.free, self.space.to_constrained(u))

    def model_images(self, u: torch.Tensor) -> torch.Tensor:
        """Noiseless model images (N, H, W) at ``u``."""
        return self.model.render(self.full_parameters(u))

    def log_likelihood(self, u: torch.Tensor) -> torch.Tensor:
        """``log L(d | theta(u))`` per image (N,)."""
        return self.noise.log_likelihood(self.model_images(u), self.data)

    def log_posterior(self, u: torch.Tensor) -> torch.Tensor:
        """``log L(d | theta(u)) + log p(u)`` per image (N,), up to a constant."""
        return self.log_likelihood(u) + self.space.log_density_unconstrained(u)

    def potential(self, u: torch.Tensor) -> torch.Tensor:
        """Potential energy ``-log p(u | d)`` per image (N,) (what MAP minimises and NUTS samples)."""
        return -self.log_posterior(u)


class CompiledPotential:
    """The potential of an :class:`ImagePosterior`, ``u (N, P) -> -log p(u | d)`` (N,), with its
    value and gradient from one compiled graph: what MAP polishing and NUTS call thousands of times.

    The eager potential runs hundreds of small torch ops per call (one per parameter transform and
    prior term) and their autograd graph. Here ``u -> (potential, d potential / d u)`` (the
    gradient by :func:`torch.func.grad_and_value`) is traced once into one graph of aten ops
    (:func:`torch.fx.experimental.proxy_tensor.make_fx`), with the images, their noise and the
    fixed parameters as inputs, and compiled with ``torch.compile`` (inductor); a custom autograd
    function returns the value and hands the precomputed gradient to ``backward``. The result is
    the eager potential's up to float rounding (~1e-12 relative), 3-8x faster per evaluation on a
    CPU. The compiled graph is kept per process, keyed by the model, the prior, the noise kind and
    the shapes, so posteriors of other images of the same problem reuse it; if tracing or
    compiling fails, a warning is raised and the eager potential is used.

    Differentiable once: second derivatives (a Hessian) need :attr:`eager`. Picklable (the
    compiled graph is rebuilt in the process that unpickles it), so chains can run in worker
    processes.

    Parameters
    ----------
    posterior : ImagePosterior
        N images.
    compile : bool
        False evaluates the eager potential (exact autograd, no compilation time).
    """

    def __init__(self, posterior: ImagePosterior, compile: bool = True):
        self.posterior, self.compile = posterior, compile
        self._graph = None

    def __getstate__(self) -> dict:
        return {"posterior": self.posterior, "compile": self.compile, "_graph": None}

    def eager(self, u: torch.Tensor) -> torch.Tensor:
        """The eager potential, ``u (N, P)`` or ``(P,)`` for one image (twice differentiable)."""
        return self.posterior.potential(u[None])[0] if u.dim() == 1 else self.posterior.potential(u)

    def __call__(self, u: torch.Tensor) -> torch.Tensor:
        """Potential (N,) at ``u (N, P)``, or a scalar at ``u (P,)`` for a one-image posterior."""
        if not self.compile:
            return self.eager(u)
        single = u.dim() == 1
        batch = u[None] if single else u
        graph = self._graph if self._graph is not None else self._build(batch)
        if graph is None:
            return self.eager(u)
        post = self.posterior
        value = _ValueWithGradient.apply(batch, graph, post.data, post.noise.scale, post.fixed)
        return value[0] if single else value

    def _build(self, u: torch.Tensor):
        """The compiled ``(u, data, scale, fixed) -> (potential, gradient)`` (None if it failed)."""
        post = self.posterior
        key = _graph_key(post, u)
        if key is not None and key in _GRAPHS:
            self._graph = _GRAPHS[key]
            return self._graph
        try:
            self._graph = _compile_value_and_grad(post, u.detach())
        except Exception as error:  # tracing and inductor raise many backend-specific types
            warnings.warn(f"compiling the potential failed ({type(error).__name__}: {error}); running it eagerly",
                          RuntimeWarning)
            self.compile = False
            return None
        if key is not None:
            _GRAPHS[key] = self._graph
        return self._graph


_GRAPHS: dict = {}
"""Compiled value-and-gradient graphs of this process, by :func:`_graph_key`."""


def _graph_key(posterior: ImagePosterior, u: torch.Tensor) -> str | None:
    """What fixes the traced graph: the model (pickled), the priors, the noise kind and sky, the
    free columns and the shapes and dtypes of the inputs; None when the model does not pickle."""
    try:
        model = pickle.dumps(posterior.model)
    except Exception:  # a model holding something unpicklable is compiled once per CompiledPotential
        return None
    priors = [(p.name, _prior_signature(p.prior)) for p in posterior.space.parameters]
    shapes = [(tuple(t.shape), str(t.dtype)) for t in (u, posterior.data, posterior.noise.scale, posterior.fixed)]
    rest = (priors, posterior.noise.kind, posterior.noise.sky, posterior.free.tolist(), shapes)
    return hashlib.sha256(model + repr(rest).encode()).hexdigest()


def _prior_signature(prior: Distribution) -> tuple:
    """A distribution's family and numbers (those of its base for a transformed one)."""
    numbers = sorted((k, v.tolist()) for k, v in vars(prior).items() if isinstance(v, torch.Tensor))
    base = getattr(prior, "base_dist", None)
    return type(prior).__name__, numbers, _prior_signature(base) if base is not None else None


def _compile_value_and_grad(posterior: ImagePosterior, u: torch.Tensor):
    """Trace and compile ``(u, data, scale, fixed) -> (potential (N,), gradient (N, P))``."""
    model, space, noise = posterior.model, posterior.space, posterior.noise

    def value_and_grad(u, data, scale, fixed):
        # the same noise with the traced scale: a NoiseModel, or a cutout's per-pixel map
        images = ImagePosterior(model, space, data, dataclasses.replace(noise, scale=scale), fixed)

        def total(u):  # rows are independent: the gradient of the sum is each row's own gradient
            potentials = images.potential(u)
            return potentials.sum(), potentials

        gradient, (_, potentials) = torch.func.grad_and_value(total, has_aux=True)(u)
        return potentials, gradient

    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)  # the support checks branch on values: not traceable
    try:
        graph = make_fx(value_and_grad)(u, posterior.data, posterior.noise.scale, posterior.fixed)
    finally:
        Distribution.set_default_validate_args(validate)
    compiled = torch.compile(graph, dynamic=False, fullgraph=True)
    with torch.no_grad():  # compile now, as the autograd function will call it: failures surface here
        compiled(u, posterior.data, posterior.noise.scale, posterior.fixed)
    return compiled


class _ValueWithGradient(torch.autograd.Function):
    """``graph(u, ...)`` gives the value and its gradient; backward scales the stored gradient."""

    @staticmethod
    def forward(ctx, u, graph, data, scale, fixed):
        value, gradient = graph(u.detach(), data, scale, fixed)
        ctx.save_for_backward(gradient)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        if torch.is_grad_enabled():  # create_graph: a second derivative would silently be zero
            raise RuntimeError("a CompiledPotential is differentiable once; use its .eager for second derivatives")
        (gradient,) = ctx.saved_tensors
        return grad_value[:, None] * gradient, None, None, None, None
