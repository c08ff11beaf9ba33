"""Block kernels of the cache-blocked plan: a block of the state in split real/imaginary planes.

A block run (:data:`qsim.program.plan.STEP_BLOCK`) applies many passes to one block of ``2**k``
amplitudes while it sits in a core's L2.  The interleaved ``complex`` layout of the state does
not vectorise: LLVM keeps the 2×2 complex update scalar (``vfmadd231sd``), about 1.2 ns per
amplitude in both precisions on the Sapphire Rapids dev machine.  :func:`block_run` therefore
copies each block into thread-local planes ``re, im`` (``re + i·im``), runs the passes on the
planes, and copies the block back.  On planes the update ``(a + ib)(c + id) = (ac - bd) +
i(ad + bc)`` is plain float arithmetic that LLVM packs into ``ymm`` FMAs: 0.35 ns per amplitude
(complex128) and 0.18 ns (complex64) for a dense 2×2 on one thread, in L2; the split and merge
cost about one pass (micro-benchmarks on the dev machine: one thread, 2**16 amplitudes).

**Runs.**  A pass on target bit ``p`` pairs amplitudes ``2**p`` apart: in runs of ``2**p``
contiguous amplitudes, which are passed to the inner loops as separate slices so that LLVM
vectorises them behind a run-time overlap check.  Runs shorter than a vector (``p <``
:data:`SHORT_RUN_BITS`) have dedicated loops: the dense 2×2
with the run length a compile-time constant (``_dense1_fixed``), which LLVM vectorises as
interleaved accesses, the other kinds plain element loops.

The real fast path (float states, real matrices) passes ``has_im = False`` and a dummy ``im``.
Bit helpers: :mod:`.bitops`; matrices as in :mod:`.numba_kernels` (``m[off + r·d + c]``).
"""

from __future__ import annotations

import numpy as np

from ..threads import default_wait_policy

default_wait_policy()          # before the first parallel kernel of this module can launch

from numba import njit, prange  # noqa: E402

from ..program.lower import KIND_CTRL, KIND_CTRL_DIAG, KIND_CTRL_X, KIND_DENSE1, KIND_DIAG1, KIND_DIAG2  # noqa: E402
from .bitops import group_offsets, insert_bits  # noqa: E402

__all__ = ["block_run", "block_back", "SHORT_RUN_BITS"]

#: Runs shorter than ``2**SHORT_RUN_BITS`` amplitudes are not cut into slices (each slice costs
#: a few ns of reference counting): the dense 2×2 gets the fixed-run loops (runs of 1, 2 or 4),
#: the other kinds plain element loops.  Dense 2×2 on one thread, 2**16 amplitudes in L2, dev
#: machine: slices 1.2-2.1 ns per amplitude for runs of 1-4 against 0.5-0.8 (complex128) and
#: 0.2-0.4 (complex64) for the fixed loops; slices 0.65 ns for runs of 8, 0.35 from 32 on.  A
#: controlled X with its lowest bit at 0 took 142 ms on 2**22 amplitudes with slices of one
#: amplitude (29 ms with element loops).  A fixed loop of 8 is not vectorised (1.25 ns).
SHORT_RUN_BITS = 3

_opts = dict(cache=True, nogil=True, fastmath=True)


# ---------------------------------------------------------------------- 2x2 on runs
@njit(inline="always")
def _mv2_run(ar, ai, br, bi, n, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im):
    """``[a, b] ← M [a, b]`` elementwise over ``n`` entries of the slices."""
    if has_im:
        for j in range(n):
            x0r, x0i, x1r, x1i = ar[j], ai[j], br[j], bi[j]
            ar[j] = m0r * x0r - m0i * x0i + m1r * x1r - m1i * x1i
            ai[j] = m0r * x0i + m0i * x0r + m1r * x1i + m1i * x1r
            br[j] = m2r * x0r - m2i * x0i + m3r * x1r - m3i * x1i
            bi[j] = m2r * x0i + m2i * x0r + m3r * x1i + m3i * x1r
    else:
        for j in range(n):
            x0r, x1r = ar[j], br[j]
            ar[j] = m0r * x0r + m1r * x1r
            br[j] = m2r * x0r + m3r * x1r


