"""Numba kernels over batched states ``(B, 2**n)`` (in place).

**Iteration.** A pass on ``t`` target bits (plus ``c`` control bits) touches ``G = N / 2**(t+c)``
*groups* of amplitudes per state.  Group ``k`` is found by inserting zero bits at the sorted
positions of the targets and controls into ``k`` ("bit insertion"), OR-ing the control mask,
and adding the target offsets.  For one-target passes the groups come in contiguous runs of
``2**p`` (``p`` the target bit), which the inner loops exploit so LLVM can vectorise them.

There is **one range iterator per target count** (``_dense1_rng``, ``_dense2_rng``,
``_ctrl_rng``, ``_densek_rng``, …): it processes groups ``k0 .. k1`` of one state row.  The bit
helpers (insertion, group offsets, parity) are :mod:`qsim.backends.bitops`.  Two drivers call the
same iterators:

* *sample-major* (:func:`run_sample_major`): ``prange`` over samples, each thread runs the whole
  program on its sample while the state sits in L1/L2 (a batch of small states);
* *planned* (:func:`run_plan`): the steps of a cache-blocked :class:`~qsim.program.plan.Plan`
  (a few large states): block runs (``prange`` over blocks of ``2**k`` amplitudes, every pass of
  the run applied to a block while it is in cache), bit swaps, and lone passes swept over the
  state in chunks of at most :data:`CHUNK_GROUPS` groups.

Kernels never see more than bit positions, so a sharded state can run them on the index bits
of its local slice.  Matrices come from :mod:`qsim.program.bind`; passes flagged per-sample read row ``b``
of the matrix buffer, shared passes row 0.  Real states with real matrices run the same code
in float arithmetic (the "real fast path").
"""

from __future__ import annotations

import warnings

import numpy as np

from ..threads import default_wait_policy

default_wait_policy()          # before the first parallel kernel of qsim's Numba family can launch

from numba import njit, prange  # noqa: E402

from ..program.lower import (  # noqa: E402
    KIND_CTRL, KIND_CTRL_DIAG, KIND_CTRL_X, KIND_DENSE1, KIND_DENSE2, KIND_DIAG1, KIND_DIAG2, MAX_PASS_DIM,
)
from ..program.plan import STEP_BLOCK, STEP_SWEEP  # noqa: E402
from .bitops import group_offsets as _group_offsets  # noqa: E402
from .block_kernels import block_back, block_run  # noqa: E402
from .bitops import insert_bit as _ins  # noqa: E402
from .bitops import insert_bits as _insert_all  # noqa: E402
from .bitops import parity as _parity  # noqa: E402

#: Groups per parallel chunk in the pass-major driver.  2**11 keeps per-chunk overhead small
#: while leaving >= 64 chunks per thread at n = 20 (``qhybrid bench -w W1``).
CHUNK_GROUPS = 1 << 11

#: Parallel tasks a swap step is cut into at least (tiles, split into pair ranges when there are
#: fewer tiles): a few per thread of a many-core machine.
SWAP_MIN_TASKS = 64

#: Fewest bits ``2m + l`` of a swap tile (``m`` pairs, lowest swapped bit ``l``) for the tiled
#: transpose (:func:`_swap_tiled`); smaller tiles swap element pairs (:func:`_swap_pairs`).  The
#: 8 swap steps of W1's plan run alone, back to back in one process, one thread, "Intel(R)
#: Xeon(R) Processor" 2-core VM (load 4.5, best of 10): n = 20 complex64 (m = 3, tiles of
#: 2**6-2**7) 12.4 ms tiled against 6.1 ms in pairs; n = 22 (m = 5, 2**10-2**11) 36.7 against
#: 47.7 ms, complex128 49.7 against 90.2 ms; n = 24 complex64 205 against 339 ms.
SWAP_TILE_MIN_BITS = 10

_opts = dict(cache=True, nogil=True, fastmath=True)
#: Scratch sizes of the k-target paths: one group's amplitudes, and one pass matrix.
_GROUP = MAX_PASS_DIM
_MATRIX = MAX_PASS_DIM * MAX_PASS_DIM


