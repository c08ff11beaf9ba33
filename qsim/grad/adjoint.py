"""Adjoint-method vector-Jacobian products (derivation: ``adjoint.md`` beside this file).

``f = Σ_{b,j} c_{bj} ⟨ψ_b|O_j|ψ_b⟩`` with ``ψ_b = U_K ··· U_1 ψ_0``; one forward pass and one
backward sweep give ``∂f/∂w`` (summed over the batch), ``∂f/∂x`` per sample and the state
cotangent, keeping two states in memory whatever the depth.  The sweep runs on the backend of
the registry (:func:`qsim.backends.get_backend`).
"""

from __future__ import annotations

from ..backends import get_backend, resolve_fusion
from ..circuit import Circuit
from ..observables import as_observables
from ..program import BACKWARD_FUSION, lower
from ..results import VJP, check_cotangents
from ..simulate import check_precision, resolve_dtype
from ..validate import check_batch

__all__ = ["VJP", "adjoint_vjp", "vjp", "check_cotangents"]


def adjoint_vjp(circuit: Circuit, observables, cotangents, weights=None, inputs=None, state=None, *,
        backend: str = "numba", precision: str = "double", real: bool | None = None,
        fusion: int | None = None) -> VJP:
    """Adjoint VJP of the exact state-vector expectation values of ``observables`` against
    ``cotangents (B, m)`` (the engine of :func:`qsim.grad.vjp`'s ``method="adjoint"``).

    The forward pass runs the program at ``fusion`` (default: the backend's); the backward sweep
    the program at ``min(fusion, BACKWARD_FUSION)`` (:data:`qsim.program.BACKWARD_FUSION`).
    """
    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    cot = check_cotangents(cotangents, b.size, len(obs))
    be = get_backend(backend)
    check_precision(precision, be)
    level = resolve_fusion(be, fusion)
    dtype = resolve_dtype(circuit, b.state, obs, precision, real)
    program = backward = None
    if level is not None:
        program, backward = lower(circuit, level), lower(circuit, min(level, BACKWARD_FUSION))
    values, gw, gx, gs = be.adjoint(circuit, program, backward, obs, cot, b.weights, b.inputs, b.state, b.size,
                                    dtype)
    return VJP(values, gw, gx, gs)


#: Former name of :func:`adjoint_vjp` (same function; :func:`qsim.grad.vjp` is the front door).
vjp = adjoint_vjp