@njit(inline="always")
def _scale_run(ar, ai, n, dr, di, has_im):
    """``a ← d · a`` over ``n`` entries."""
    if has_im:
        for j in range(n):
            xr, xi = ar[j], ai[j]
            ar[j] = dr * xr - di * xi
            ai[j] = dr * xi + di * xr
    else:
        for j in range(n):
            ar[j] = dr * ar[j]


@njit(inline="always")
def _swap_run(ar, ai, br, bi, n, has_im):
    for j in range(n):
        t = ar[j]
        ar[j] = br[j]
        br[j] = t
    if has_im:
        for j in range(n):
            t = ai[j]
            ai[j] = bi[j]
            bi[j] = t


@njit(inline="always")
def _dense1_fixed(re, im, one, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im):
    """2×2 on bit ``log2(one)`` for a constant ``one`` (inlined: LLVM sees the run length)."""
    for g in range(re.shape[0] // (2 * one)):
        for r in range(one):
            i0 = g * 2 * one + r
            i1 = i0 + one
            if has_im:
                x0r, x0i, x1r, x1i = re[i0], im[i0], re[i1], im[i1]
                re[i0] = m0r * x0r - m0i * x0i + m1r * x1r - m1i * x1i
                im[i0] = m0r * x0i + m0i * x0r + m1r * x1i + m1i * x1r
                re[i1] = m2r * x0r - m2i * x0i + m3r * x1r - m3i * x1i
                im[i1] = m2r * x0i + m2i * x0r + m3r * x1i + m3i * x1r
            else:
                x0r, x1r = re[i0], re[i1]
                re[i0] = m0r * x0r + m1r * x1r
                re[i1] = m2r * x0r + m3r * x1r


@njit(inline="always")
def _dense1_body(re, im, m, off, p, has_im):
    m0r, m0i, m1r, m1i = m[off].real, m[off].imag, m[off + 1].real, m[off + 1].imag
    m2r, m2i, m3r, m3i = m[off + 2].real, m[off + 2].imag, m[off + 3].real, m[off + 3].imag
    if p == 0:
        _dense1_fixed(re, im, 1, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im)
    elif p == 1:
        _dense1_fixed(re, im, 2, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im)
    elif p == 2:
        _dense1_fixed(re, im, 4, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im)
    else:
        one = 1 << p
        for g in range(re.shape[0] >> (p + 1)):
            a = g << (p + 1)
            b = a + one
            _mv2_run(re[a:b], im[a:b] if has_im else im, re[b:b + one], im[b:b + one] if has_im else im, one,
                     m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im)


@njit(**_opts)
def _dense1(re, im, m, off, p, has_im):
    if has_im:                 # a literal flag per copy: LLVM drops the dead branch of every run loop
        _dense1_body(re, im, m, off, p, True)
    else:
        _dense1_body(re, im, m, off, p, False)


@njit(inline="always")
def _mv2_at(re, im, i0, i1, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im):
    """``[ψ_i0, ψ_i1] ← M [ψ_i0, ψ_i1]`` for one pair (short runs)."""
    x0r, x1r = re[i0], re[i1]
    if has_im:
        x0i, x1i = im[i0], im[i1]
        re[i0] = m0r * x0r - m0i * x0i + m1r * x1r - m1i * x1i
        im[i0] = m0r * x0i + m0i * x0r + m1r * x1i + m1i * x1r
        re[i1] = m2r * x0r - m2i * x0i + m3r * x1r - m3i * x1i
        im[i1] = m2r * x0i + m2i * x0r + m3r * x1i + m3i * x1r
    else:
        re[i0] = m0r * x0r + m1r * x1r
        re[i1] = m2r * x0r + m3r * x1r


@njit(inline="always")
def _scale_at(re, im, i, dr, di, has_im):
    xr = re[i]
    if has_im:
        xi = im[i]
        re[i] = dr * xr - di * xi
        im[i] = dr * xi + di * xr
    else:
        re[i] = dr * xr


@njit(inline="always")
def _swap_at(re, im, i0, i1, has_im):
    re[i0], re[i1] = re[i1], re[i0]
    if has_im:
        im[i0], im[i1] = im[i1], im[i0]


@njit(inline="always")
def _diag1_body(re, im, m, off, p, has_im):
    d0r, d0i, d1r, d1i = m[off].real, m[off].imag, m[off + 3].real, m[off + 3].imag
    one = 1 << p
    if p < SHORT_RUN_BITS:
        hi = ~(one - 1)
        for j in range(re.shape[0] >> 1):
            i0 = j + (j & hi)                    # j with a zero bit inserted at p
            _scale_at(re, im, i0, d0r, d0i, has_im)
            _scale_at(re, im, i0 + one, d1r, d1i, has_im)
        return
    for g in range(re.shape[0] >> (p + 1)):
        a = g << (p + 1)
        b = a + one
        _scale_run(re[a:b], im[a:b] if has_im else im, one, d0r, d0i, has_im)
        _scale_run(re[b:b + one], im[b:b + one] if has_im else im, one, d1r, d1i, has_im)


@njit(**_opts)
def _diag1(re, im, m, off, p, has_im):
    if has_im:                 # a literal flag per copy: LLVM drops the dead branch of every run loop
        _diag1_body(re, im, m, off, p, True)
    else:
        _diag1_body(re, im, m, off, p, False)


@njit(inline="always")
def _ctrl_body(re, im, m, off, p, cmask, ins, nins, mode, has_im):
    """Controlled 2×2 on bit ``p`` where every bit of ``cmask`` is set (mode 0 dense, 1 swap, 2 diagonal)."""
    m0r, m0i, m1r, m1i = m[off].real, m[off].imag, m[off + 1].real, m[off + 1].imag
    m2r, m2i, m3r, m3i = m[off + 2].real, m[off + 2].imag, m[off + 3].real, m[off + 3].imag
    one = 1 << p
    groups = re.shape[0] >> nins
    if ins[0] < SHORT_RUN_BITS:
        for c in range(groups):
            a = insert_bits(c, ins, nins) | cmask
            if mode == 1:
                _swap_at(re, im, a, a + one, has_im)
            elif mode == 2:
                _scale_at(re, im, a, m0r, m0i, has_im)
                _scale_at(re, im, a + one, m3r, m3i, has_im)
            else:
                _mv2_at(re, im, a, a + one, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im)
        return
    runlen = 1 << ins[0]
    for c in range(groups >> ins[0]):
        a = insert_bits(c << ins[0], ins, nins) | cmask
        b = a + one
        ar, br = re[a:a + runlen], re[b:b + runlen]
        ai = im[a:a + runlen] if has_im else im
        bi = im[b:b + runlen] if has_im else im
        if mode == 1:
            _swap_run(ar, ai, br, bi, runlen, has_im)
        elif mode == 2:
            _scale_run(ar, ai, runlen, m0r, m0i, has_im)
            _scale_run(br, bi, runlen, m3r, m3i, has_im)
        else:
            _mv2_run(ar, ai, br, bi, runlen, m0r, m0i, m1r, m1i, m2r, m2i, m3r, m3i, has_im)


@njit(**_opts)
def _ctrl(re, im, m, off, p, cmask, ins, nins, mode, has_im):
    if has_im:                 # a literal flag per copy: LLVM drops the dead branch of every run loop
        _ctrl_body(re, im, m, off, p, cmask, ins, nins, mode, True)
    else:
        _ctrl_body(re, im, m, off, p, cmask, ins, nins, mode, False)


@njit(inline="always")
def _diag2_body(re, im, m, off, p0, p1, has_im):
    o0, o1 = 1 << p0, 1 << p1
    lo, hi = min(p0, p1), max(p0, p1)
    ins = np.empty(2, dtype=np.int64)
    ins[0], ins[1] = lo, hi
    short = lo < SHORT_RUN_BITS
    runlen = 1 if short else 1 << lo
    for c in range((re.shape[0] >> 2) // runlen):
        a = insert_bits(c * runlen, ins, 2)
        for j in range(4):                  # local index j = 2·bit(p0) + bit(p1): entry m[5j]
            o = (o0 if j >> 1 else 0) | (o1 if j & 1 else 0)
            e = off + 5 * j
            if short:
                _scale_at(re, im, a + o, m[e].real, m[e].imag, has_im)
            else:
                _scale_run(re[a + o:a + o + runlen], im[a + o:a + o + runlen] if has_im else im, runlen,
                           m[e].real, m[e].imag, has_im)


@njit(**_opts)
def _diag2(re, im, m, off, p0, p1, has_im):
    if has_im:                 # a literal flag per copy: LLVM drops the dead branch of every run loop
        _diag2_body(re, im, m, off, p0, p1, True)
    else:
        _diag2_body(re, im, m, off, p0, p1, False)


@njit(**_opts)
def _densek(re, im, m, off, bits, width, cmask, ins, nins, has_im):
    """Any ``2**width`` dense pass (two targets included), one group at a time."""
    d = 1 << width
    offs = np.empty(d, dtype=np.int64)
    group_offsets(bits, width, offs)
    xr = np.empty(d, dtype=re.dtype)
    xi = np.empty(d, dtype=re.dtype)
    for k in range(re.shape[0] >> nins):
        base = insert_bits(k, ins, nins) | cmask
        for i in range(d):
            xr[i] = re[base + offs[i]]
            if has_im:
                xi[i] = im[base + offs[i]]
        for r in range(d):
            sr = re.dtype.type(0)
            si = re.dtype.type(0)
            for q in range(d):
                e = m[off + r * d + q]
                if has_im:
                    sr += e.real * xr[q] - e.imag * xi[q]
                    si += e.real * xi[q] + e.imag * xr[q]
                else:
                    sr += e.real * xr[q]
            re[base + offs[r]] = sr
            if has_im:
                im[base + offs[r]] = si


@njit(**_opts)
def _apply(re, im, m, kind, width, bits, cmask, ins, nins, off, has_im):
    """One pass of ``kind`` over a whole block's planes."""
    if kind == KIND_DENSE1:
        _dense1(re, im, m, off, bits[0], has_im)
    elif kind == KIND_DIAG1:
        _diag1(re, im, m, off, bits[0], has_im)
    elif kind == KIND_CTRL:
        _ctrl(re, im, m, off, bits[0], cmask, ins, nins, 0, has_im)
    elif kind == KIND_CTRL_X:
        _ctrl(re, im, m, off, bits[0], cmask, ins, nins, 1, has_im)
    elif kind == KIND_CTRL_DIAG:
        _ctrl(re, im, m, off, bits[0], cmask, ins, nins, 2, has_im)
    elif kind == KIND_DIAG2:
        _diag2(re, im, m, off, bits[0], bits[1], has_im)
    else:                                   # KIND_DENSE2 and KIND_DENSEK
        _densek(re, im, m, off, bits, width, cmask, ins, nins, has_im)


@njit(**_opts)
def _split(row, re, im, has_im):
    if has_im:
        for i in range(re.shape[0]):
            re[i] = row[2 * i]
            im[i] = row[2 * i + 1]
    else:
        re[:] = row


@njit(**_opts)
def _merge(row, re, im, has_im):
    if has_im:
        for i in range(re.shape[0]):
            row[2 * i] = re[i]
            row[2 * i + 1] = im[i]
    else:
        row[:] = re


@njit(parallel=True, **_opts)
def block_run(sf, m, per, kind, width, m_off, slot_pass, bits, ctrl, glob, ins, nins, s0, s1, k, has_im):
    """Slots ``s0..s1`` of a plan applied block by block.

    ``sf`` is the float view of the states: ``(B, 2N)`` with ``re, im`` interleaved when
    ``has_im``, else the real states ``(B, N)``.  ``prange`` over the ``B · 2**(n-k)`` blocks of
    ``2**k`` amplitudes; each block is copied into thread-local planes, every slot whose controls
    above the block (``glob[s]``) are all set in the block's index runs on the planes, and the
    block is copied back.
    """
    cs = 2 if has_im else 1
    B = sf.shape[0]
    N = sf.shape[1] // cs
    nblk = N >> k
    bs = 1 << k
    for c in prange(B * nblk):
        b = c // nblk
        base = (c - b * nblk) << k
        re = np.empty(bs, dtype=sf.dtype)
        im = np.empty(bs if has_im else 1, dtype=sf.dtype)
        row = sf[b, cs * base:cs * (base + bs)]
        _split(row, re, im, has_im)
        for s in range(s0, s1):
            if base & glob[s] == glob[s]:
                p = slot_pass[s]
                _apply(re, im, m[b] if per[p] else m[0], kind[p], width[p], bits[s], ctrl[s], ins[s], nins[s],
                       m_off[p], has_im)
        _merge(row, re, im, has_im)


# --------------------------------------------------------------------------- backward
@njit(inline="always")
def _corr_at(re, im, lr, li, i, j, has_im):
    """``ψ_i conj(λ_j)``: ``(re, im)``."""
    if has_im:
        return re[i] * lr[j] + im[i] * li[j], im[i] * lr[j] - re[i] * li[j]
    return re[i] * lr[j], re.dtype.type(0)


@njit(**_opts)
def _correlate(re, im, lr, li, width, bits, cmask, ins, nins, has_im, out, o):
    """``out[o + i·d + j] += Σ_groups ψ_{g,i} conj(λ_{g,j})`` over a pass's ``d × d`` local
    indices, group by group (passes of two or more targets; one-target passes fuse this into
    :func:`_back1`)."""
    d = 1 << width
    offs = np.empty(d, dtype=np.int64)
    group_offsets(bits, width, offs)
    for k in range(re.shape[0] >> nins):
        base = insert_bits(k, ins, nins) | cmask
        for i in range(d):
            for j in range(d):
                r, q = _corr_at(re, im, lr, li, base + offs[i], base + offs[j], has_im)
                out[o + i * d + j] += r + 1j * q


@njit(inline="always")
def _back_run(xar, xai, xbr, xbi, yar, yai, ybr, ybi, n, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im, acc):
    """The fused one-target backward step over ``n`` pairs of run slices (one loop, vectorised):
    ``x ← H x``, ``C += x ⊗ conj(y)`` into ``acc`` (re, im of ``C00, C01, C10, C11``), ``y ← H y``."""
    zero = xar.dtype.type(0)               # sums in the planes' precision, per run: they vectorise
    c0r = c0i = c1r = c1i = c2r = c2i = c3r = c3i = zero
    if has_im:
        for j in range(n):
            x0r, x0i, x1r, x1i = xar[j], xai[j], xbr[j], xbi[j]
            y0r, y0i, y1r, y1i = yar[j], yai[j], ybr[j], ybi[j]
            u0r = h0r * x0r - h0i * x0i + h1r * x1r - h1i * x1i
            u0i = h0r * x0i + h0i * x0r + h1r * x1i + h1i * x1r
            u1r = h2r * x0r - h2i * x0i + h3r * x1r - h3i * x1i
            u1i = h2r * x0i + h2i * x0r + h3r * x1i + h3i * x1r
            xar[j], xai[j], xbr[j], xbi[j] = u0r, u0i, u1r, u1i
            c0r += u0r * y0r + u0i * y0i
            c0i += u0i * y0r - u0r * y0i
            c1r += u0r * y1r + u0i * y1i
            c1i += u0i * y1r - u0r * y1i
            c2r += u1r * y0r + u1i * y0i
            c2i += u1i * y0r - u1r * y0i
            c3r += u1r * y1r + u1i * y1i
            c3i += u1i * y1r - u1r * y1i
            yar[j] = h0r * y0r - h0i * y0i + h1r * y1r - h1i * y1i
            yai[j] = h0r * y0i + h0i * y0r + h1r * y1i + h1i * y1r
            ybr[j] = h2r * y0r - h2i * y0i + h3r * y1r - h3i * y1i
            ybi[j] = h2r * y0i + h2i * y0r + h3r * y1i + h3i * y1r
    else:
        for j in range(n):
            x0r, x1r, y0r, y1r = xar[j], xbr[j], yar[j], ybr[j]
            u0r = h0r * x0r + h1r * x1r
            u1r = h2r * x0r + h3r * x1r
            xar[j], xbr[j] = u0r, u1r
            c0r += u0r * y0r
            c1r += u0r * y1r
            c2r += u1r * y0r
            c3r += u1r * y1r
            yar[j] = h0r * y0r + h1r * y1r
            ybr[j] = h2r * y0r + h3r * y1r
    acc[0] += c0r
    acc[1] += c0i
    acc[2] += c1r
    acc[3] += c1i
    acc[4] += c2r
    acc[5] += c2i
    acc[6] += c3r
    acc[7] += c3i


@njit(inline="always")
def _back_fixed(re, im, lr, li, one, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im, acc):
    """:func:`_back_run` for an uncontrolled target bit ``log2(one)`` with ``one`` a constant
    (inlined: LLVM sees the run length and vectorises, as in :func:`_dense1_fixed`).  One thread,
    2**16 amplitudes in L2, dev machine, bit 1: 1.8 ns per amplitude (complex128) and 0.7
    (complex64) against 4.7 and 4.1 element by element; a constant run of 8 is slower (3.7 ns)
    than slices (2.8)."""
    zero = re.dtype.type(0)
    c0r = c0i = c1r = c1i = c2r = c2i = c3r = c3i = zero
    for g in range(re.shape[0] // (2 * one)):
        for r in range(one):
            a = g * 2 * one + r
            b = a + one
            x0r, x1r, y0r, y1r = re[a], re[b], lr[a], lr[b]
            if has_im:
                x0i, x1i, y0i, y1i = im[a], im[b], li[a], li[b]
                u0r = h0r * x0r - h0i * x0i + h1r * x1r - h1i * x1i
                u0i = h0r * x0i + h0i * x0r + h1r * x1i + h1i * x1r
                u1r = h2r * x0r - h2i * x0i + h3r * x1r - h3i * x1i
                u1i = h2r * x0i + h2i * x0r + h3r * x1i + h3i * x1r
                re[a], im[a], re[b], im[b] = u0r, u0i, u1r, u1i
                c0r += u0r * y0r + u0i * y0i
                c0i += u0i * y0r - u0r * y0i
                c1r += u0r * y1r + u0i * y1i
                c1i += u0i * y1r - u0r * y1i
                c2r += u1r * y0r + u1i * y0i
                c2i += u1i * y0r - u1r * y0i
                c3r += u1r * y1r + u1i * y1i
                c3i += u1i * y1r - u1r * y1i
                lr[a] = h0r * y0r - h0i * y0i + h1r * y1r - h1i * y1i
                li[a] = h0r * y0i + h0i * y0r + h1r * y1i + h1i * y1r
                lr[b] = h2r * y0r - h2i * y0i + h3r * y1r - h3i * y1i
                li[b] = h2r * y0i + h2i * y0r + h3r * y1i + h3i * y1r
            else:
                u0r = h0r * x0r + h1r * x1r
                u1r = h2r * x0r + h3r * x1r
                re[a], re[b] = u0r, u1r
                c0r += u0r * y0r
                c1r += u0r * y1r
                c2r += u1r * y0r
                c3r += u1r * y1r
                lr[a] = h0r * y0r + h1r * y1r
                lr[b] = h2r * y0r + h3r * y1r
    acc[0], acc[1], acc[2], acc[3] = c0r, c0i, c1r, c1i
    acc[4], acc[5], acc[6], acc[7] = c2r, c2i, c3r, c3i


@njit(inline="always")
def _back1_body(re, im, lr, li, h, off, p, cmask, ins, nins, has_im, out, o):
    """Undo a one-target pass on ``ψ`` and ``λ`` and correlate them, in one sweep of the planes.

    Per pair ``(a, b)`` (``b = a + 2**p``, every bit of ``cmask`` set): ``ψ ← H ψ`` with
    ``H = U†``, ``C += ψ ⊗ conj(λ)``, ``λ ← H λ``; ``C`` (``2 × 2``) is added to ``out[o:o+4]``.
    """
    h0r, h0i, h1r, h1i = h[off].real, h[off].imag, h[off + 1].real, h[off + 1].imag
    h2r, h2i, h3r, h3i = h[off + 2].real, h[off + 2].imag, h[off + 3].real, h[off + 3].imag
    one = 1 << p
    groups = re.shape[0] >> nins
    acc = np.zeros(8)
    if nins == 1 and p == 0:
        _back_fixed(re, im, lr, li, 1, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im, acc)
    elif nins == 1 and p == 1:
        _back_fixed(re, im, lr, li, 2, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im, acc)
    elif nins == 1 and p == 2:
        _back_fixed(re, im, lr, li, 4, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im, acc)
    elif ins[0] < SHORT_RUN_BITS:
        zero = re.dtype.type(0)
        c0r = c0i = c1r = c1i = c2r = c2i = c3r = c3i = zero
        for c in range(groups):
            a = insert_bits(c, ins, nins) | cmask
            b = a + one
            _mv2_at(re, im, a, b, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im)
            r0, i0 = _corr_at(re, im, lr, li, a, a, has_im)
            r1, i1 = _corr_at(re, im, lr, li, a, b, has_im)
            r2, i2 = _corr_at(re, im, lr, li, b, a, has_im)
            r3, i3 = _corr_at(re, im, lr, li, b, b, has_im)
            c0r += r0
            c0i += i0
            c1r += r1
            c1i += i1
            c2r += r2
            c2i += i2
            c3r += r3
            c3i += i3
            _mv2_at(lr, li, a, b, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im)
        acc[0], acc[1], acc[2], acc[3] = c0r, c0i, c1r, c1i
        acc[4], acc[5], acc[6], acc[7] = c2r, c2i, c3r, c3i
    else:
        runlen = 1 << ins[0]
        for c in range(groups >> ins[0]):
            a = insert_bits(c << ins[0], ins, nins) | cmask
            b = a + one
            xar, xbr, yar, ybr = re[a:a + runlen], re[b:b + runlen], lr[a:a + runlen], lr[b:b + runlen]
            xai = im[a:a + runlen] if has_im else im
            xbi = im[b:b + runlen] if has_im else im
            yai = li[a:a + runlen] if has_im else li
            ybi = li[b:b + runlen] if has_im else li
            _back_run(xar, xai, xbr, xbi, yar, yai, ybr, ybi, runlen, h0r, h0i, h1r, h1i, h2r, h2i, h3r, h3i, has_im,
                      acc)
    for j in range(4):
        out[o + j] += acc[2 * j] + 1j * acc[2 * j + 1]


@njit(**_opts)
def _back1(re, im, lr, li, h, off, p, cmask, ins, nins, has_im, out, o):
    if has_im:
        _back1_body(re, im, lr, li, h, off, p, cmask, ins, nins, True, out, o)
    else:
        _back1_body(re, im, lr, li, h, off, p, cmask, ins, nins, False, out, o)


@njit(parallel=True, **_opts)
def block_back(pf, lf, mh, per, kind, width, m_off, grad_pass, slot_pass, bits, ctrl, glob, ins, nins, s0, s1, k,
               has_im, part):
    """Slots ``s1-1 … s0`` of a plan undone block by block on ``ψ`` (``pf``) and ``λ`` (``lf``).

    Per block and slot (pass ``U``, conjugate transpose ``mh``): ``ψ ← U† ψ``; if the pass has a
    trainable factor, ``C += Σ_groups ψ ⊗ conj(λ)`` into ``part[block, m_off[p]:+d²]`` (the
    ``d × d`` correlation from which every factor's gradient ``2 Re tr(A_f C)`` follows,
    ``qsim/grad/adjoint.md``); ``λ ← U† λ``.  One-target passes do the three in one loop
    (:func:`_back1`).  ``pf``/``lf``: float views as in :func:`block_run`.
    """
    cs = 2 if has_im else 1
    B = pf.shape[0]
    N = pf.shape[1] // cs
    nblk = N >> k
    bs = 1 << k
    for c in prange(B * nblk):
        b = c // nblk
        base = (c - b * nblk) << k
        re = np.empty(bs, dtype=pf.dtype)
        im = np.empty(bs if has_im else 1, dtype=pf.dtype)
        lr = np.empty(bs, dtype=pf.dtype)
        li = np.empty(bs if has_im else 1, dtype=pf.dtype)
        prow = pf[b, cs * base:cs * (base + bs)]
        lrow = lf[b, cs * base:cs * (base + bs)]
        _split(prow, re, im, has_im)
        _split(lrow, lr, li, has_im)
        for s in range(s1 - 1, s0 - 1, -1):
            if base & glob[s] == glob[s]:
                p = slot_pass[s]
                mrow = mh[b] if per[p] else mh[0]
                if grad_pass[p] and width[p] == 1:
                    _back1(re, im, lr, li, mrow, m_off[p], bits[s][0], ctrl[s], ins[s], nins[s], has_im, part[c],
                           m_off[p])
                    continue
                _apply(re, im, mrow, kind[p], width[p], bits[s], ctrl[s], ins[s], nins[s], m_off[p], has_im)
                if grad_pass[p]:
                    _correlate(re, im, lr, li, width[p], bits[s], ctrl[s], ins[s], nins[s], has_im, part[c],
                               m_off[p])
                _apply(lr, li, mrow, kind[p], width[p], bits[s], ctrl[s], ins[s], nins[s], m_off[p], has_im)
        _merge(prow, re, im, has_im)
        _merge(lrow, lr, li, has_im)
