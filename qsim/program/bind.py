"""Binding: a program's angles become its pass matrices (and factor matrices), on the host.

For angles ``θ (B or 1, F)`` (:meth:`~qsim.program.lower.Program.angles`) every factor is
``F_f(θ) = Σ_k e^{-iθλ_k} T_k`` with derivative ``dF_f = Σ_k (-iλ_k) e^{-iθλ_k} T_k``, and every
pass is ``U = F_m ··· F_1``.  Shared passes (no input angle) are bound once, into row 0;
per-sample passes into every row.  Every backend that runs a lowered program (the Numba kernels,
the CuPy/xp engine) takes its matrices from here; the backward sweep's chain rule back to the
weights and inputs (:func:`factor_grads_to_params`) and a backend's fresh state array
(:func:`initial_states`) live here too, so no backend reaches into another.
"""

from __future__ import annotations

import numpy as np

from ..threads import default_wait_policy

default_wait_policy()          # before the first parallel kernel of this module can launch

from numba import njit, prange  # noqa: E402

from ..circuit import SRC_INPUT, SRC_WEIGHT  # noqa: E402
from ..validate import check_memory  # noqa: E402
from .lower import MAX_PASS_DIM, Program  # noqa: E402

__all__ = ["bind_kernel", "pass_matrices", "matrices", "factor_grads_to_params", "initial_states"]

_opts = dict(cache=True, nogil=True, fastmath=True)
#: Entries of one pass matrix at most (scratch of the binding kernel).
_SCRATCH = MAX_PASS_DIM * MAX_PASS_DIM


@njit(inline="always")
def _bind_pass(th, f0, f1, d, moff, f_off, t_start, lam, t_off, tmat, mrow, fmrow, dfmrow, with_factors,
               acc, cur, tmp):
    dd = d * d
    for i in range(dd):
        acc[i] = 0.0
    for i in range(d):
        acc[i * d + i] = 1.0
    for f in range(f0, f1):
        for i in range(dd):
            cur[i] = 0.0
        for t in range(t_start[f], t_start[f + 1]):
            ph = np.exp(-1j * th[f] * lam[t])
            o = t_off[t]
            for i in range(dd):
                cur[i] += ph * tmat[o + i]
            if with_factors:
                dph = -1j * lam[t] * ph
                for i in range(dd):
                    dfmrow[f_off[f] + i] += dph * tmat[o + i]
        if with_factors:
            for i in range(dd):
                fmrow[f_off[f] + i] = cur[i]
        for r in range(d):
            for c in range(d):
                s = 0j
                for q in range(d):
                    s += cur[r * d + q] * acc[q * d + c]
                tmp[r * d + c] = s
        for i in range(dd):
            acc[i] = tmp[i]
    for i in range(dd):
        mrow[moff + i] = acc[i]


@njit(parallel=True, **_opts)
def bind_kernel(theta, per, f_start, dim, m_off, f_off, t_start, lam, t_off, tmat, m_size, f_size, with_factors):
    """Pass matrices and, if ``with_factors``, factor matrices ``F_f`` and derivatives ``dF_f``.

    ``F_f(θ) = Σ_k e^{-iθλ_k} T_k``, ``dF_f = Σ_k (-iλ_k) e^{-iθλ_k} T_k``, pass ``U = F_m···F_1``.
    Shared passes (``per[p]`` false) are bound once into row 0; per-sample passes into every row.
    """
    nb = theta.shape[0]
    npass = dim.shape[0]
    mats = np.zeros((nb, m_size), dtype=np.complex128)
    nf = nb if with_factors else 1
    fm = np.zeros((nf, f_size), dtype=np.complex128)
    dfm = np.zeros((nf, f_size), dtype=np.complex128)
    for p in prange(npass):
        if not per[p]:
            acc = np.empty(_SCRATCH, dtype=np.complex128)
            cur = np.empty(_SCRATCH, dtype=np.complex128)
            tmp = np.empty(_SCRATCH, dtype=np.complex128)
            _bind_pass(theta[0], f_start[p], f_start[p + 1], dim[p], m_off[p], f_off, t_start, lam, t_off, tmat,
                       mats[0], fm[0], dfm[0], with_factors,
                       acc, cur, tmp)
    for b in prange(nb):
        acc = np.empty(_SCRATCH, dtype=np.complex128)
        cur = np.empty(_SCRATCH, dtype=np.complex128)
        tmp = np.empty(_SCRATCH, dtype=np.complex128)
        for p in range(npass):
            if per[p]:
                _bind_pass(theta[b], f_start[p], f_start[p + 1], dim[p], m_off[p], f_off, t_start, lam, t_off,
                           tmat, mats[b], fm[b] if with_factors else fm[0], dfm[b] if with_factors else dfm[0],
                           with_factors, acc, cur, tmp)
    return mats, fm, dfm


def pass_matrices(program: Program, theta: np.ndarray, with_factors: bool):
    """Complex128 ``(mats (R, m_size), fm (R', f_size), dfm (R', f_size))`` of :func:`bind_kernel`.

    ``R`` is the number of angle rows (``B`` when the program reads inputs, else 1); ``fm``/``dfm``
    have one row unless ``with_factors``.
    """
    return bind_kernel(theta, program.per_sample_pass, program.f_start, program.dim, program.m_off, program.f_off,
                       program.t_start, program.lam, program.t_off, program.tmat, program.m_size, program.f_size,
                       with_factors)


def matrices(program: Program, theta: np.ndarray, dtype, with_factors: bool):
    """:func:`pass_matrices` cast to ``dtype`` (the real part on the real fast path)."""
    mats, fm, dfm = pass_matrices(program, theta, with_factors)
    if np.dtype(dtype).kind == "f":
        return mats.real.astype(dtype), fm.real.astype(dtype), dfm.real.astype(dtype)
    return mats.astype(dtype, copy=False), fm.astype(dtype, copy=False), dfm.astype(dtype, copy=False)


def factor_grads_to_params(program: Program, gtheta: np.ndarray, B: int):
    """Chain rule ``θ_f = scale_f · v + offset_f``: factor gradients ``(B, F)`` → ``(grad_w (P,), grad_x (B, k)|None)``.

    The vectorised form of :func:`qsim.results.scatter` over every factor of the program.
    """
    gw = np.zeros(program.n_weights)
    wm = program.src == SRC_WEIGHT
    if wm.any():
        np.add.at(gw, program.index[wm], (gtheta[:, wm] * program.scale[wm]).sum(axis=0))
    gx = None
    if program.n_inputs:
        gx = np.zeros((B, program.n_inputs))
        xm = program.src == SRC_INPUT
        if xm.any():
            np.add.at(gx.T, program.index[xm], (gtheta[:, xm] * program.scale[xm]).T)
    return gw, gx


def initial_states(n_qubits: int, B: int, state: np.ndarray | None, dtype) -> np.ndarray:
    """A fresh ``(B, 2**n)`` state array in ``dtype``: ``|0…0⟩`` or a copy of ``state``
    (after the memory guard :func:`~qsim.validate.check_memory`)."""
    check_memory(n_qubits, B, dtype)
    if state is None:
        st = np.zeros((B, 2**n_qubits), dtype=dtype)
        st[:, 0] = 1.0
        return st
    if np.dtype(dtype).kind == "f":
        return np.ascontiguousarray(state.real if np.iscomplexobj(state) else state, dtype=dtype).copy()
    return np.array(state, dtype=dtype, order="C", copy=True)