def __getattr__(name: str):
    """``numba_kernels.bind`` moved to :func:`qsim.program.bind.bind_kernel` (one-release alias)."""
    if name == "bind":
        warnings.warn("qsim.backends.numba_kernels.bind moved to qsim.program.bind.bind_kernel",
                      DeprecationWarning, stacklevel=2)
        from ..program.bind import bind_kernel

        return bind_kernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------ one-target iterators
@njit(inline="always")
def _dense1_rng(row, m, off, p, k0, k1):
    m0, m1, m2, m3 = m[off], m[off + 1], m[off + 2], m[off + 3]
    one = 1 << p
    k = k0
    while k < k1:
        lo = k & (one - 1)
        run = min(k1 - k, one - lo)
        base = ((k >> p) << (p + 1)) | lo
        for i0 in range(base, base + run):
            a0 = row[i0]
            a1 = row[i0 + one]
            row[i0] = m0 * a0 + m1 * a1
            row[i0 + one] = m2 * a0 + m3 * a1
        k += run


@njit(inline="always")
def _diag1_rng(row, m, off, p, k0, k1):
    d0, d1 = m[off], m[off + 3]
    one = 1 << p
    k = k0
    while k < k1:
        lo = k & (one - 1)
        run = min(k1 - k, one - lo)
        base = ((k >> p) << (p + 1)) | lo
        for i0 in range(base, base + run):
            row[i0] *= d0
            row[i0 + one] *= d1
        k += run


@njit(inline="always")
def _ctrl_rng(row, m, off, p, cmask, ins, nins, mode, k0, k1):
    """Controlled 2×2 on bit ``p`` where all bits of ``cmask`` are set (mode 0 dense, 1 swap, 2 diag)."""
    m0, m1, m2, m3 = m[off], m[off + 1], m[off + 2], m[off + 3]
    one = 1 << p
    runlen = 1 << ins[0]
    k = k0
    while k < k1:
        run = min(k1 - k, runlen - (k & (runlen - 1)))
        base = _insert_all(k, ins, nins) | cmask
        if mode == 1:
            for i0 in range(base, base + run):
                a0 = row[i0]
                row[i0] = row[i0 + one]
                row[i0 + one] = a0
        elif mode == 2:
            for i0 in range(base, base + run):
                row[i0] *= m0
                row[i0 + one] *= m3
        else:
            for i0 in range(base, base + run):
                a0 = row[i0]
                a1 = row[i0 + one]
                row[i0] = m0 * a0 + m1 * a1
                row[i0 + one] = m2 * a0 + m3 * a1
        k += run


# ------------------------------------------------------------------ two-target iterators
@njit(inline="always")
def _dense2_rng(row, m, off, p0, p1, k0, k1):
    """4×4 on target bits ``(p0, p1)``; local index ``2·bit(p0) + bit(p1)``."""
    lo, hi = min(p0, p1), max(p0, p1)
    o0, o1 = 1 << p0, 1 << p1
    u0, u1, u2, u3 = m[off], m[off + 1], m[off + 2], m[off + 3]
    u4, u5, u6, u7 = m[off + 4], m[off + 5], m[off + 6], m[off + 7]
    u8, u9, u10, u11 = m[off + 8], m[off + 9], m[off + 10], m[off + 11]
    u12, u13, u14, u15 = m[off + 12], m[off + 13], m[off + 14], m[off + 15]
    o11 = o0 | o1
    runlen = 1 << lo
    k = k0
    while k < k1:
        run = min(k1 - k, runlen - (k & (runlen - 1)))
        start = _ins(_ins(k, lo), hi)
        for i00 in range(start, start + run):
            a0, a1, a2, a3 = row[i00], row[i00 + o1], row[i00 + o0], row[i00 + o11]
            row[i00] = u0 * a0 + u1 * a1 + u2 * a2 + u3 * a3
            row[i00 + o1] = u4 * a0 + u5 * a1 + u6 * a2 + u7 * a3
            row[i00 + o0] = u8 * a0 + u9 * a1 + u10 * a2 + u11 * a3
            row[i00 + o11] = u12 * a0 + u13 * a1 + u14 * a2 + u15 * a3
        k += run


