"""Losses that train a likelihood-ratio estimator on augmented data ("mined gold").

Every loss is the mean over (x, theta) pairs of one batch. Each simulated image x ~ p(x|theta)
gives two pairs (Brehmer+19 sec. 3.2): with its own theta (``y = 0``: x is drawn from the
numerator) and with a second draw theta' from the proposal (``y = 1``: relative to theta', x
comes from the reference p_ref). The estimator returns ln r_hat(x|theta) and its gradient
t_hat = grad_theta ln r_hat; the simulator gives the joint ln r(x, z|theta) and joint score t.

- ALICES (eq. 22): cross-entropy of g = 1/(1 + r_hat) against the soft label s = 1/(1 + r(x,z))
  plus alpha |t - t_hat|^2. The mean over pairs is eq. 22 per image divided by 2. Eq. 22 takes
  the score term at both pairs; the authors' code (``ratio_score_mse_num``) only at the pairs with
  x drawn from theta (``y = 0``): ``score_mask`` selects.
- CARL: cross-entropy of g against the label y (Cranmer, Pavez & Louppe 2015), g* = 1/(1 + r).
- ROLR: (1 - y) (r_hat - r)^2 + y (1/r_hat - 1/r)^2 (Brehmer et al. 2018, arXiv:1805.00020).
- RASCAL: ROLR + alpha |t - t_hat|^2 (same reference).

ROLR and RASCAL square ratios: both ln r and ln r_hat are clipped to +-:data:`LOG_RATIO_CLIP`
there (joint ratios of populations with hundreds of subhalos reach e^50).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOG_RATIO_CLIP = 10.0
"""|ln r| above which ROLR and RASCAL clip the ratios they square."""
LOSSES = ("alices", "carl", "rolr", "rascal")
"""The loss names an estimator can be trained on."""
USES_SCORE = ("alices", "rascal")
"""Losses with a score term (they need t_hat, the gradient of ln r_hat in theta)."""


def alices(log_r_hat, score_hat, log_r_joint, score_joint, alpha: float, score_mask=None) -> torch.Tensor:
    """ALICES (Brehmer+19 eq. 22): BCE(1/(1+r_hat), 1/(1+r_joint)) + alpha |t_joint - t_hat|^2.

    Parameters
    ----------
    log_r_hat : torch.Tensor
        (N,) estimated ln r(x|theta).
    score_hat : torch.Tensor or None
        (N, P) gradient of ``log_r_hat`` in theta (None when ``alpha`` is 0).
    log_r_joint : torch.Tensor
        (N,) joint ln r(x, z|theta).
    score_joint : torch.Tensor
        (N, P) joint score t(x, z|theta).
    alpha : float
        Weight of the score term.
    score_mask : torch.Tensor or None
        (N,) 1 for the pairs whose score enters the score term, 0 for the others (None: every
        pair, as eq. 22). The mean is always over all N pairs.
    """
    soft = torch.sigmoid(-log_r_joint)  # s = 1 / (1 + r)
    cross_entropy = F.binary_cross_entropy_with_logits(-log_r_hat, soft.to(log_r_hat.dtype))
    return cross_entropy + _score_term(score_hat, score_joint, alpha, score_mask)


def carl(log_r_hat, y) -> torch.Tensor:
    """CARL: BCE(1/(1+r_hat), y), y = 1 where x comes from the reference."""
    return F.binary_cross_entropy_with_logits(-log_r_hat, y.to(log_r_hat.dtype))


def rolr(log_r_hat, log_r_joint, y) -> torch.Tensor:
    """ROLR: (1 - y)(r_hat - r)^2 + y (1/r_hat - 1/r)^2, ratios clipped at e^(+-LOG_RATIO_CLIP)."""
    r_hat = log_r_hat.clamp(-LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    r_joint = log_r_joint.to(log_r_hat.dtype).clamp(-LOG_RATIO_CLIP, LOG_RATIO_CLIP)
    y = y.to(log_r_hat.dtype)
    numerator = (torch.exp(r_hat) - torch.exp(r_joint)) ** 2
    reference = (torch.exp(-r_hat) - torch.exp(-r_joint)) ** 2
    return torch.mean((1.0 - y) * numerator + y * reference)


def rascal(log_r_hat, score_hat, log_r_joint, score_joint, y, alpha: float, score_mask=None) -> torch.Tensor:
    """RASCAL: :func:`rolr` + alpha |t_joint - t_hat|^2 (``score_mask`` as in :func:`alices`)."""
    return rolr(log_r_hat, log_r_joint, y) + _score_term(score_hat, score_joint, alpha, score_mask)


def _score_term(score_hat, score_joint, alpha: float, score_mask=None):
    """alpha x the mean over all pairs of mask |t_joint - t_hat|^2; 0 when alpha is 0 (the scores
    may then be None)."""
    if alpha == 0:
        return 0.0
    squared = torch.sum((score_joint.to(score_hat.dtype) - score_hat) ** 2, dim=-1)
    if score_mask is not None:
        squared = squared * score_mask.to(squared.dtype)
    return alpha * torch.mean(squared)


def ratio_loss(name: str, log_r_hat, score_hat, log_r_joint, score_joint, y, alpha: float,
               score_mask=None) -> torch.Tensor:
    """The loss ``name`` (one of :data:`LOSSES`) of one batch of (x, theta) pairs; ``score_mask``
    as in :func:`alices` (ignored by the losses without a score term)."""
    if name == "alices":
        return alices(log_r_hat, score_hat, log_r_joint, score_joint, alpha, score_mask)
    if name == "carl":
        return carl(log_r_hat, y)
    if name == "rolr":
        return rolr(log_r_hat, log_r_joint, y)
    if name == "rascal":
        return rascal(log_r_hat, score_hat, log_r_joint, score_joint, y, alpha, score_mask)
    raise ValueError(f"unknown loss '{name}'; one of: {', '.join(LOSSES)}")
