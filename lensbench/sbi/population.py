"""The latent subhalo population's likelihood p(z|theta): joint likelihood ratio and joint score.

Brehmer, Mishra-Sharma, Hermans, Louppe & Cranmer 2019 (arXiv:1909.02005), eq. 18: of the joint
likelihood p(x, z|theta) only the subhalo population depends on theta = (f_sub, beta),

    p(z|theta) ∝ Pois(n | N(theta)) prod_i p_m(m_i | theta),

so the joint log ratio and the joint score (sec. 3.1) need per image only sufficient statistics:
the subhalo count n, S = sum_i ln(m_i / Msun), the host's projected mass inside the region of
interest (M_ROI = M200 x the projected NFW fraction, Msun) and the upper mass m_max (Msun).

Mass function (eq. 15): dn/dlog m ∝ m^beta, i.e. p_m(m|beta) = m^(beta-1) / I(beta-1) on the
drawing range [m_draw, m_max], with I(a) = int m^a dm. f_sub is the mass fraction of M200 in
subhalos of the definition range [m_def, m_max] (sec. 2.4; the paper writes m_def = 1e6 Msun,
the authors' code draws from and defines f_sub over 1e7 Msun), so the expected count in the ROI is

    N(theta) = f_sub M_ROI I(beta - 1; m_draw, m_max) / I(beta; m_def, m_max).

The reference density is the proposal marginal p_ref(z) = int dtheta pi(theta) p(z|theta) (sec.
3.1) for a uniform proposal box: the f_sub integral is a regularised incomplete gamma function,
the beta integral Gauss-Legendre quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import gammainc, gammaincc

BETA_SERIES = 1e-6
"""|u| below which ln(expm1(u)/u) is replaced by its series u/2 + u^2/24."""


@dataclass(frozen=True)
class ProposalBox:
    """A uniform proposal pi(theta) (sec. 3.1: f_sub ~ U(0.001, 0.2), beta ~ U(-1.5, -0.5)).

    Attributes
    ----------
    f_sub_low, f_sub_high : float
        Bounds of the substructure mass fraction (dimensionless).
    beta_low, beta_high : float
        Bounds of the paper's SHMF slope beta (dn/dlog m ∝ m^beta).
    """

    f_sub_low: float = 0.001
    f_sub_high: float = 0.2
    beta_low: float = -1.5
    beta_high: float = -0.5

    def __post_init__(self):
        if not (0 <= self.f_sub_low < self.f_sub_high and self.beta_low < self.beta_high):
            raise ValueError(f"empty proposal box: {self}")

    def scale(self, theta: torch.Tensor) -> torch.Tensor:
        """theta (..., 2) mapped linearly onto [-1, 1]^2 (the network's parameter input)."""
        low = theta.new_tensor([self.f_sub_low, self.beta_low])
        high = theta.new_tensor([self.f_sub_high, self.beta_high])
        return 2.0 * (theta - low) / (high - low) - 1.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n draws (n, 2) of (f_sub, beta) from the box."""
        u = rng.random((n, 2))
        return np.stack([self.f_sub_low + u[:, 0] * (self.f_sub_high - self.f_sub_low),
                         self.beta_low + u[:, 1] * (self.beta_high - self.beta_low)], axis=1)

    def log_density(self) -> float:
        """log pi(theta) inside the box."""
        return -float(np.log((self.f_sub_high - self.f_sub_low) * (self.beta_high - self.beta_low)))


@dataclass(frozen=True)
class LatentStats:
    """Sufficient statistics of each image's subhalo population (tensors of shape (N,), float64).

    Attributes
    ----------
    count : torch.Tensor
        Number of subhalos n in the region of interest.
    log_mass_sum : torch.Tensor
        S = sum_i ln(m_i / Msun).
    roi_mass : torch.Tensor
        Host M200 times its projected NFW mass fraction inside the ROI (Msun).
    m_max : torch.Tensor
        Upper subhalo mass (Msun; 0.01 M200 in Brehmer+19).
    """

    count: torch.Tensor
    log_mass_sum: torch.Tensor
    roi_mass: torch.Tensor
    m_max: torch.Tensor

    @classmethod
    def from_arrays(cls, count, log_mass_sum, roi_mass, m_max, device="cpu") -> "LatentStats":
        """From array-likes, as float64 tensors on ``device``."""
        def as_tensor(a):
            return torch.as_tensor(np.asarray(a, dtype=np.float64), device=device)
        return cls(as_tensor(count), as_tensor(log_mass_sum), as_tensor(roi_mass), as_tensor(m_max))


@dataclass(frozen=True)
class MassRange:
    """Lower subhalo masses (Msun): the drawing range starts at ``m_draw``, f_sub is defined from ``m_def``."""

    m_draw: float = 1e7
    m_def: float = 1e7


def _log_expm1_over(u: torch.Tensor) -> torch.Tensor:
    """ln((e^u - 1) / u), with its series near u = 0 (differentiable everywhere)."""
    small = u.abs() < BETA_SERIES
    safe = torch.where(small, torch.ones_like(u), u)
    exact = torch.log(torch.expm1(safe) / safe)
    return torch.where(small, u / 2.0 + u * u / 24.0, exact)


def log_power_integral(a: torch.Tensor, low, high: torch.Tensor) -> torch.Tensor:
    """ln I(a) = ln int_low^high m^a dm (masses in Msun), stable at a = -1.

    I(a) = low^(a+1) L (e^u - 1)/u with L = ln(high/low), u = (a + 1) L.
    """
    high = torch.as_tensor(high, dtype=torch.float64)
    low = torch.as_tensor(low, dtype=torch.float64, device=high.device)
    span = torch.log(high / low)
    return (a + 1.0) * torch.log(low) + torch.log(span) + _log_expm1_over((a + 1.0) * span)


def expected_count(theta: torch.Tensor, stats: LatentStats, masses: MassRange) -> torch.Tensor:
    """N(theta) = f_sub M_ROI I(beta - 1; m_draw, m_max) / I(beta; m_def, m_max) (sec. 2.4).

    ``theta`` (N, 2) = (f_sub, beta) per image, or (2,) for all; returns (N,).
    """
    f_sub, beta = theta[..., 0], theta[..., 1]
    log_ratio = (log_power_integral(beta - 1.0, masses.m_draw, stats.m_max)
                 - log_power_integral(beta, masses.m_def, stats.m_max))
    return f_sub * stats.roi_mass * torch.exp(log_ratio)


def log_prob(theta: torch.Tensor, stats: LatentStats, masses: MassRange) -> torch.Tensor:
    """ln p(z|theta) of each image's population up to theta-independent terms (eq. 18).

    ln Pois(n | N) + (beta - 1) S - n ln I(beta - 1; m_draw, m_max); the positions' and the
    host's densities do not depend on theta and are left out. ``theta`` (N, 2) or (2,).
    """
    n = stats.count
    big_n = expected_count(theta, stats, masses)
    beta = theta[..., 1]
    poisson = n * torch.log(big_n) - big_n - torch.lgamma(n + 1.0)
    return poisson + (beta - 1.0) * stats.log_mass_sum - n * log_power_integral(beta - 1.0, masses.m_draw, stats.m_max)


def joint_score(theta: torch.Tensor, stats: LatentStats, masses: MassRange) -> torch.Tensor:
    """t(x, z|theta) = grad_theta ln p(z|theta) (sec. 3.1) by autograd; (N, 2) for theta (N, 2)."""
    with torch.enable_grad():
        point = theta.detach().to(torch.float64).clone().requires_grad_(True)
        value = log_prob(point, stats, masses)
        (grad,) = torch.autograd.grad(value.sum(), point)
    return grad.to(theta.dtype)


def log_reference(stats: LatentStats, masses: MassRange, box: ProposalBox, nodes: int = 400) -> np.ndarray:
    """ln p_ref(z) = ln int dtheta pi(theta) p(z|theta) for the uniform box (sec. 3.1), (N,) float64.

    With N(theta) = f_sub K(beta), the f_sub integral of the Poisson term is analytic:
    int_a^b f^n e^(-f K) df = Gamma(n+1) K^-(n+1) [P(n+1, K b) - P(n+1, K a)] (P the regularised
    lower incomplete gamma function); the beta integral uses ``nodes`` Gauss-Legendre nodes.
    """
    x, w = np.polynomial.legendre.leggauss(nodes)
    beta = 0.5 * (box.beta_high - box.beta_low) * x + 0.5 * (box.beta_high + box.beta_low)
    weights = 0.5 * w  # the beta density 1/(high - low) times the interval's Jacobian (high - low)/2
    n = stats.count.detach().cpu().numpy()[:, None]
    s = stats.log_mass_sum.detach().cpu().numpy()[:, None]
    beta_t = torch.as_tensor(beta, dtype=torch.float64)[None, :]
    m_max = stats.m_max.detach().cpu()[:, None]
    log_k = (torch.log(stats.roi_mass.detach().cpu())[:, None]
             + log_power_integral(beta_t - 1.0, masses.m_draw, m_max)
             - log_power_integral(beta_t, masses.m_def, m_max)).numpy()
    log_mass = ((beta_t - 1.0).numpy() * s - n * log_power_integral(beta_t - 1.0, masses.m_draw, m_max).numpy())
    k = np.exp(log_k)
    lower, upper = k * box.f_sub_low, k * box.f_sub_high
    upper_tail = lower >= n + 1.0  # both ends above the mode: difference of upper-tail functions
    with np.errstate(divide="ignore"):
        log_window = np.where(upper_tail,
                              np.log(np.maximum(gammaincc(n + 1.0, lower) - gammaincc(n + 1.0, upper), 0.0)),
                              np.log(np.maximum(gammainc(n + 1.0, upper) - gammainc(n + 1.0, lower), 0.0)))
    # ln int pi(f) Pois(n | f K) df = -ln K + ln[P(n+1, Kb) - P(n+1, Ka)] - ln(b - a)
    per_node = -log_k + log_window - np.log(box.f_sub_high - box.f_sub_low) + log_mass
    total = _logsumexp(per_node + np.log(weights)[None, :])
    if not np.all(np.isfinite(total)):
        raise FloatingPointError("the reference density underflowed for some image; check its statistics")
    return total


def _logsumexp(values: np.ndarray) -> np.ndarray:
    top = np.max(values, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return (top + np.log(np.sum(np.exp(values - top), axis=1, keepdims=True)))[:, 0]


def joint_log_ratio(theta: torch.Tensor, stats: LatentStats, masses: MassRange, log_ref) -> torch.Tensor:
    """ln r(x, z|theta) = ln p(z|theta) - ln p_ref(z) (sec. 3.1); ``log_ref`` from :func:`log_reference`."""
    return log_prob(theta, stats, masses) - torch.as_tensor(log_ref, dtype=torch.float64, device=theta.device)
