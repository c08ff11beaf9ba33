"""Gradients through noise: adjoint (Heisenberg-picture) VJP on the density-matrix engine and
parameter-shift on noisy circuits.

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

**Parameter shift.**  Angle-independent channels keep ``⟨O⟩(θ)`` a sinusoid in each angle, so
the two-term rule of :mod:`qsim.grad.param_shift` holds exactly on noisy circuits; with shots it
is an unbiased estimator of the gradient.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..circuit import Circuit, CircuitError, Const, Input, Weight
from ..grad.adjoint import VJP, check_cotangents
from ..grad.param_shift import param_shift_vjp, shifted_circuits
from ..observables import as_observables
from . import density as D
from .models import NoiseModel, NoisyCircuit, as_noisy

__all__ = ["adjoint_vjp_density", "param_shift_vjp_noisy", "ADJOINT_MEMORY_BYTES"]

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
    """Adjoint VJP of ``Tr(O_j ρ_b)`` (no readout map: apply :func:`~qsim.noise.shots.readout_observables`
    first for measured expectations) against ``cotangents (B, m)``.

    Returns:
        :class:`~qsim.grad.adjoint.VJP`: ``values (B, m)``, ``weights (P,)``, ``inputs (B, k) | None``,
        ``state``: ``2 O_H ψ_0 (B, N)`` for pure initial states, ``O_H (B, N, N)`` for density
        matrices, ``None`` by default.
    """
    noisy = as_noisy(circuit, model)
    obs = as_observables(observables)
    n = noisy.n_qubits
    b, psi, rho = D._split_state(noisy.circuit, weights, inputs, state)
    cot = check_cotangents(cotangents, b.size, len(obs))
    pl = D.plan(noisy, fusion)
    dtype = D._resolve_dtype(pl, psi, rho, real)
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
    st = D.initial_vectors(n, B, psi, rho, dtype)
    bound = D._bind(pl, noisy, weights, inputs, B, dtype, True)
    vals = bound.vals
    # forward, keeping checkpoints: ckpt[s] = state before pass s*seg
    ckpt = {}
    for p0 in range(0, Kp, seg):
        ckpt[p0] = st.copy()
        D._run(pl, st, vals, p0, min(Kp, p0 + seg))
    values = D.vec_expvals(st, obs, n)
    lam = D.observable_vectors(obs, cot, n, is_real).astype(dtype, copy=False)
    lam = np.ascontiguousarray(lam)
    del st
    derivs_by_pass: dict[int, list] = {}
    for p, ei, dv in bound.derivs:
        derivs_by_pass.setdefault(p, []).append((ei, dv))
    va, ra, ca = D._adjoint_values(pl, vals)
    gw = np.zeros(noisy.n_weights)
    gx = np.zeros((B, noisy.n_inputs)) if noisy.n_inputs else None
    for p0 in sorted(ckpt, reverse=True):
        p1 = min(Kp, p0 + seg)
        states = [ckpt.pop(p0)]
        for p in range(p0, p1 - 1):             # states[i] = ρ before pass p0 + i
            nxt = states[-1].copy()
            D._run(pl, nxt, vals, p, p + 1)
            states.append(nxt)
        for p in range(p1 - 1, p0 - 1, -1):
            rho_before = states.pop()
            if p in derivs_by_pass:
                C = D._correlate(pl, lam, rho_before, p)
                for ei, dv in derivs_by_pass[p]:
                    g = np.real(np.sum(C * dv, axis=1))              # (B,)
                    e = pl.elems[ei]
                    prm = noisy.instructions[e.index].params[e.pidx]
                    if isinstance(prm, Weight):
                        gw[prm.index] += prm.scale * g.sum()
                    elif isinstance(prm, Input):
                        gx[:, prm.index] += prm.scale * g
            D._apply_adjoint_pass(pl, lam, va, ra, ca, p)
    N = 2**n
    gs = None
    if psi is not None:
        O = lam.reshape(B, N, N)
        gs = 2.0 * np.einsum("bij,bj->bi", O, psi)
    elif rho is not None:
        gs = lam.reshape(B, N, N).copy()
    return values, gw, gx, gs


def param_shift_vjp_noisy(circuit: Circuit, observables, cotangents, weights=None, inputs=None, state=None, *,
                          model: NoiseModel | None = None, shots: int | None = None, seed=None,
                          engine: str = "density", trajectories: int | None = None, fusion: bool = True) -> VJP:
    """Parameter-shift VJP of the *measured* noisy expectations (readout included), exact with
    ``shots=None`` or an unbiased shot estimate (fresh ``shots`` shots per shifted circuit, seeded).

    Uses :func:`qsim.grad.param_shift_vjp` with an ``evaluate`` that applies ``model`` to each
    shifted circuit, so the noise follows the gates.  ``values`` are the unshifted evaluation.
    """
    from .api import expval_noisy

    if isinstance(circuit, NoisyCircuit):
        raise CircuitError("param_shift_vjp_noisy needs the noise-free Circuit and a model (the shifted "
                           "circuits are rebuilt)")
    obs = as_observables(observables)
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    m = model or NoiseModel()

    def evaluate(c: Circuit) -> np.ndarray:
        return expval_noisy(c, obs, weights, inputs, state, model=m, shots=shots, seed=rng, method=engine,
                            trajectories=trajectories, fusion=fusion)

    if state is not None and np.ndim(state) == 3:
        return _param_shift_rho(circuit, obs, cotangents, weights, inputs, evaluate)
    return param_shift_vjp(circuit, obs, cotangents, weights, inputs, state, evaluate=evaluate)


def _param_shift_rho(circuit, obs, cotangents, weights, inputs, evaluate) -> VJP:
    """The same rule when the initial states are density matrices (``qsim.grad`` takes pure states)."""
    values = evaluate(circuit)
    B = values.shape[0]
    cot = check_cotangents(cotangents, B, len(obs))
    gw = np.zeros(circuit.n_weights)
    gx = np.zeros((B, circuit.n_inputs)) if circuit.n_inputs else None
    for p, r, cp, cm in shifted_circuits(circuit):
        g = (r * (evaluate(cp) - evaluate(cm)) * cot).sum(axis=1) * p.scale
        if isinstance(p, Weight):
            gw[p.index] += g.sum()
        elif not isinstance(p, Const):
            gx[:, p.index] += g
    return VJP(values, gw, gx, None)
