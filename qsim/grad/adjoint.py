"""Adjoint-method vector-Jacobian products (derivation: ``adjoint.md`` beside this file).

``f = Σ_{b,j} c_{bj} ⟨ψ_b|O_j|ψ_b⟩`` with ``ψ_b = U_K ··· U_1 ψ_0``; one forward pass and one
backward sweep give ``∂f/∂w`` (summed over the batch), ``∂f/∂x`` per sample and the state
cotangent, keeping two states in memory whatever the depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..circuit import Circuit, CircuitError
from ..observables import as_observables
from ..program import BACKWARD_FUSION, lower
from ..simulate import _check_fusion, check_precision, resolve_dtype
from ..validate import check_batch

__all__ = ["VJP", "vjp", "check_cotangents"]


@dataclass(frozen=True)
class VJP:
    """Result of a VJP.

    Attributes:
        values: the expectation values ``(B, m)`` of the forward pass.
        weights: ``∂f/∂w`` ``(P,)``, summed over the batch.
        inputs: ``∂f/∂x`` ``(B, k)`` or ``None`` when the circuit reads no inputs.
        state: ``2λ_0 = ∂f/∂Re ψ_0 + i ∂f/∂Im ψ_0`` ``(B, 2**n)`` or ``None`` when no initial state
            was given (for a real state the gradient is its real part).
    """

    values: np.ndarray
    weights: np.ndarray
    inputs: np.ndarray | None
    state: np.ndarray | None


def check_cotangents(cotangents, B: int, m: int) -> np.ndarray:
    c = np.asarray(cotangents, dtype=np.float64)
    if c.ndim == 1 and B == 1:
        c = c[None]
    if c.shape != (B, m):
        raise CircuitError(f"cotangents have shape {np.shape(cotangents)}, expected ({B}, {m})")
    if not np.all(np.isfinite(c)):
        raise CircuitError("cotangents contain non-finite values")
    return c


def vjp(circuit: Circuit, observables, cotangents, weights=None, inputs=None, state=None, *,
        backend: str = "numba", precision: str = "double", real: bool | None = None,
        fusion: int | None = None) -> VJP:
    """Adjoint VJP of the expectation values of ``observables`` against ``cotangents (B, m)``."""
    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    cot = check_cotangents(cotangents, b.size, len(obs))
    check_precision(precision, backend)
    if backend == "numpy":
        from ..backends import reference

        gw, gx, gs = reference.adjoint_vjp(circuit, obs, cot, b.weights, b.inputs, b.state, b.size)
        values = reference.expval(circuit, obs, b.weights, b.inputs, b.state, b.size)
        return VJP(values, gw, gx, gs)
    if backend == "cupy":
        from ..backends import cupy_backend as engine
    elif backend == "numba":
        from ..backends import numba_backend as engine
    else:
        raise CircuitError(f"backend {backend!r} must be 'numba', 'numpy' or 'cupy'")
    dtype = resolve_dtype(circuit, b.state, obs, precision, real)
    fusion = _check_fusion(fusion, backend)
    values, gw, gx, gs = engine.adjoint(lower(circuit, fusion), obs, cot, b.weights, b.inputs, b.state, b.size,
                                        dtype, backward_program=lower(circuit, min(fusion, BACKWARD_FUSION)))
    return VJP(values, gw, gx, gs)