@njit(inline="always")
def _diag2_rng(row, m, off, p0, p1, k0, k1):
    lo, hi = min(p0, p1), max(p0, p1)
    o0, o1 = 1 << p0, 1 << p1
    d0, d1, d2, d3 = m[off], m[off + 5], m[off + 10], m[off + 15]
    o11 = o0 | o1
    runlen = 1 << lo
    k = k0
    while k < k1:
        run = min(k1 - k, runlen - (k & (runlen - 1)))
        start = _ins(_ins(k, lo), hi)
        for i00 in range(start, start + run):
            row[i00] *= d0
            row[i00 + o1] *= d1
            row[i00 + o0] *= d2
            row[i00 + o11] *= d3
        k += run


# ----------------------------------------------------------------- k-target iterator
@njit(inline="always")
def _densek_rng(row, m, off, bits, width, cmask, ins, nins, k0, k1):
    d = 1 << width
    offs = np.empty(d, dtype=np.int64)
    _group_offsets(bits, width, offs)
    buf = np.empty(d, dtype=row.dtype)
    for k in range(k0, k1):
        base = _insert_all(k, ins, nins) | cmask
        for i in range(d):
            buf[i] = row[base + offs[i]]
        for r in range(d):
            s = buf[0] * 0
            for q in range(d):
                s += m[off + r * d + q] * buf[q]
            row[base + offs[r]] = s


@njit(inline="always")
def _apply_rng(row, m, kind, width, bits, cmask, ins, nins, off, k0, k1):
    """Dispatch one pass of ``kind`` over groups ``k0..k1`` of one state row."""
    if kind == KIND_DENSE1:
        _dense1_rng(row, m, off, bits[0], k0, k1)
    elif kind == KIND_DIAG1:
        _diag1_rng(row, m, off, bits[0], k0, k1)
    elif kind == KIND_DENSE2:
        _dense2_rng(row, m, off, bits[0], bits[1], k0, k1)
    elif kind == KIND_DIAG2:
        _diag2_rng(row, m, off, bits[0], bits[1], k0, k1)
    elif kind == KIND_CTRL:
        _ctrl_rng(row, m, off, bits[0], cmask, ins, nins, 0, k0, k1)
    elif kind == KIND_CTRL_X:
        _ctrl_rng(row, m, off, bits[0], cmask, ins, nins, 1, k0, k1)
    elif kind == KIND_CTRL_DIAG:
        _ctrl_rng(row, m, off, bits[0], cmask, ins, nins, 2, k0, k1)
    else:
        _densek_rng(row, m, off, bits, width, cmask, ins, nins, k0, k1)


# ------------------------------------------------------------------------ drivers
@njit(parallel=True, **_opts)
def run_sample_major(st, m, per, kind, width, bits, ctrl_mask, ins, nins, m_off):
    """Whole program per sample, ``prange`` over samples."""
    B, N = st.shape
    for b in prange(B):
        row = st[b]
        for p in range(kind.shape[0]):
            mrow = m[b] if per[p] else m[0]
            _apply_rng(row, mrow, kind[p], width[p], bits[p], ctrl_mask[p], ins[p], nins[p], m_off[p],
                       0, N >> nins[p])


