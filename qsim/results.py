"""What every gradient engine returns, and the checks and accumulation its callers share.

This module sits below every engine (state vectors, density matrices, parameter shift), so an
engine can build a :class:`VJP` without importing another engine.

``f = Σ_{b,j} c_{bj} ⟨O_j⟩_b`` for cotangents ``c (B, m)``; an angle ``θ = scale · v + offset``
read from a weight (``v = w_i``, shared by the batch) or an input (``v = x_{b,i}``) passes its
gradient on by the chain rule ``∂f/∂v = scale · ∂f/∂θ`` (:func:`scatter`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .circuit import SRC_INPUT, SRC_WEIGHT, Param
from .errors import CircuitError

__all__ = ["VJP", "check_cotangents", "scatter"]


@dataclass(frozen=True)
class VJP:
    """Result of a VJP.

    Attributes:
        values: the expectation values ``(B, m)`` of the forward pass.
        weights: ``∂f/∂w`` ``(P,)``, summed over the batch (``None`` when not requested).
        inputs: ``∂f/∂x`` ``(B, k)`` or ``None`` when the circuit reads no inputs (or they were
            not requested).
        state: ``2λ_0 = ∂f/∂Re ψ_0 + i ∂f/∂Im ψ_0`` ``(B, 2**n)`` or ``None`` when no initial state
            was given (for a real state the gradient is its real part).
    """

    values: np.ndarray
    weights: np.ndarray | None
    inputs: np.ndarray | None
    state: np.ndarray | None


def check_cotangents(cotangents, B: int, m: int) -> np.ndarray:
    """``cotangents`` as a float64 ``(B, m)`` array (a ``(m,)`` vector is one sample when ``B = 1``).

    Raises:
        CircuitError: on a wrong shape or non-finite entries.
    """
    c = np.asarray(cotangents, dtype=np.float64)
    if c.ndim == 1 and B == 1:
        c = c[None]
    if c.shape != (B, m):
        raise CircuitError(f"cotangents have shape {np.shape(cotangents)}, expected ({B}, {m})")
    if not np.all(np.isfinite(c)):
        raise CircuitError("cotangents contain non-finite values")
    return c


def scatter(ref: Param, g: np.ndarray, grad_w: np.ndarray | None, grad_x: np.ndarray | None) -> None:
    """Accumulate the gradient ``g = ∂f/∂θ`` (``(B,)``, per sample) of one angle into the parameters.

    ``θ = scale · w_i + offset``: ``grad_w[i] += scale · Σ_b g_b``; ``θ = scale · x_{b,i} + offset``:
    ``grad_x[:, i] += scale · g``; a constant angle passes nothing on.  A ``None`` target (a
    gradient not requested) is skipped.
    """
    if ref.source == SRC_WEIGHT:
        if grad_w is not None:
            grad_w[ref.index] += ref.scale * np.sum(g)
    elif ref.source == SRC_INPUT and grad_x is not None:
        grad_x[:, ref.index] += ref.scale * g
