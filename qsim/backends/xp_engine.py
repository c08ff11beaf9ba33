"""A pass executor over any NumPy-compatible array module ``xp`` (CuPy on a GPU, NumPy in tests).

It runs the same lowered :class:`~qsim.program.Program` as the Numba backend, pass by pass, with
each pass applied as its dense ``D × D`` matrix (controls embedded) by batched matrix products on
the state viewed as a tensor ``(B, 2, ..., 2)``: move the pass's qubit axes last, reshape to
``(B, rest, D)``, multiply by ``Mᵀ``, move back.  On a GPU every pass is one cuBLAS batched GEMM
plus two transposes; the matrices come from :mod:`qsim.program.bind` on the host (tiny) and are
copied once per call.  The adjoint sweep undoes each pass factor by factor with
``ψ ← F† ψ``, ``g = 2 Re ⟨λ|dF|ψ⟩``, ``λ ← F† λ`` (``qsim/grad/adjoint.md``).
"""

from __future__ import annotations

import numpy as np

from ..gates import embed_controlled
from ..observables import parity_signs
from ..precision import PRECISIONS
from ..program.bind import factor_grads_to_params, initial_states, matrices
from ..program.lower import GPU_FUSION, KIND_CTRL, KIND_CTRL_DIAG, KIND_CTRL_X, Program
from ..validate import check_memory

__all__ = ["forward", "expvals", "adjoint", "to_numpy", "XPBackend"]

_CONTROLLED = (KIND_CTRL, KIND_CTRL_X, KIND_CTRL_DIAG)


def _wires(program: Program, p: int) -> tuple[int, ...]:
    """Qubit wires of pass ``p`` in matrix order (controls first for controlled passes)."""
    n = program.n_qubits
    w = int(program.width[p])
    targets = [n - 1 - int(b) for b in program.bits[p, :w]]
    if program.kind[p] in _CONTROLLED:
        cm = int(program.ctrl_mask[p])
        controls = [n - 1 - b for b in range(n) if (cm >> b) & 1]
        return tuple(controls + targets)
    return tuple(targets)


def _embed(program: Program, p: int, m: np.ndarray, fill: float = 1.0) -> np.ndarray:
    """``(R, d, d)`` pass matrices → full matrices on ``_wires`` (controls embedded with ``fill``:
    1 for a pass or factor, 0 for a factor's derivative)."""
    if program.kind[p] not in _CONTROLLED:
        return m
    return embed_controlled(m, bin(int(program.ctrl_mask[p])).count("1"), fill)


def _apply(xp, st, M, wires, n):
    """``M (R, D, D)`` (R = 1 or B) on ``wires`` of ``st (B, 2**n)``; returns a new array."""
    B = st.shape[0]
    k = len(wires)
    t = st.reshape((B,) + (2,) * n)
    src = [1 + w for w in wires]
    dst = list(range(n + 1 - k, n + 1))
    moved = xp.moveaxis(t, src, dst)
    shape = moved.shape
    out = xp.matmul(moved.reshape(B, -1, 2**k), xp.swapaxes(M, -1, -2))
    return xp.moveaxis(out.reshape(shape), dst, src).reshape(B, -1)


def _pass_mats(program: Program, p: int, mats: np.ndarray, rows: int) -> np.ndarray:
    d = int(program.dim[p])
    off = int(program.m_off[p])
    r = rows if program.per_sample_pass[p] else 1
    return _embed(program, p, mats[:r, off:off + d * d].reshape(r, d, d))


def _factor_mats(program: Program, p: int, f: int, fm: np.ndarray, rows: int, fill: float = 1.0) -> np.ndarray:
    d = int(program.dim[p])
    off = int(program.f_off[f])
    r = rows if program.per_sample_pass[p] else 1
    return _embed(program, p, fm[:r, off:off + d * d].reshape(r, d, d), fill)


def _initial(xp, program: Program, B: int, state, dtype):
    if hasattr(xp, "cuda"):  # device memory; the host copy is guarded in initial_states
        check_memory(program.n_qubits, B, dtype, available=lambda: xp.cuda.Device().mem_info[0],
                     where="free GPU memory")
    return xp.asarray(initial_states(program.n_qubits, B, state, dtype))


def forward(xp, program: Program, weights, inputs, state, B: int, dtype, shift=None):
    """Final states ``(B, 2**n)`` as an ``xp`` array."""
    st = _initial(xp, program, B, state, dtype)
    if not program.n_passes:
        return st
    mats, _, _ = matrices(program, program.angles(weights, inputs, shift), dtype, False)
    for p in range(program.n_passes):
        M = xp.asarray(_pass_mats(program, p, mats, mats.shape[0]))
        st = _apply(xp, st, M, _wires(program, p), program.n_qubits)
    return st


