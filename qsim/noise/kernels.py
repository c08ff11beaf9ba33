"""Numba kernels of the density-matrix engine: fused superoperator passes on ``vec(ρ)``.

A density matrix of ``n`` qubits is a ``2n``-qubit vector ``(B, 4**n)`` (row qubits are wires
``0..n-1``, column qubits ``n..2n-1``).  A *pass* applies one ``D × D`` superoperator block
(``D = 2**width``, ``width = 2k`` for a block on ``k`` physical qubits) to the bits of its
wires, iterating over *groups* exactly like the state-vector kernels
(:mod:`qsim.backends.numba_kernels`): insert zero bits at the sorted target positions into the
group counter, then add the target offsets (:mod:`qsim.backends.bitops`).

Two flavours of pass:

* ``dense4``: a dense ``4 × 4`` block (one qubit: wires ``q`` and ``n+q``), fully unrolled;
* sparse: any ``D ≤ 64`` block given as a fixed pattern ``(rows[e], cols[e])`` (sorted by
  row) and values ``vals[e]``: ``out[rows[e]] += vals[e]·in[cols[e]]`` over tiles of
  consecutive groups (unit-stride inner loops).  Superoperators of CNOT-like gates followed by
  Pauli noise are very sparse (CNOT + depolarizing on both wires: 36 of 256 entries), so such a
  pass costs about as much as a dense one-qubit pass.

Drivers: :func:`run_serial` (small work, no parallel region), :func:`run_parallel` (``prange``
over samples, over slices of one matrix, or over chunks of one pass).  :func:`correlate` gives
the per-entry correlations the adjoint gradient needs; :func:`bind_values` builds the pattern
values of every block from its members' spectral forms.

Values are stored per pattern entry (``vals[:, e]``), in row 0 for shared passes or in row
``b`` for passes that read per-sample inputs (``per[p]``).  Real states with real values run
the same code in float arithmetic (the real fast path).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..backends.bitops import group_offsets, insert_bit, insert_bits
from ..backends.numba_kernels import CHUNK_GROUPS

__all__ = ["run_serial", "run_parallel", "chunks_per_row", "correlate", "correlate_serial", "bind_values",
           "CHUNK_GROUPS",
           "MAX_BLOCK_DIM", "TILE"]

#: Largest block dimension (3 physical qubits: ``4**3``).
MAX_BLOCK_DIM = 64
#: Consecutive groups processed together by the sparse kernel (unit-stride inner loops).
TILE = 32

_opts = dict(cache=True, nogil=True)


@njit(inline="always")
def _dense4_rng(row, v, e0, p0, p1, k0, k1):
    """Dense 4×4 on bits ``(p0, p1)``; runs of consecutive groups are contiguous in memory
    below the lower target bit, so the inner loop is a unit-stride loop LLVM can vectorise."""
    lo, hi = min(p0, p1), max(p0, p1)
    o0, o1 = 1 << p0, 1 << p1
    u0, u1, u2, u3 = v[e0], v[e0 + 1], v[e0 + 2], v[e0 + 3]
    u4, u5, u6, u7 = v[e0 + 4], v[e0 + 5], v[e0 + 6], v[e0 + 7]
    u8, u9, u10, u11 = v[e0 + 8], v[e0 + 9], v[e0 + 10], v[e0 + 11]
    u12, u13, u14, u15 = v[e0 + 12], v[e0 + 13], v[e0 + 14], v[e0 + 15]
    one = 1 << lo
    k = k0
    while k < k1:
        low = k & (one - 1)
        run = min(k1 - k, one - low)
        start = insert_bit(insert_bit(k, lo), hi)
        for i00 in range(start, start + run):
            i01 = i00 + o1
            i10 = i00 + o0
            i11 = i10 + o1
            a0, a1, a2, a3 = row[i00], row[i01], row[i10], row[i11]
            row[i00] = u0 * a0 + u1 * a1 + u2 * a2 + u3 * a3
            row[i01] = u4 * a0 + u5 * a1 + u6 * a2 + u7 * a3
            row[i10] = u8 * a0 + u9 * a1 + u10 * a2 + u11 * a3
            row[i11] = u12 * a0 + u13 * a1 + u14 * a2 + u15 * a3
        k += run


@njit(inline="always")
def _sparse_rng(row, v, e0, e1, rows, cols, offs, D, ins, nins, k0, k1, tmp, acc):
    """Sparse ``D × D`` block on tiles of up to ``TILE`` consecutive groups (entries sorted by row).

    Consecutive groups map to equally spaced amplitudes (stride ``2**m`` when the targets fill
    bits ``0..m-1``, else stride 1) until the next target bit, so each pattern entry becomes a
    strided multiply-add over the tile; row ``r``'s entries accumulate in ``acc`` (L1) and the
    results are scattered after all reads of the tile.
    """
    m = 0
    while m < nins and ins[m] == m:
        m += 1
    stride = 1 << m
    one = (1 << (ins[m] - m)) if m < nins else (k1 + 1)
    k = k0
    while k < k1:
        low = k & (one - 1)
        run = min(k1 - k, one - low, TILE)
        base = insert_bits(k, ins, nins)
        e = e0
        for r in range(D):
            for t in range(TILE):
                acc[t] = 0
            while e < e1 and rows[e] == r:
                ve = v[e]
                src = base + offs[cols[e]]
                if stride == 1 and run == TILE:
                    for t in range(TILE):
                        acc[t] += ve * row[src + t]
                else:
                    for t in range(run):
                        acc[t] += ve * row[src + t * stride]
                e += 1
            for t in range(run):
                tmp[r, t] = acc[t]
        for r in range(D):
            dst = base + offs[r]
            for t in range(run):
                row[dst + t * stride] = tmp[r, t]
        k += run


@njit(inline="always")
def _apply_rng(row, v, dense4, width, bits, ins, nins, e0, e1, rows, cols, k0, k1, offs, tmp, acc):
    if dense4:
        _dense4_rng(row, v, e0, bits[0], bits[1], k0, k1)
    else:
        group_offsets(bits, width, offs)
        _sparse_rng(row, v, e0, e1, rows, cols, offs, 1 << width, ins, nins, k0, k1, tmp, acc)


@njit(**_opts)
def run_serial(st, vals, per, dense4, width, bits, ins, nins, e_start, rows, cols, p0, p1):
    """Passes ``p0..p1-1`` on every row, on the calling thread (small work: entering a parallel
    region costs more, up to milliseconds when another process competes for the cores)."""
    R, N = st.shape
    offs = np.empty(MAX_BLOCK_DIM, dtype=np.int64)
    tmp = np.empty((MAX_BLOCK_DIM, TILE), dtype=st.dtype)
    acc = np.empty(TILE, dtype=st.dtype)
    for r in range(R):
        row = st[r]
        for p in range(p0, p1):
            v = vals[r] if per[p] else vals[0]
            _apply_rng(row, v, dense4[p], width[p], bits[p], ins[p], nins[p], e_start[p], e_start[p + 1],
                       rows, cols, 0, N >> nins[p], offs, tmp, acc)


@njit(parallel=True, **_opts)
def run_parallel(st, vals, per, dense4, width, bits, ins, nins, e_start, rows, cols, p0, p1, split, cps):
    """Passes ``p0..p1-1`` on every row of ``st``, ``prange`` over ``rows × cps`` work items.

    * ``cps == 1`` (*sample-major*): each work item runs the whole pass range on one row.  With
      ``split > 1``, ``st`` is ``(B·split, N/split)``: each density matrix cut into ``split``
      contiguous slices along its top bits, valid for passes that do not touch those bits (the
      slices evolve independently; row ``r`` reads the values of sample ``r // split``), so
      whole runs of passes execute per slice, in cache, with one barrier per run;
    * ``cps > 1`` (*pass-major*, one pass only): each row's groups are split into ``cps`` chunks.
    """
    R, N = st.shape
    for c in prange(R * cps):
        r = c // cps
        ck = c - r * cps
        offs = np.empty(MAX_BLOCK_DIM, dtype=np.int64)
        tmp = np.empty((MAX_BLOCK_DIM, TILE), dtype=st.dtype)
        acc = np.empty(TILE, dtype=st.dtype)
        row = st[r]
        b = r // split
        for p in range(p0, p1):
            v = vals[b] if per[p] else vals[0]
            gs = (N >> nins[p]) // cps
            _apply_rng(row, v, dense4[p], width[p], bits[p], ins[p], nins[p], e_start[p], e_start[p + 1],
                       rows, cols, ck * gs, (ck + 1) * gs, offs, tmp, acc)


def chunks_per_row(n_entries: int, nins: int) -> int:
    """Work chunks per row for a pass-major sweep (at most ``CHUNK_GROUPS`` groups each)."""
    return max(1, (n_entries >> nins) // CHUNK_GROUPS)


@njit(inline="always")
def _correlate_rng(lam_row, rho_row, offs, ins, nins, e0, e1, rows, cols, k0, k1, out):
    for k in range(k0, k1):
        base = insert_bits(k, ins, nins)
        for e in range(e0, e1):
            out[e - e0] += np.conj(lam_row[base + offs[rows[e]]]) * rho_row[base + offs[cols[e]]]


@njit(parallel=True, **_opts)
def correlate(lam, rho, width, bits, ins, nins, e0, e1, rows, cols):
    """``C[b, e] = Σ_groups conj(λ[b, g + off(rows[e])]) · ρ[b, g + off(cols[e])]`` ``(B, e1-e0)``.

    With ``f = ⟨λ, S ρ⟩`` for a block ``S`` with entries on the pattern, ``∂f/∂θ = Σ_e C[e] ∂S[e]/∂θ``.
    """
    B, N = rho.shape
    groups = N >> nins
    cps = max(1, groups // CHUNK_GROUPS)
    gs = groups // cps
    nnz = e1 - e0
    part = np.zeros((B * cps, nnz), dtype=rho.dtype)
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        offs = np.empty(MAX_BLOCK_DIM, dtype=np.int64)
        group_offsets(bits, width, offs)
        _correlate_rng(lam[b], rho[b], offs, ins, nins, e0, e1, rows, cols, k0, k0 + gs, part[c])
    out = np.zeros((B, nnz), dtype=rho.dtype)
    for c in range(B * cps):
        for e in range(nnz):
            out[c // cps, e] += part[c, e]
    return out


@njit(**_opts)
def correlate_serial(lam, rho, width, bits, ins, nins, e0, e1, rows, cols):
    """:func:`correlate` on the calling thread (small work)."""
    B, N = rho.shape
    out = np.zeros((B, e1 - e0), dtype=rho.dtype)
    offs = np.empty(MAX_BLOCK_DIM, dtype=np.int64)
    group_offsets(bits, width, offs)
    for b in range(B):
        _correlate_rng(lam[b], rho[b], offs, ins, nins, e0, e1, rows, cols, 0, N >> nins, out[b])
    return out


@njit(**_opts)
def bind_values(theta, slot_per, per_pass, dim, sg_start, sg_slot, sg_om_start, om_all, sg_nz_start, nz_r, nz_c,
                sg_coef_start, coef, e_start, rows, cols, out):
    """Pattern values of every block superoperator ``S_p = F_m ··· F_1`` into ``out (Bv, nnz)``.

    Segment ``s`` of pass ``p`` is ``F_s = Σ_f e^{-iθ ω_f} C_f`` (a constant has ``F = 1``, ``ω = 0``)
    given by its sparse pattern ``(nz_r, nz_c)`` (sorted by row) and coefficients
    ``coef[(e - e_s)·F + f]``; the product is accumulated as ``acc ← F_s acc`` using the sparsity
    (``nnz(F_s) · D`` multiply-adds).  Passes with ``per_pass`` are bound for every row.
    """
    acc = np.empty((MAX_BLOCK_DIM, MAX_BLOCK_DIM), dtype=np.complex128)
    new = np.empty((MAX_BLOCK_DIM, MAX_BLOCK_DIM), dtype=np.complex128)
    ph = np.empty(MAX_BLOCK_DIM, dtype=np.complex128)
    Bv = out.shape[0]
    for p in range(dim.shape[0]):
        D = dim[p]
        nb = Bv if per_pass[p] else 1
        for b in range(nb):
            for i in range(D):
                for j in range(D):
                    acc[i, j] = 0.0
                acc[i, i] = 1.0
            for s in range(sg_start[p], sg_start[p + 1]):
                slot = sg_slot[s]
                o0 = sg_om_start[s]
                F = sg_om_start[s + 1] - o0
                if slot >= 0:
                    th = theta[b if slot_per[slot] else 0, slot]
                    for f in range(F):
                        ph[f] = np.exp(-1j * th * om_all[o0 + f])
                else:
                    ph[0] = 1.0
                for i in range(D):
                    for j in range(D):
                        new[i, j] = 0.0
                n0 = sg_nz_start[s]
                c0 = sg_coef_start[s]
                for e in range(n0, sg_nz_start[s + 1]):
                    val = 0j
                    for f in range(F):
                        val += coef[c0 + (e - n0) * F + f] * ph[f]
                    r = nz_r[e]
                    c = nz_c[e]
                    for j in range(D):
                        new[r, j] += val * acc[c, j]
                acc, new = new, acc
            for e in range(e_start[p], e_start[p + 1]):
                out[b, e] = acc[rows[e], cols[e]]
