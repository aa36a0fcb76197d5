"""Integrated gradients (Sundararajan, Taly & Yan 2017; Vattis+21 eq 15), computed by captum.

The attribution of input element ``i`` is

    IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x')) / dx_i da,

with ``x'`` the baseline. By the fundamental theorem of calculus the attributions of one input sum
to ``F(x) - F(x')`` (completeness), up to the error of the quadrature of the path integral.
"""

from __future__ import annotations

from typing import Callable

import torch

#: Quadrature nodes along the straight path from the baseline to the input.
DEFAULT_STEPS = 32
#: captum's quadrature rule of the path integral: Gauss-Legendre nodes and weights, exact for
#: polynomials of degree 2 * steps - 1 along the path (captum also offers "riemann_left",
#: "riemann_right", "riemann_middle" and "riemann_trapezoid").
DEFAULT_METHOD = "gausslegendre"


def integrated_gradients(model: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor, *,
                         target: int | None = None, baseline: torch.Tensor | None = None,
                         steps: int = DEFAULT_STEPS, method: str = DEFAULT_METHOD,
                         internal_batch_size: int | None = None) -> torch.Tensor:
    """Integrated gradients of a model's output with respect to each input element.

    Parameters
    ----------
    model : callable
        Maps an (N, ...) batch to (N,) scalars or to (N, K) outputs (e.g. class logits) of
        which ``target`` picks one column. Put a ``torch.nn.Module`` in eval mode first.
    inputs : torch.Tensor
        (N, ...) inputs, in the units the model reads (e.g. after the training normalisation).
    target : int, optional
        Output column to attribute, for a model with (N, K) outputs; None for (N,) outputs.
    baseline : torch.Tensor, optional
        The reference input ``x'``, shaped like ``inputs`` (or broadcastable to one input); the
        all-zero input by default.
    steps : int
        Quadrature nodes along the path from the baseline to each input.
    method : str
        captum's quadrature rule (:data:`DEFAULT_METHOD` or one of the Riemann rules).
    internal_batch_size : int, optional
        Path points per forward pass; by default ``steps`` (the whole path of one input per
        pass), which bounds memory whatever the number of inputs.

    Returns
    -------
    torch.Tensor
        Attributions shaped like ``inputs``, detached, in the units of the model's output per
        input element; each input's attributions sum to ``F(x) - F(x')`` up to the quadrature
        error.
    """
    from captum.attr import IntegratedGradients

    if steps < 1:
        raise ValueError(f"integrated gradients need at least one step, got steps={steps}")
    reference = torch.zeros_like(inputs) if baseline is None else baseline.to(inputs).expand_as(inputs)
    attributions = IntegratedGradients(model).attribute(inputs, baselines=reference, target=target, n_steps=steps,
                                                        method=method,
                                                        internal_batch_size=internal_batch_size or steps)
    return attributions.detach()