def _observable_apply(xp, st, observables, cot, n):
    """``Σ_j cot[:, j] O_j ψ`` (``cot`` None: the list of ``O_j ψ``)."""
    outs = []
    for j, o in enumerate(observables):
        acc = xp.zeros_like(st)
        for t in o.terms:
            f, s = t.masks(n)
            idx = np.arange(st.shape[1])
            phase = (t.coeff * (1j ** (t.n_y % 4))) * parity_signs(n, s)[idx ^ f]
            phase = phase.real if np.dtype(st.dtype).kind == "f" else phase
            acc = acc + xp.asarray(phase.astype(st.dtype)) * st[:, xp.asarray(idx ^ f)]
        outs.append(acc)
    if cot is None:
        return outs
    return sum(xp.asarray(cot[:, j:j + 1]).astype(st.real.dtype) * outs[j] for j in range(len(outs)))


def expvals(xp, st, observables, n: int) -> np.ndarray:
    vals = [xp.sum(xp.conj(st) * ops, axis=1).real for ops in _observable_apply(xp, st, observables, None, n)]
    return np.stack([np.asarray(to_numpy(xp, v), dtype=np.float64) for v in vals], axis=1)


def to_numpy(xp, a):
    return xp.asnumpy(a) if hasattr(xp, "asnumpy") else np.asarray(a)


def adjoint(xp, program: Program, observables, cot, weights, inputs, state, B: int, dtype,
            backward_program: Program | None = None):
    """Adjoint VJP on ``xp`` arrays; returns NumPy ``(values, grad_w, grad_x, grad_state)``."""
    n = program.n_qubits
    bp = program if backward_program is None else backward_program
    psi = forward(xp, program, weights, inputs, state, B, dtype)
    values = expvals(xp, psi, observables, n)
    lam = _observable_apply(xp, psi, observables, cot, n)
    gtheta = np.zeros((B, bp.n_factors))
    if bp.n_passes:
        _, fm, dfm = matrices(bp, bp.angles(weights, inputs), dtype, True)
        rows = fm.shape[0]
        for p in range(bp.n_passes - 1, -1, -1):
            ws = _wires(bp, p)
            for f in range(int(bp.f_start[p + 1]) - 1, int(bp.f_start[p]) - 1, -1):
                F = _factor_mats(bp, p, f, fm, rows)
                Fh = xp.asarray(np.conj(np.swapaxes(F, -1, -2)))
                psi = _apply(xp, psi, Fh, ws, n)
                if bp.src[f] != 0:
                    dF = xp.asarray(_factor_mats(bp, p, f, dfm, rows, fill=0.0))
                    g = 2 * xp.sum(xp.conj(lam) * _apply(xp, psi, dF, ws, n), axis=1).real
                    gtheta[:, f] += to_numpy(xp, g)
                lam = _apply(xp, lam, Fh, ws, n)
    gw, gx = factor_grads_to_params(bp, gtheta, B)
    gs = to_numpy(xp, 2 * lam) if state is not None else None
    return values, gw, gx, gs


class XPBackend:
    """This engine on the array module ``xp`` behind the :class:`qsim.backends.Backend` protocol.

    ``XPBackend(cupy, name="cupy", device="gpu")`` is the registered CuPy backend
    (:mod:`.cupy_backend`); ``XPBackend(numpy)`` runs the same code on the CPU, which is how it is
    tested without a GPU.
    """

    precisions = tuple(PRECISIONS)
    default_fusion = GPU_FUSION

    def __init__(self, xp, name: str = "xp", device: str = "cpu") -> None:
        self.xp, self.name, self.device = xp, name, device
        self.description = f"{name} {device.upper()} backend (array-module engine)"

    def forward(self, circuit, program: Program, weights, inputs, state, batch: int, dtype):
        return forward(self.xp, program, weights, inputs, state, batch, dtype)

    def expvals(self, states, observables, n_qubits: int) -> np.ndarray:
        return expvals(self.xp, states, observables, n_qubits)

    def adjoint(self, circuit, program: Program, backward_program: Program, observables, cotangents, weights, inputs,
                state, batch: int, dtype):
        return adjoint(self.xp, program, observables, cotangents, weights, inputs, state, batch, dtype,
                       backward_program=backward_program)

    def probabilities(self, states) -> np.ndarray:
        return self.to_numpy(abs(states) ** 2).astype(np.float64)

    def to_numpy(self, a) -> np.ndarray:
        return to_numpy(self.xp, a)

    def memory_sweeps(self, program: Program, batch: int, dtype) -> float:
        """One sweep per pass, weighted by the fraction of the state it touches."""
        return program.state_sweeps