@njit(parallel=True, **_opts)
def _pass_parallel(st, m, per_p, kind_p, width_p, bits_p, cmask_p, ins_p, nins_p, off_p):
    B, N = st.shape
    groups = N >> nins_p
    cps = max(1, groups // CHUNK_GROUPS)
    gs = groups // cps
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        mrow = m[b] if per_p else m[0]
        _apply_rng(st[b], mrow, kind_p, width_p, bits_p, cmask_p, ins_p, nins_p, off_p, k0, k0 + gs)


# ------------------------------------------------------------------------ planned
def _swap_bits(st, lbits, gbits) -> None:
    """Exchange bit ``lbits[j]`` with bit ``gbits[j]`` of every index (``j < m``), in place.

    :func:`_swap_tiled` when the local bits are the contiguous ``l … l+m-1`` below every global
    bit (the plans of W1), its tiles hold at least ``2**SWAP_TILE_MIN_BITS`` amplitudes and keep
    every thread busy, else :func:`_swap_pairs`.
    """
    m = len(lbits)
    lo, hi = int(lbits.min()), int(lbits.max())
    tiles = st.shape[0] * (st.shape[1] >> (2 * m + lo))
    if hi - lo == m - 1 and int(gbits.min()) > hi and 2 * m + lo >= SWAP_TILE_MIN_BITS and tiles >= SWAP_MIN_TASKS:
        _swap_tiled(st, lbits, gbits)
    else:
        _swap_pairs(st, lbits, gbits)


@njit(parallel=True, **_opts)
def _swap_tiled(st, lbits, gbits):
    """:func:`_swap_bits` for local bits ``l … l+m-1`` (any order) all below the global bits.

    With ``M = 2**m`` and the other bits fixed (a *tile*), the amplitudes of global value ``y``
    form one contiguous *row* of ``M · 2**l`` amplitudes (local value ``x`` and the bits below
    ``l``), and the swap is the transpose ``row_y[x] ← row_x[y]``.  A task copies its tile's rows
    into a thread-local scratch tile (contiguous copies) and writes each row back from it.  W1
    n = 22 complex64, one thread, 2-core VM: the 8 swaps of the plan (5 pairs, l = 0 or 1) take
    37 ms against 48 ms element by element (:func:`_swap_pairs`; :data:`SWAP_TILE_MIN_BITS`).
    """
    B, N = st.shape
    m = lbits.shape[0]
    M = 1 << m
    lo = lbits.min()
    run = 1 << lo
    L = M * run                                    # amplitudes of one row
    loff = np.zeros(M, dtype=np.int64)             # offset of local value x inside a row
    goff = np.zeros(M, dtype=np.int64)             # offset of the row of global value y
    for x in range(M):
        for j in range(m):
            if (x >> j) & 1:
                loff[x] |= 1 << lbits[j]
                goff[x] |= 1 << gbits[j]
    xat = np.empty(M, dtype=np.int64)              # local value x at row position u · run
    for x in range(M):
        xat[loff[x] >> lo] = x
    gb = np.sort(gbits)
    nouter = N >> (m + lo) >> m                    # tiles per state
    tiles = B * nouter
    tasks = min(tiles, SWAP_MIN_TASKS)
    per = (tiles + tasks - 1) // tasks
    for c in prange(tasks):
        sc = np.empty(M * L, dtype=st.dtype)
        for g in range(c * per, min(tiles, (c + 1) * per)):
            b = g // nouter
            base = _insert_all((g - b * nouter) << (m + lo), gb, m)
            row = st[b]
            for y in range(M):
                o = base + goff[y]
                sc[y * L:(y + 1) * L] = row[o:o + L]
            for y in range(M):
                o = base + goff[y]
                src = loff[y]
                if run == 1:
                    for u in range(M):
                        row[o + u] = sc[xat[u] * L + src]
                else:
                    for u in range(M):
                        d = o + u * run
                        q = xat[u] * L + src
                        for r in range(run):
                            row[d + r] = sc[q + r]


@njit(parallel=True, **_opts)
def _swap_pairs(st, lbits, gbits):
    """:func:`_swap_bits` for any bits, element by element.

    With ``x`` the value of the bits ``lbits`` and ``y`` that of ``gbits`` (bit ``j`` of ``x`` at
    ``lbits[j]``), the amplitudes at ``(x, y)`` and ``(y, x)`` trade places for ``x < y``, the
    other bits equal.  Below the lowest swapped bit ``l`` the amplitudes move in contiguous runs
    of ``2**l``.  A parallel task is one *tile*: every pair ``x < y`` for one value of the other
    bits above ``l`` (``2**(2m+l)`` amplitudes, transposed while in cache; split further only when
    there are fewer tiles than :data:`SWAP_MIN_TASKS`).
    """
    B, N = st.shape
    m = lbits.shape[0]
    M = 1 << m
    allb = np.sort(np.concatenate((lbits, gbits)))
    lo = allb[0]
    run = 1 << lo
    npairs = M * (M - 1) // 2
    d1 = np.empty(npairs, dtype=np.int64)          # offset of (x, y) and of (y, x), x < y
    d2 = np.empty(npairs, dtype=np.int64)
    t = 0
    for y in range(1, M):
        for x in range(y):
            a = 0
            b = 0
            for j in range(m):
                a |= (((x >> j) & 1) << lbits[j]) | (((y >> j) & 1) << gbits[j])
                b |= (((y >> j) & 1) << lbits[j]) | (((x >> j) & 1) << gbits[j])
            d1[t] = a
            d2[t] = b
            t += 1
    nouter = N >> (2 * m + lo)
    tiles = B * nouter
    split = max(1, min(npairs, (SWAP_MIN_TASKS + tiles - 1) // tiles))
    per = (npairs + split - 1) // split
    for c in prange(tiles * split):
        g = c // split
        q0 = (c - g * split) * per
        q1 = min(npairs, q0 + per)
        b = g // nouter
        base = _insert_all((g - b * nouter) << lo, allb, 2 * m)
        row = st[b]
        if run == 1:
            for q in range(q0, q1):
                i1 = base + d1[q]
                i2 = base + d2[q]
                v = row[i1]
                row[i1] = row[i2]
                row[i2] = v
        else:
            for q in range(q0, q1):
                i1 = base + d1[q]
                i2 = base + d2[q]
                for i in range(run):
                    v = row[i1 + i]
                    row[i1 + i] = row[i2 + i]
                    row[i2 + i] = v


def run_plan(st, m, per, kind, width, m_off, pl, has_im) -> None:
    """The steps of a :class:`~qsim.program.plan.Plan` ``pl`` in order (one sweep over the states each).

    A Python loop over the few steps: the same kernels run 2.6x slower when an ``@njit`` driver
    calls them (W1 n = 22 complex64, one thread: 664 ms against 261 ms for the block runs).
    Block runs are :func:`qsim.backends.block_kernels.block_run` on the float view of ``st``.
    """
    sf = st.view(st.real.dtype)
    for s in range(pl.n_steps):
        lo, hi = int(pl.step_lo[s]), int(pl.step_hi[s])
        if pl.step_kind[s] == STEP_BLOCK:
            block_run(sf, m, per, kind, width, m_off, pl.slot_pass, pl.bits, pl.ctrl_mask, pl.global_mask, pl.ins,
                      pl.n_ins, lo, hi, pl.local_qubits, has_im)
        elif pl.step_kind[s] == STEP_SWEEP:
            p = pl.slot_pass[lo]
            _pass_parallel(st, m, per[p], kind[p], width[p], pl.bits[lo], pl.ctrl_mask[lo], pl.ins[lo], pl.n_ins[lo],
                           m_off[p])
        else:
            _swap_bits(st, pl.swap_local[lo:hi], pl.swap_global[lo:hi])


# ------------------------------------------------------------------------ backward
@njit(inline="always")
def _backward_rng(x_row, y_row, fm, dfm, f0, f1, f_off, bits, width, cmask, ins, nins, want, k0, k1, acc,
                  offs, x, y, t, fh, df, is_x):
    """Undo one pass on ``ψ`` (``x_row``) and ``λ`` (``y_row``) over groups ``k0..k1``.

    Per group, for ``j = m..1``: ``ψ ← F_j† ψ``; if ``want[j]``: ``acc[j] += 2 Re(λ† dF_j ψ)``;
    ``λ ← F_j† λ``.  All amplitudes of a group stay local, so the fused pass is undone factor by
    factor in registers.  ``fh``/``df`` are scratch ``(≥m, ≥d²)`` for ``F†`` and ``dF``.
    """
    d = 1 << width
    nf = f1 - f0
    for jj in range(nf):
        o = f_off[f0 + jj]
        for r in range(d):
            for q in range(d):
                fh[jj, r * d + q] = np.conj(fm[o + q * d + r])
                df[jj, r * d + q] = dfm[o + r * d + q]
    runlen = 1 << ins[0]
    if is_x:                         # a (controlled) X is its own inverse: swap ψ and λ, no gradient
        one = 1 << bits[0]
        k = k0
        while k < k1:
            run = min(k1 - k, runlen - (k & (runlen - 1)))
            start = _insert_all(k, ins, nins) | cmask
            for i0 in range(start, start + run):
                x_row[i0], x_row[i0 + one] = x_row[i0 + one], x_row[i0]
                y_row[i0], y_row[i0 + one] = y_row[i0 + one], y_row[i0]
            k += run
        return
    if width == 1:
        one = 1 << bits[0]
        k = k0
        while k < k1:
            run = min(k1 - k, runlen - (k & (runlen - 1)))
            start = _insert_all(k, ins, nins) | cmask
            for i0 in range(start, start + run):
                x0, x1 = x_row[i0], x_row[i0 + one]
                y0, y1 = y_row[i0], y_row[i0 + one]
                for jj in range(nf - 1, -1, -1):
                    h0, h1, h2, h3 = fh[jj, 0], fh[jj, 1], fh[jj, 2], fh[jj, 3]
                    x0, x1 = h0 * x0 + h1 * x1, h2 * x0 + h3 * x1
                    if want[f0 + jj]:
                        g0 = df[jj, 0] * x0 + df[jj, 1] * x1
                        g1 = df[jj, 2] * x0 + df[jj, 3] * x1
                        acc[jj] += 2.0 * (np.conj(y0) * g0 + np.conj(y1) * g1).real
                    y0, y1 = h0 * y0 + h1 * y1, h2 * y0 + h3 * y1
                x_row[i0], x_row[i0 + one] = x0, x1
                y_row[i0], y_row[i0 + one] = y0, y1
            k += run
        return
    _group_offsets(bits, width, offs)
    for k in range(k0, k1):
        base = _insert_all(k, ins, nins) | cmask
        for i in range(d):
            x[i] = x_row[base + offs[i]]
            y[i] = y_row[base + offs[i]]
        for jj in range(nf - 1, -1, -1):
            for r in range(d):
                s = x[0] * 0
                for q in range(d):
                    s += fh[jj, r * d + q] * x[q]
                t[r] = s
            for r in range(d):
                x[r] = t[r]
            if want[f0 + jj]:
                g = x[0] * 0
                for r in range(d):
                    s = x[0] * 0
                    for q in range(d):
                        s += df[jj, r * d + q] * x[q]
                    g += np.conj(y[r]) * s
                acc[jj] += 2.0 * g.real
            for r in range(d):
                s = y[0] * 0
                for q in range(d):
                    s += fh[jj, r * d + q] * y[q]
                t[r] = s
            for r in range(d):
                y[r] = t[r]
        for i in range(d):
            x_row[base + offs[i]] = x[i]
            y_row[base + offs[i]] = y[i]


@njit(parallel=True, **_opts)
def backward_sample_major(psi, lam, fm, dfm, per, kind, f_start, f_off, bits, width, ctrl_mask, ins, nins, want,
                          gtheta):
    """Backward sweep over all passes per sample (``prange`` over samples); adds into ``gtheta (B, F)``."""
    B, N = psi.shape
    maxf = 1
    for p in range(width.shape[0]):
        maxf = max(maxf, f_start[p + 1] - f_start[p])
    for b in prange(B):
        acc = np.zeros(f_start[-1] + 1)
        offs = np.empty(_GROUP, dtype=np.int64)
        x = np.empty(_GROUP, dtype=psi.dtype)
        y = np.empty(_GROUP, dtype=psi.dtype)
        t = np.empty(_GROUP, dtype=psi.dtype)
        fh = np.empty((maxf, _MATRIX), dtype=psi.dtype)
        df = np.empty((maxf, _MATRIX), dtype=psi.dtype)
        for p in range(width.shape[0] - 1, -1, -1):
            f0, f1 = f_start[p], f_start[p + 1]
            fr = fm[b] if per[p] else fm[0]
            dfr = dfm[b] if per[p] else dfm[0]
            _backward_rng(psi[b], lam[b], fr, dfr, f0, f1, f_off, bits[p], width[p], ctrl_mask[p], ins[p],
                          nins[p], want, 0, N >> nins[p], acc[f0:f1], offs, x, y, t, fh, df, kind[p] == KIND_CTRL_X)
        for f in range(f_start[-1]):
            gtheta[b, f] += acc[f]


@njit(parallel=True, **_opts)
def _backward_pass_parallel(psi, lam, fm, dfm, per_p, f0, f1, f_off, bits_p, width_p, cmask_p, ins_p, nins_p,
                            want, out, is_x):
    B, N = psi.shape
    groups = N >> nins_p
    cps = max(1, groups // CHUNK_GROUPS)
    gs = groups // cps
    nf = f1 - f0
    part = np.zeros((B * cps, max(nf, 1)))
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        offs = np.empty(_GROUP, dtype=np.int64)
        x = np.empty(_GROUP, dtype=psi.dtype)
        y = np.empty(_GROUP, dtype=psi.dtype)
        t = np.empty(_GROUP, dtype=psi.dtype)
        fh = np.empty((max(nf, 1), _MATRIX), dtype=psi.dtype)
        df = np.empty((max(nf, 1), _MATRIX), dtype=psi.dtype)
        fr = fm[b] if per_p else fm[0]
        dfr = dfm[b] if per_p else dfm[0]
        _backward_rng(psi[b], lam[b], fr, dfr, f0, f1, f_off, bits_p, width_p, cmask_p, ins_p, nins_p, want,
                      k0, k0 + gs, part[c], offs, x, y, t, fh, df, is_x)
    for c in range(B * cps):
        for j in range(nf):
            out[c // cps, f0 + j] += part[c, j]


def backward_plan(psi, lam, mh, fm, dfm, per, kind, f_start, f_off, width, m_off, grad_pass, want, pl, has_im,
                  gtheta, corr) -> None:
    """The steps of a :class:`~qsim.program.plan.Plan` ``pl`` undone in reverse order on ``ψ`` and ``λ``.

    Block runs (:func:`qsim.backends.block_kernels.block_back`, pass matrices ``mh = U†``) add the
    per-pass correlations ``C`` into ``corr (B, m_size)``; lone sweeps undo their pass factor by
    factor and add the gradients into ``gtheta (B, F)``; swaps are their own inverse and move
    both states.  A Python loop over the steps, as in :func:`run_plan`.
    """
    B, N = psi.shape
    k = pl.local_qubits
    pf, lf = psi.view(psi.real.dtype), lam.view(lam.real.dtype)
    part = np.zeros((B * (N >> k), corr.shape[1]), dtype=np.complex128)
    for s in range(pl.n_steps - 1, -1, -1):
        lo, hi = int(pl.step_lo[s]), int(pl.step_hi[s])
        if pl.step_kind[s] == STEP_BLOCK:
            block_back(pf, lf, mh, per, kind, width, m_off, grad_pass, pl.slot_pass, pl.bits, pl.ctrl_mask,
                       pl.global_mask, pl.ins, pl.n_ins, lo, hi, k, has_im, part)
        elif pl.step_kind[s] == STEP_SWEEP:
            p = pl.slot_pass[lo]
            _backward_pass_parallel(psi, lam, fm, dfm, per[p], f_start[p], f_start[p + 1], f_off, pl.bits[lo], width[p],
                                    pl.ctrl_mask[lo], pl.ins[lo], pl.n_ins[lo], want, gtheta, kind[p] == KIND_CTRL_X)
        else:
            _swap_bits(psi, pl.swap_local[lo:hi], pl.swap_global[lo:hi])
            _swap_bits(lam, pl.swap_local[lo:hi], pl.swap_global[lo:hi])
    corr += part.reshape(B, N >> k, -1).sum(axis=1)


# ------------------------------------------------------------------------- observables
@njit(parallel=True, **_opts)
def pauli_expvals(st, flip, sign, phase):
    """``(B, T)`` values ``Re( phase_t Σ_i conj(ψ[i ⊕ f_t]) (-1)^{|i ∧ s_t|} ψ[i] )``."""
    B, N = st.shape
    T = flip.shape[0]
    cps = max(1, N // CHUNK_GROUPS)
    gs = N // cps
    part = np.zeros((B * cps, T))
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        for t in range(T):
            f = flip[t]
            s = sign[t]
            acc = st[b, 0] * 0
            for i in range(k0, k0 + gs):
                v = np.conj(st[b, i ^ f]) * st[b, i]
                if _parity(i & s):
                    acc -= v
                else:
                    acc += v
            part[c, t] = (phase[t] * acc).real
    out = np.zeros((B, T))
    for c in range(B * cps):
        for t in range(T):
            out[c // cps, t] += part[c, t]
    return out


@njit(parallel=True, **_opts)
def apply_observable_sum(st, out, flip, sign, phase, term_obs, cot):
    """``out = Σ_t cot[b, obs_t] · phase_t · P_t ψ`` with ``(P ψ)_i = (-1)^{|(i⊕f)∧s|} ψ[i ⊕ f]``."""
    B, N = st.shape
    T = flip.shape[0]
    cps = max(1, N // CHUNK_GROUPS)
    gs = N // cps
    for c in prange(B * cps):
        b = c // cps
        cb = b if cot.shape[0] > 1 else 0
        k0 = (c - b * cps) * gs
        for i in range(k0, k0 + gs):
            acc = st[b, 0] * 0
            for t in range(T):
                j = i ^ flip[t]
                v = cot[cb, term_obs[t]] * phase[t] * st[b, j]
                if _parity(j & sign[t]):
                    acc -= v
                else:
                    acc += v
            out[b, i] = acc


@njit(parallel=True, **_opts)
def abs2(st):
    """``|ψ|²`` as float64 ``(B, N)``."""
    B, N = st.shape
    out = np.empty((B, N))
    cps = max(1, N // CHUNK_GROUPS)
    gs = N // cps
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        for i in range(k0, k0 + gs):
            v = st[b, i]
            out[b, i] = (v * np.conj(v)).real
    return out


# ------------------------------------------------------------------- matrix entry point
@njit(parallel=True, **_opts)
def apply_dense(st, m, per, bits, width, ins, nins):
    """Any dense ``2**width`` matrix (row 0 of ``m``, or row ``b`` if ``per``) on ``width`` bits."""
    B, N = st.shape
    groups = N >> nins
    cps = max(1, groups // CHUNK_GROUPS)
    gs = groups // cps
    kind = KIND_DENSE1 if width == 1 else (KIND_DENSE2 if width == 2 else -1)
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        mrow = m[b] if per else m[0]
        _apply_rng(st[b], mrow, kind, width, bits, 0, ins, nins, 0, k0, k0 + gs)


@njit(parallel=True, **_opts)
def signed_sums(st, S):
    """``out[b, t] = Σ_i |ψ_b[i]|² S[i, t]`` (diagonal observables; no BLAS threads involved)."""
    B, N = st.shape
    T = S.shape[1]
    out = np.zeros((B, T))
    for b in prange(B):
        for i in range(N):
            v = st[b, i]
            p = (v * np.conj(v)).real
            for t in range(T):
                out[b, t] += p * S[i, t]
    return out


@njit(parallel=True, **_opts)
def parity_sums(st, sign):
    """``out[b, t] = Σ_i |ψ_b[i]|² (-1)^{|i ∧ s_t|}`` (diagonal terms of any register, signs on the fly).

    Per chunk of :data:`CHUNK_GROUPS` amplitudes: ``|ψ|²`` once into a buffer, then one
    vectorisable sum per term.
    """
    B, N = st.shape
    T = sign.shape[0]
    cps = max(1, N // CHUNK_GROUPS)
    gs = N // cps
    part = np.zeros((B * cps, T))
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        p = np.empty(gs)
        for i in range(gs):
            v = st[b, k0 + i]
            p[i] = (v * np.conj(v)).real
        for t in range(T):
            s = sign[t]
            acc = 0.0
            for i in range(gs):
                acc += p[i] * (1 - 2 * _parity((k0 + i) & s))
            part[c, t] = acc
    out = np.zeros((B, T))
    for c in range(B * cps):
        for t in range(T):
            out[c // cps, t] += part[c, t]
    return out


@njit(parallel=True, **_opts)
def parity_scale(st, wt, sign, out):
    """``out[b, i] = ψ_b[i] · Σ_t wt[b, t] (-1)^{|i ∧ s_t|}`` (λ = O ψ for diagonal terms, any register)."""
    B, N = st.shape
    T = sign.shape[0]
    cps = max(1, N // CHUNK_GROUPS)
    gs = N // cps
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        w = np.zeros(gs)
        for t in range(T):
            s = sign[t]
            x = wt[b, t]
            for i in range(gs):
                w[i] += x * (1 - 2 * _parity((k0 + i) & s))
        for i in range(gs):
            out[b, k0 + i] = st[b, k0 + i] * w[i]


@njit(parallel=True, **_opts)
def signed_scale(st, wt, S, out):
    """``out[b, i] = ψ_b[i] · Σ_t wt[b, t] S[i, t]`` (λ = O ψ for diagonal observables)."""
    B, N = st.shape
    T = S.shape[1]
    for b in prange(B):
        for i in range(N):
            s = 0.0
            for t in range(T):
                s += wt[b, t] * S[i, t]
            out[b, i] = st[b, i] * s
