"""Running a bound plan: scheduling of the pass kernels, adjoint passes ``S_p†`` and the
correlation ``C_p[r, c] = Σ_g conj(Λ[g, r]) ρ[g, c]`` used by the density-matrix adjoint.

Small work runs on the calling thread (:data:`SERIAL_MAX_WORK`); batches of small matrices run
the whole range per sample (:data:`SAMPLE_MAJOR_MAX_QUBITS`); large matrices are cut into
``2**SPLIT_BITS`` slices along their top row bits (see :func:`run`).
"""

from __future__ import annotations

import numpy as np

from ...backends.numba_backend import SAMPLE_MAJOR_MAX_QUBITS as STATE_SAMPLE_MAJOR_MAX_QUBITS
from .. import kernels
from .plan import DensityPlan

__all__ = ["run", "apply_adjoint_pass", "correlate", "adjoint_values", "is_serial", "SAMPLE_MAJOR_MAX_QUBITS",
           "SERIAL_MAX_WORK", "SPLIT_BITS"]

#: Batches of density matrices of at most this many qubits run the whole plan per sample
#: (``prange`` over the batch): the state-vector limit for the doubled register, ``4**7 · 16 B =
#: 2**14 · 16 B = 256 KiB`` in L2.
SAMPLE_MAJOR_MAX_QUBITS = STATE_SAMPLE_MAJOR_MAX_QUBITS // 2
#: Work (``B · 4**n · passes`` amplitude updates) up to which a run stays on the calling thread:
#: entering a parallel region costs ~0.1 ms on an idle machine but up to ~8 ms when another
#: process competes for the 2 cores (W1 n = 6: 7.5 ms parallel vs 1.6 ms serial), while 2**24
#: updates take ~0.2 s serially.
SERIAL_MAX_WORK = 1 << 24
#: Larger density matrices are cut into ``2**SPLIT_BITS`` slices along their top row bits; runs
#: of passes that do not touch those bits run slice by slice (see :func:`run`).
SPLIT_BITS = 3


def is_serial(pl: DensityPlan, B: int, n_passes: int) -> bool:
    """Whether ``n_passes`` passes over ``B`` density matrices stay on the calling thread."""
    return B * (4**pl.n_qubits) * max(n_passes, 1) <= SERIAL_MAX_WORK


def run(pl: DensityPlan, st: np.ndarray, vals: np.ndarray, p0: int = 0, p1: int | None = None) -> None:
    """Passes ``p0..p1-1`` in place on ``st (B, 4**n)``.

    Small work runs on the calling thread; batches of small matrices run the whole range per
    sample (``prange`` over the batch).  Large matrices are cut into ``2**SPLIT_BITS`` contiguous
    slices along the top row bits: maximal runs of passes that leave those bits alone run slice
    by slice (in cache, one barrier per run), the other passes run one by one, parallel inside
    each matrix.
    """
    p1 = pl.n_passes if p1 is None else p1
    if p1 <= p0:
        return
    B, N = st.shape
    n = pl.n_qubits
    args = (pl.per, pl.dense4, pl.width, pl.bits, pl.ins, pl.nins, pl.e_start, pl.rows, pl.cols)
    if is_serial(pl, B, p1 - p0):
        kernels.run_serial(st, vals, *args, p0, p1)
        return
    if B >= 2 and n <= SAMPLE_MAJOR_MAX_QUBITS:
        kernels.run_parallel(st, vals, *args, p0, p1, 1, 1)
        return
    sb = min(SPLIT_BITS, 2 * n - 1)
    split = 1 << sb
    local = pl.max_bit < 2 * n - sb
    sliced = st.reshape(B * split, N >> sb)
    p = p0
    while p < p1:
        if local[p]:
            q = p
            while q < p1 and local[q]:
                q += 1
            kernels.run_parallel(sliced, vals, *args, p, q, split, 1)
            p = q
        else:
            kernels.run_parallel(st, vals, *args, p, p + 1, 1, kernels.chunks_per_row(N, int(pl.nins[p])))
            p += 1


def apply_adjoint_pass(pl: DensityPlan, st: np.ndarray, vals_adj: np.ndarray, rows_adj, cols_adj, p: int) -> None:
    """``S_p†`` on ``st`` (pattern transposed and re-sorted, values conjugated: :func:`adjoint_values`)."""
    if is_serial(pl, st.shape[0], 1):
        kernels.run_serial(st, vals_adj, pl.per, pl.dense4, pl.width, pl.bits, pl.ins, pl.nins, pl.e_start, rows_adj,
                           cols_adj, p, p + 1)
        return
    kernels.run_parallel(st, vals_adj, pl.per, pl.dense4, pl.width, pl.bits, pl.ins, pl.nins, pl.e_start, rows_adj,
                         cols_adj, p, p + 1, 1, kernels.chunks_per_row(st.shape[1], int(pl.nins[p])))


def correlate(pl: DensityPlan, lam: np.ndarray, rho: np.ndarray, p: int) -> np.ndarray:
    """``C_p[b, e] = Σ_g conj(Λ_b[g, r_e]) ρ_b[g, c_e]`` over the pattern entries ``e`` of pass ``p``."""
    fn = kernels.correlate_serial if is_serial(pl, rho.shape[0], 1) else kernels.correlate
    return fn(lam, rho, pl.width[p], pl.bits[p], pl.ins[p], pl.nins[p], pl.e_start[p], pl.e_start[p + 1],
              pl.rows, pl.cols)


def adjoint_values(pl: DensityPlan, vals: np.ndarray):
    """Values and pattern of ``S†`` for every pass (same entry ranges, entries re-sorted by row;
    a dense 4×4 is transposed in place)."""
    va = np.conj(vals)
    ra, ca = pl.cols.copy(), pl.rows.copy()
    for p in range(pl.n_passes):
        e0, e1 = pl.e_start[p], pl.e_start[p + 1]
        if pl.dense4[p]:
            blk = va[:, e0:e0 + 16].reshape(-1, 4, 4).copy()
            va[:, e0:e0 + 16] = np.swapaxes(blk, 1, 2).reshape(-1, 16)
            ra[e0:e1], ca[e0:e1] = pl.rows[e0:e1], pl.cols[e0:e1]
            continue
        order = np.lexsort((ca[e0:e1], ra[e0:e1]))
        ra[e0:e1], ca[e0:e1] = ra[e0:e1][order], ca[e0:e1][order]
        va[:, e0:e1] = va[:, e0:e1][:, order]
    return np.ascontiguousarray(va), ra, ca
