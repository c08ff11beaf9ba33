"""Observables on ``vec(ρ)``: expectations ``Tr(O ρ)``, the adjoint's ``vec(Σ_j c_j O_j)``,
and probabilities ``diag ρ``.

For a Pauli term ``P|k⟩ = c i^{n_Y} (-1)^{|k∧s|} |k⊕f⟩`` (flip mask ``f``, sign mask ``s``):
``Tr(Pρ) = c i^{n_Y} Σ_k (-1)^{|k∧s|} ρ[k, k⊕f]``, and ``vec(P)[(k⊕f)·N + k] = c i^{n_Y} (-1)^{|k∧s|}``.
"""

from __future__ import annotations

import math

import numpy as np

from ...observables import as_observables, parity_signs, pauli_table
from .states import matrix_to_vec

__all__ = ["vec_expvals", "observable_vectors", "expval_rho", "probabilities_rho"]


def vec_expvals(vec: np.ndarray, observables, n: int) -> np.ndarray:
    """``Tr(O_j ρ_b)`` ``(B, m)`` from ``vec(ρ) (B, 4**n)``."""
    obs = as_observables(observables)
    idx, coeff, flip, sign, ny = pauli_table(obs, n)
    N = 2**n
    k = np.arange(N, dtype=np.int64)
    out = np.zeros((vec.shape[0], len(obs)))
    for t in range(len(idx)):
        g = vec[:, k * N + (k ^ flip[t])]
        val = (g @ parity_signs(n, int(sign[t]))) * (coeff[t] * (1j ** ny[t]))
        out[:, idx[t]] += np.real(val)
    return out


def observable_vectors(observables, cot: np.ndarray, n: int, real: bool) -> np.ndarray:
    """``Λ_b = vec(Σ_j c_{bj} O_j)`` ``(B, 4**n)``, so that ``Σ_j c_{bj} Tr(O_j ρ_b) = ⟨Λ_b, vec ρ_b⟩``.

    On the real path only the real part of ``O`` is kept (``Tr(Oρ) = Tr(Re(O) ρ)`` for real
    symmetric ``ρ``).
    """
    obs = as_observables(observables)
    idx, coeff, flip, sign, ny = pauli_table(obs, n)
    N = 2**n
    B = cot.shape[0]
    k = np.arange(N, dtype=np.int64)
    lam = np.zeros((B, N * N), dtype=np.complex128)
    for t in range(len(idx)):
        w = cot[:, idx[t]] * coeff[t] * (1j ** ny[t])                  # (B,)
        lam[:, (k ^ flip[t]) * N + k] += w[:, None] * parity_signs(n, int(sign[t]))[None, :]
    return np.ascontiguousarray(lam.real) if real else lam


def expval_rho(rho: np.ndarray, observables) -> np.ndarray:
    """``Tr(O_j ρ_b)`` for density matrices ``(B, N, N)``."""
    rho = np.asarray(rho)
    rho = rho[None] if rho.ndim == 2 else rho
    n = int(round(math.log2(rho.shape[1])))
    return vec_expvals(matrix_to_vec(rho), observables, n)


def probabilities_rho(rho: np.ndarray) -> np.ndarray:
    """``diag ρ`` as float64 ``(B, N)`` (clipped at 0 against round-off)."""
    rho = np.asarray(rho)
    rho = rho[None] if rho.ndim == 2 else rho
    return np.clip(np.real(np.diagonal(rho, axis1=1, axis2=2)), 0.0, None)
