"""The Numba CPU backend: binds a :class:`~qsim.program.Program` and runs its kernels.

Forward: ``θ = program.angles(w, x)`` → :func:`~.numba_kernels.bind` (pass matrices, per
sample when inputs are read) → :func:`~.numba_kernels.run_passes` in place.
Adjoint: one forward pass, ``λ = Σ_j c_{bj} O_j ψ``, then one backward sweep over the passes
with :func:`~.numba_kernels.backward_pass`, which undoes each pass on ψ and λ and accumulates
``2 Re⟨λ|dF|ψ⟩`` per factor within the same sweep (two states in memory, whatever the depth).
"""

from __future__ import annotations

import numpy as np

from ..observables import Observable, pauli_table
from ..program import Program
from . import numba_kernels as K

__all__ = ["forward", "expvals", "adjoint", "factor_grads_to_params"]


def _matrices(program: Program, theta: np.ndarray, dtype, with_factors: bool):
    mats, fm, dfm = K.bind(theta, program.f_start, program.dim, program.m_off, program.f_off,
                           program.t_start, program.lam, program.t_off, program.tmat,
                           program.m_size, program.f_size, with_factors)
    if np.dtype(dtype).kind == "f":
        return mats.real.astype(dtype), fm.real.astype(dtype), dfm.real.astype(dtype)
    return mats.astype(dtype, copy=False), fm.astype(dtype, copy=False), dfm.astype(dtype, copy=False)


def initial_states(n_qubits: int, B: int, state: np.ndarray | None, dtype) -> np.ndarray:
    if state is None:
        st = np.zeros((B, 2**n_qubits), dtype=dtype)
        st[:, 0] = 1.0
        return st
    if np.dtype(dtype).kind == "f":
        return np.ascontiguousarray(state.real if np.iscomplexobj(state) else state, dtype=dtype).copy()
    return np.array(state, dtype=dtype, order="C", copy=True)


def forward(program: Program, weights, inputs, state, B: int, dtype, shift=None) -> np.ndarray:
    """Final states ``(B, 2**n)`` in ``dtype``."""
    theta = program.angles(weights, inputs, shift)
    st = initial_states(program.n_qubits, B, state, dtype)
    if program.n_passes:
        mats, _, _ = _matrices(program, theta, dtype, False)
        K.run_passes(st, mats, program.kind, program.width, program.bits, program.ctrl_mask,
                     program.ins_bits, program.n_ins, program.m_off)
    return st


def _tables(observables: tuple[Observable, ...], n_qubits: int, dtype):
    idx, coeff, flip, sign, ny = pauli_table(observables, n_qubits)
    phase = coeff * (1j ** ny)
    phase = phase.real.astype(dtype) if np.dtype(dtype).kind == "f" else phase.astype(dtype)
    return idx, flip, sign, phase


def expvals(states: np.ndarray, observables: tuple[Observable, ...], n_qubits: int) -> np.ndarray:
    """``⟨O_j⟩`` per sample, ``(B, m)``."""
    idx, flip, sign, phase = _tables(observables, n_qubits, states.dtype)
    per_term = K.pauli_expvals(states, flip, sign, phase)
    out = np.zeros((states.shape[0], len(observables)))
    np.add.at(out.T, idx, per_term.T)
    return out


def factor_grads_to_params(program: Program, gtheta: np.ndarray, B: int):
    """Chain rule ``θ_f = scale_f · v + offset_f``: factor gradients ``(B, F)`` → weights, inputs."""
    gw = np.zeros(program.n_weights)
    wm = program.src == 1
    if wm.any():
        np.add.at(gw, program.index[wm], (gtheta[:, wm] * program.scale[wm]).sum(axis=0))
    gx = None
    if program.n_inputs:
        gx = np.zeros((B, program.n_inputs))
        xm = program.src == 2
        if xm.any():
            np.add.at(gx.T, program.index[xm], (gtheta[:, xm] * program.scale[xm]).T)
    return gw, gx


def adjoint(program: Program, observables, cot: np.ndarray, weights, inputs, state, B: int, dtype):
    """Adjoint VJP.  Returns ``(values (B,m), grad_w (P,), grad_x (B,k)|None, grad_state (B,N)|None)``."""
    n = program.n_qubits
    theta = program.angles(weights, inputs)
    psi = initial_states(n, B, state, dtype)
    mats, fm, dfm = _matrices(program, theta, dtype, True)
    if program.n_passes:
        K.run_passes(psi, mats, program.kind, program.width, program.bits, program.ctrl_mask,
                     program.ins_bits, program.n_ins, program.m_off)
    values = expvals(psi, observables, n)
    idx, flip, sign, phase = _tables(observables, n, psi.dtype)
    lam = np.empty_like(psi)
    K.apply_observable_sum(psi, lam, flip, sign, phase, idx, np.ascontiguousarray(cot, dtype=np.float64))
    gtheta = np.zeros((B, program.n_factors))
    want_all = program.src != 0
    for p in range(program.n_passes - 1, -1, -1):
        f0, f1 = program.f_start[p], program.f_start[p + 1]
        g = K.backward_pass(psi, lam, fm, dfm, f0, f1, program.f_off, program.bits[p], program.width[p],
                            program.ctrl_mask[p], program.ins_bits[p], program.n_ins[p],
                            want_all[f0:f1].astype(np.bool_))
        gtheta[:, f0:f1] += g[:, : f1 - f0]
    gw, gx = factor_grads_to_params(program, gtheta, B)
    gs = 2 * lam if state is not None else None
    return values, gw, gx, gs


def apply_matrix(states: np.ndarray, matrix: np.ndarray, wires, n_qubits: int) -> np.ndarray:
    """Apply any ``d × d`` matrix (``(d, d)`` shared or ``(B, d, d)`` per sample; unitary or not,
    e.g. a Kraus superoperator) to ``wires`` of ``states (B, 2**n)`` in place; returns ``states``.

    The first wire is the most significant bit of the matrix index (``kron`` order).  This is
    the entry point for engines built on the state kernels (density matrices as ``2n``-qubit
    vectors, trajectories).
    """
    wires = tuple(int(w) for w in wires)
    k = len(wires)
    if not 1 <= k <= 4 or len(set(wires)) != k or min(wires) < 0 or max(wires) >= n_qubits:
        raise ValueError(f"apply_matrix: bad wires {wires} for {n_qubits} qubits")
    m = np.asarray(matrix)
    m = m.reshape((-1, 2**k, 2**k))
    if m.shape[0] not in (1, states.shape[0]):
        raise ValueError(f"apply_matrix: {m.shape[0]} matrices for a batch of {states.shape[0]}")
    flat = np.ascontiguousarray(m.reshape(m.shape[0], -1), dtype=states.dtype)
    bits = [n_qubits - 1 - w for w in wires]
    if k == 1:
        K.dense1(states, flat, 0, bits[0])
    elif k == 2:
        K.dense2(states, flat, 0, bits[0], bits[1])
    else:
        b4 = np.array(bits + [0] * (4 - k), dtype=np.int64)
        ins = np.array(sorted(bits) + [0] * (5 - k), dtype=np.int64)
        K.densek(states, flat, 0, b4, k, 0, ins, k)
    return states
