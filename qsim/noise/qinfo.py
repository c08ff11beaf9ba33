"""Quantum-information helpers on density matrices ``(B, N, N)`` (or one ``(N, N)``): purity,
partial trace, Uhlmann fidelity and trace distance.  Engine-independent NumPy."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..circuit import CircuitError

__all__ = ["purity", "partial_trace", "fidelity", "trace_distance", "sqrtm_psd"]


def _batched(rho) -> np.ndarray:
    rho = np.asarray(rho)
    return rho[None] if rho.ndim == 2 else rho


def purity(rho: np.ndarray) -> np.ndarray:
    """``Tr ρ²`` per sample ``(B,)``."""
    rho = _batched(rho)
    return np.real(np.einsum("bij,bji->b", rho, rho))


def partial_trace(rho: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """Reduced density matrices on the wires ``keep`` (in the given order) ``(B, 2**k, 2**k)``.

    Raises:
        CircuitError: repeated wires or wires outside the register.
    """
    rho = _batched(rho)
    B, N = rho.shape[0], rho.shape[1]
    n = int(round(math.log2(N)))
    keep = [int(w) for w in keep]
    if len(set(keep)) != len(keep) or any(not 0 <= w < n for w in keep):
        raise CircuitError(f"partial_trace: bad wires {keep} for {n} qubits")
    drop = [w for w in range(n) if w not in keep]
    t = rho.reshape((B,) + (2,) * (2 * n))
    order = [0] + [1 + w for w in keep] + [1 + w for w in drop] + [1 + n + w for w in keep] + [1 + n + w for w in drop]
    t = t.transpose(order).reshape(B, 2 ** len(keep), 2 ** len(drop), 2 ** len(keep), 2 ** len(drop))
    return np.einsum("bidjd->bij", t)


def sqrtm_psd(a: np.ndarray) -> np.ndarray:
    """``√a`` of positive semi-definite Hermitian matrices ``(..., N, N)`` (negative eigenvalues
    from round-off clipped to 0)."""
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))


def fidelity(rho: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Uhlmann fidelity ``(Tr √(√ρ σ √ρ))²`` per sample.

    ``sigma`` is density matrices (``(N, N)`` or ``(B, N, N)``) or pure states: a 1-D ``ψ``, or
    ``(B, N)`` when ``rho`` is 3-D; for a pure ``σ = |ψ⟩⟨ψ|`` this is ``⟨ψ|ρ|ψ⟩``.
    """
    rho = np.asarray(rho)
    sigma = np.asarray(sigma)
    pure = sigma.ndim == 1 or (sigma.ndim == 2 and rho.ndim == 3)
    rho = _batched(rho)
    if pure:
        s = sigma[None] if sigma.ndim == 1 else sigma
        return np.real(np.einsum("bi,bij,bj->b", s.conj(), rho, s))
    sigma = _batched(sigma)
    sr = sqrtm_psd(rho)
    m = sr @ sigma @ sr
    w = np.linalg.eigvalsh((m + np.conj(np.swapaxes(m, -1, -2))) / 2)
    return np.sum(np.sqrt(np.clip(w, 0.0, None)), axis=-1) ** 2


def trace_distance(rho: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``½ ‖ρ - σ‖₁`` per sample."""
    d = _batched(np.asarray(rho) - np.asarray(sigma))
    return 0.5 * np.sum(np.abs(np.linalg.eigvalsh((d + np.conj(np.swapaxes(d, -1, -2))) / 2)), axis=-1)
