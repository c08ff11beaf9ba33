"""Gradients through noise: the adjoint (Heisenberg-picture) VJP on the density-matrix engine
(the engine of :func:`qsim.grad.vjp` with ``noise=`` and ``method="adjoint"``).

**Adjoint VJP.**  With ``vec ρ_K = S_K ··· S_1 vec ρ_0`` (fused blocks ``S_k``, some depending on
angles) and ``f = Σ_{b,j} c_{bj} Tr(O_j ρ_{K,b}) = ⟨Λ_K, vec ρ_K⟩``, ``Λ_K = vec(Σ_j c_{bj} O_j)``,
the observable is propagated backwards by the *adjoint channels*
``Λ_{k-1} = S_k† Λ_k`` (the Heisenberg picture: ``S†`` is the superoperator of
``X ↦ Σ_a K_a† X K_a``), and

.. math::  \\frac{∂f}{∂θ} = ⟨Λ_k, \\frac{∂S_k}{∂θ} ρ_{k-1}⟩
           = \\sum_{(r,c) ∈ \\text{pattern}} C_k[r, c]\\, \\frac{∂S_k[r, c]}{∂θ},\\quad
           C_k[r, c] = \\sum_{\\text{groups } g} \\overline{Λ_k[g, r]}\\, ρ_{k-1}[g, c],

where ``∂S_k/∂θ`` of a fused block is ``S_m ··· ∂S_e ··· S_1`` (product rule inside the block,
``∂(U ⊗ Ū) = ∂U ⊗ Ū + U ⊗ \\overline{∂U}``).  Channels are not invertible, so the forward states
``ρ_{k-1}`` cannot be uncomputed as in the state-vector adjoint: they are stored, all of them
when they fit in :data:`ADJOINT_MEMORY_BYTES`, otherwise every ``⌈√K⌉``-th one (checkpoints) with
the segment in between recomputed during the backward sweep (≈ 2 forward passes of work,
``O(√K)`` states).  The batch is processed in chunks when even that does not fit.

The state cotangent is ``Λ_0``: ``∂f/∂ρ_0`` as the Heisenberg observable ``O_H`` (``f = Tr(O_H ρ_0)``);
for a pure initial state the VJP returns ``2 O_H ψ_0`` like :func:`qsim.grad.vjp`.

**Parameter shift** needs no code here: angle-independent channels keep ``⟨O⟩(θ)`` a sinusoid
in each angle, so the two-term rule holds exactly on noisy circuits, and :func:`qsim.grad.vjp`
with ``method="param_shift"`` applies it to :func:`qsim.expval` with ``noise=`` (unbiased with
shots).
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..circuit import Circuit
from ..observables import as_observables
from ..results import VJP, check_cotangents, scatter
from .density.bind import bind
from .density.observables import observable_vectors, vec_expvals
from .density.plan import plan
from .density.run import adjoint_values, apply_adjoint_pass, correlate, run
from .density.states import initial_vectors, resolve_dtype, split_state
from .models import NoiseModel, NoisyCircuit, as_noisy

__all__ = ["adjoint_vjp_density", "ADJOINT_MEMORY_BYTES"]

log = logging.getLogger(__name__)

#: Memory the adjoint VJP may use for stored density matrices (all forward states when they
#: fit, else √K checkpoints; the batch is chunked beyond that).
ADJOINT_MEMORY_BYTES = 1 << 30


def _chunks(B: int, per_row_bytes: int, n_states: int, budget: int) -> int:
    rows = max(1, budget // max(1, per_row_bytes * n_states))
    return min(B, rows)


def adjoint_vjp_density(circuit: Circuit | NoisyCircuit, observables, cotangents, weights=None, inputs=None,
                        state=None, *, model: NoiseModel | None = None, real: bool | None = None,
                        fusion: bool = True, memory_bytes: int = ADJOINT_MEMORY_BYTES) -> VJP:
    """Adjoint VJP of ``Tr(O_j ρ_b)`` (no readout map: apply :func:`~qsim.measure.readout_observables`
    first for measured expectations) against ``cotangents (B, m)``.

    Returns:
        :class:`~qsim.grad.adjoint.VJP`: ``values (B, m)``, ``weights (P,)``, ``inputs (B, k) | None``,
        ``state``: ``2 O_H ψ_0 (B, N)`` for pure initial states, ``O_H (B, N, N)`` for density
        matrices, ``None`` by default.
    """
    noisy = as_noisy(circuit, model)
    obs = as_observables(observables)
    n = noisy.n_qubits
    b, psi, rho = split_state(noisy.circuit, weights, inputs, state)
    cot = check_cotangents(cotangents, b.size, len(obs))
    pl = plan(noisy, fusion)
    dtype = resolve_dtype(pl, psi, rho, real)
    is_real = np.dtype(dtype).kind == "f"
    B = b.size
    Kp = pl.n_passes
    row_bytes = (4**n) * np.dtype(dtype).itemsize
    store_all = (Kp + 2) * row_bytes <= memory_bytes
    seg = 1 if store_all else max(1, math.isqrt(max(Kp - 1, 0)) + 1)
    n_states = (Kp + 2) if store_all else (Kp // seg + seg + 3)
    chunk = _chunks(B, row_bytes, n_states, memory_bytes)
    if chunk * row_bytes * n_states > memory_bytes:
        log.warning("adjoint_vjp_density: %d stored density matrices of %.1f MiB exceed the memory budget",
                    n_states, row_bytes / 2**20)
    values = np.zeros((B, len(obs)))
    gw = np.zeros(noisy.n_weights)
    gx = np.zeros((B, noisy.n_inputs)) if noisy.n_inputs else None
    gs = None
    if state is not None:
        gs = np.zeros((B, 2**n, 2**n) if rho is not None else (B, 2**n), dtype=complex)
    for b0 in range(0, B, chunk):
        b1 = min(B, b0 + chunk)
        xi = None if b.inputs is None else b.inputs[b0:b1]
        ps = None if psi is None else psi[b0:b1]
        rs = None if rho is None else (rho[b0:b1] if rho.shape[0] == B else rho)
        v, w_, x_, s_ = _adjoint_chunk(pl, noisy, obs, cot[b0:b1], b.weights, xi, ps, rs, b1 - b0, dtype, seg,
                                       is_real)
        values[b0:b1] = v
        gw += w_
        if gx is not None:
            gx[b0:b1] = x_
        if gs is not None:
            gs[b0:b1] = s_
    if gs is not None and is_real:
        gs = gs.real
    return VJP(values, gw, gx, gs)


def _adjoint_chunk(pl, noisy, obs, cot, weights, inputs, psi, rho, B, dtype, seg, is_real):
    n = noisy.n_qubits
    Kp = pl.n_passes
    st = initial_vectors(n, B, psi, rho, dtype)
    bound = bind(pl, noisy, weights, inputs, B, dtype, True)
    vals = bound.vals
    # forward, keeping checkpoints: ckpt[s] = state before pass s*seg
    ckpt = {}
    for p0 in range(0, Kp, seg):
        ckpt[p0] = st.copy()
        run(pl, st, vals, p0, min(Kp, p0 + seg))
    values = vec_expvals(st, obs, n)
    lam = observable_vectors(obs, cot, n, is_real).astype(dtype, copy=False)
    lam = np.ascontiguousarray(lam)
    del st
    derivs_by_pass: dict[int, list] = {}
    for p, ei, dv in bound.derivs:
        derivs_by_pass.setdefault(p, []).append((ei, dv))
    va, ra, ca = adjoint_values(pl, vals)
    gw = np.zeros(noisy.n_weights)
    gx = np.zeros((B, noisy.n_inputs)) if noisy.n_inputs else None
    for p0 in sorted(ckpt, reverse=True):
        p1 = min(Kp, p0 + seg)
        states = [ckpt.pop(p0)]
        for p in range(p0, p1 - 1):             # states[i] = ρ before pass p0 + i
            nxt = states[-1].copy()
            run(pl, nxt, vals, p, p + 1)
            states.append(nxt)
        for p in range(p1 - 1, p0 - 1, -1):
            rho_before = states.pop()
            if p in derivs_by_pass:
                C = correlate(pl, lam, rho_before, p)
                for ei, dv in derivs_by_pass[p]:
                    g = np.real(np.sum(C * dv, axis=1))              # (B,)
                    e = pl.elems[ei]
                    scatter(noisy.instructions[e.index].params[e.pidx], g, gw, gx)
            apply_adjoint_pass(pl, lam, va, ra, ca, p)
    N = 2**n
    gs = None
    if psi is not None:
        lam_mat = lam.reshape(B, N, N)
        gs = 2.0 * np.einsum("bij,bj->bi", lam_mat, psi)
    elif rho is not None:
        gs = lam.reshape(B, N, N).copy()
    return values, gw, gx, gs
