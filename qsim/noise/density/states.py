"""Density-matrix states: ``vec(ρ)`` conversions, validation of given states, initial vectors, dtype.

``vec(ρ)[i·2**n + j] = ρ[i, j]`` (row-major): row qubits are wires ``0..n-1`` and column qubits
wires ``n..2n-1`` of a ``2n``-qubit register.
"""

from __future__ import annotations

import numpy as np

from ...circuit import Circuit, CircuitError
from ...validate import NORM_ATOL, check_batch, check_memory
from .plan import DensityPlan

__all__ = [
    "pure_density", "vec_to_matrix", "matrix_to_vec", "check_rho", "split_state", "initial_vectors",
    "is_real_data", "resolve_dtype", "TRACE_ATOL",
]

#: Largest accepted ``|Tr ρ - 1|`` and Hermiticity deviation of a given initial density matrix.
TRACE_ATOL = 1e-6


def pure_density(state: np.ndarray) -> np.ndarray:
    """``|ψ⟩⟨ψ|`` for ``state (B, N)`` → ``(B, N, N)``."""
    s = np.asarray(state)
    s = s[None] if s.ndim == 1 else s
    return np.einsum("bi,bj->bij", s, s.conj())


def vec_to_matrix(vec: np.ndarray, n_qubits: int) -> np.ndarray:
    """``(B, 4**n)`` → ``(B, 2**n, 2**n)`` (a view)."""
    N = 2**n_qubits
    return vec.reshape(vec.shape[0], N, N)


def matrix_to_vec(rho: np.ndarray) -> np.ndarray:
    """``(B, N, N)`` → ``(B, N²)`` row-major (``vec[i·N + j] = ρ[i, j]``)."""
    rho = np.asarray(rho)
    return rho.reshape(rho.shape[0], -1)


def check_rho(rho, n: int) -> np.ndarray:
    """``rho`` as ``(B, N, N)`` after checking shape, finiteness, unit trace and Hermiticity
    (within :data:`TRACE_ATOL`).

    Raises:
        CircuitError: naming the failed check (and the sample for the trace).
    """
    r = np.asarray(rho)
    N = 2**n
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3 or r.shape[1:] != (N, N):
        raise CircuitError(f"density matrix has shape {np.shape(rho)}, expected (B, {N}, {N}) for {n} qubits")
    if not np.all(np.isfinite(r)):
        raise CircuitError("density matrix has non-finite entries")
    tr = np.trace(r, axis1=1, axis2=2)
    dev = np.abs(tr - 1.0)
    if np.any(dev > TRACE_ATOL):
        b = int(np.argmax(dev))
        raise CircuitError(f"density matrix {b} has trace {complex(tr[b]):.9g}, expected 1")
    herm = np.max(np.abs(r - np.conj(np.swapaxes(r, 1, 2))))
    if herm > TRACE_ATOL:
        raise CircuitError(f"density matrix is not Hermitian (max |ρ - ρ†| = {herm:.3g})")
    return r


def split_state(circuit: Circuit, weights, inputs, state):
    """Validate; returns ``(Batch, psi | None, rho | None)`` (``state`` may be ``(B,N)`` or ``(B,N,N)``)."""
    if state is not None and np.ndim(state) == 3:
        rho = check_rho(state, circuit.n_qubits)
        b = check_batch(circuit, weights, inputs, None)
        if b.inputs is not None and b.size != rho.shape[0]:
            raise CircuitError(f"batch sizes disagree: inputs has {b.size} rows, density matrices {rho.shape[0]}")
        if b.inputs is None and rho.shape[0] != b.size:
            b = type(b)(b.weights, b.inputs, None, rho.shape[0])
        return b, None, rho
    b = check_batch(circuit, weights, inputs, state, norm_atol=NORM_ATOL)
    return b, b.state, None


def initial_vectors(n: int, B: int, psi, rho, dtype) -> np.ndarray:
    """``vec(ρ_0)`` ``(B, 4**n)`` in ``dtype`` (``|0…0⟩⟨0…0|`` by default), after the memory
    guard :func:`~qsim.validate.check_memory`."""
    check_memory(n, B, dtype, density=True)
    if rho is not None:
        v = matrix_to_vec(rho)
        v = v.real if np.dtype(dtype).kind == "f" else v
        return np.ascontiguousarray(np.broadcast_to(v, (B, v.shape[1])), dtype=dtype).copy()
    if psi is not None:
        v = matrix_to_vec(pure_density(psi))
        v = v.real if np.dtype(dtype).kind == "f" else v
        return np.ascontiguousarray(np.broadcast_to(v, (B, v.shape[1])), dtype=dtype).copy()
    st = np.zeros((B, 4**n), dtype=dtype)
    st[:, 0] = 1.0
    return st


def is_real_data(a) -> bool:
    """``None``, a real array, or a complex one with zero imaginary parts."""
    return a is None or not np.iscomplexobj(a) or not np.any(np.imag(a))


def resolve_dtype(pl: DensityPlan, psi, rho, real: bool | None):
    """float64 on the real path (real plan and initial state, ``real`` not ``False``), else complex128.

    Raises:
        CircuitError: ``real=True`` when the plan or the initial state is complex.
    """
    can = pl.real and is_real_data(psi) and is_real_data(rho)
    if real is True and not can:
        raise CircuitError("real=True but the circuit, channels or initial state are complex")
    return np.float64 if (can and real is not False) else np.complex128
