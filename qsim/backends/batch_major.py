"""Batch-major kernels: the batch is the contiguous innermost axis, real and imaginary planes apart.

For many small states (the hybrid head: ``B`` sentences, 8-14 qubits) the state is stored as
``re, im`` arrays of shape ``(N, B)``.  A pass then loops over its amplitude groups (bit
insertion computed once per group) and, innermost, over the batch — a plain, contiguous float
loop with per-sample (or broadcast) matrix entries, which LLVM vectorises with AVX2/FMA.
Complex arithmetic is written out: ``(a + ib)(c + id) = (ac - bd) + i(ad + bc)``.

One range iterator per target count, as in :mod:`.numba_kernels`; the real fast path passes
``im = None``-shaped empty planes and skips the imaginary work (``has_im = False``).
Matrices: ``mr, mi`` of shape ``(m_size, R)`` with ``R = B`` (per-sample) or ``1`` (shared);
a shared pass reads column 0 (:data:`per` flags as in the sample-major driver).
"""

from __future__ import annotations

import numpy as np

from ..threads import default_wait_policy

default_wait_policy()          # before the first parallel kernel of this module can launch

from numba import njit, prange  # noqa: E402

from ..program.lower import KIND_CTRL_X, KIND_DENSE1, KIND_DENSE2, KIND_DIAG1, KIND_DIAG2  # noqa: E402
from .bitops import insert_bits  # noqa: E402

#: Amplitude groups per parallel chunk (each group moves ``B`` samples).
BM_CHUNK_GROUPS = 64

_opts = dict(cache=True, nogil=True, fastmath=True)


@njit(inline="always")
def _mv2(re, im, i0, i1, mr, mi, o, col, has_im):
    """``[a0, a1] ← M [a0, a1]`` for every sample (rows ``i0``, ``i1`` of the planes)."""
    B = re.shape[1]
    if col < 0:      # per-sample matrices: column b
        for b in range(B):
            x0r, x1r = re[i0, b], re[i1, b]
            m0r, m1r, m2r, m3r = mr[o, b], mr[o + 1, b], mr[o + 2, b], mr[o + 3, b]
            if has_im:
                x0i, x1i = im[i0, b], im[i1, b]
                m0i, m1i, m2i, m3i = mi[o, b], mi[o + 1, b], mi[o + 2, b], mi[o + 3, b]
                re[i0, b] = m0r * x0r - m0i * x0i + m1r * x1r - m1i * x1i
                im[i0, b] = m0r * x0i + m0i * x0r + m1r * x1i + m1i * x1r
                re[i1, b] = m2r * x0r - m2i * x0i + m3r * x1r - m3i * x1i
                im[i1, b] = m2r * x0i + m2i * x0r + m3r * x1i + m3i * x1r
            else:
                re[i0, b] = m0r * x0r + m1r * x1r
                re[i1, b] = m2r * x0r + m3r * x1r
    else:
        m0r, m1r, m2r, m3r = mr[o, col], mr[o + 1, col], mr[o + 2, col], mr[o + 3, col]
        m0i, m1i, m2i, m3i = mi[o, col], mi[o + 1, col], mi[o + 2, col], mi[o + 3, col]
        for b in range(B):
            x0r, x1r = re[i0, b], re[i1, b]
            if has_im:
                x0i, x1i = im[i0, b], im[i1, b]
                re[i0, b] = m0r * x0r - m0i * x0i + m1r * x1r - m1i * x1i
                im[i0, b] = m0r * x0i + m0i * x0r + m1r * x1i + m1i * x1r
                re[i1, b] = m2r * x0r - m2i * x0i + m3r * x1r - m3i * x1i
                im[i1, b] = m2r * x0i + m2i * x0r + m3r * x1i + m3i * x1r
            else:
                re[i0, b] = m0r * x0r + m1r * x1r
                re[i1, b] = m2r * x0r + m3r * x1r


@njit(inline="always")
def _mv4_shared(re, im, i0, i1, i2, i3, m, has_im):
    """4×4 shared matrix ``m`` (32 floats: real parts then imaginary parts) on rows ``i0..i3``."""
    B = re.shape[1]
    r00, r01, r02, r03, r10, r11, r12, r13 = m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    r20, r21, r22, r23, r30, r31, r32, r33 = m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]
    j00, j01, j02, j03, j10, j11, j12, j13 = m[16], m[17], m[18], m[19], m[20], m[21], m[22], m[23]
    j20, j21, j22, j23, j30, j31, j32, j33 = m[24], m[25], m[26], m[27], m[28], m[29], m[30], m[31]
    if has_im:
        for b in range(B):
            x0r, x1r, x2r, x3r = re[i0, b], re[i1, b], re[i2, b], re[i3, b]
            x0i, x1i, x2i, x3i = im[i0, b], im[i1, b], im[i2, b], im[i3, b]
            re[i0, b] = r00 * x0r + r01 * x1r + r02 * x2r + r03 * x3r - j00 * x0i - j01 * x1i - j02 * x2i - j03 * x3i
            im[i0, b] = r00 * x0i + r01 * x1i + r02 * x2i + r03 * x3i + j00 * x0r + j01 * x1r + j02 * x2r + j03 * x3r
            re[i1, b] = r10 * x0r + r11 * x1r + r12 * x2r + r13 * x3r - j10 * x0i - j11 * x1i - j12 * x2i - j13 * x3i
            im[i1, b] = r10 * x0i + r11 * x1i + r12 * x2i + r13 * x3i + j10 * x0r + j11 * x1r + j12 * x2r + j13 * x3r
            re[i2, b] = r20 * x0r + r21 * x1r + r22 * x2r + r23 * x3r - j20 * x0i - j21 * x1i - j22 * x2i - j23 * x3i
            im[i2, b] = r20 * x0i + r21 * x1i + r22 * x2i + r23 * x3i + j20 * x0r + j21 * x1r + j22 * x2r + j23 * x3r
            re[i3, b] = r30 * x0r + r31 * x1r + r32 * x2r + r33 * x3r - j30 * x0i - j31 * x1i - j32 * x2i - j33 * x3i
            im[i3, b] = r30 * x0i + r31 * x1i + r32 * x2i + r33 * x3i + j30 * x0r + j31 * x1r + j32 * x2r + j33 * x3r
    else:
        for b in range(B):
            x0r, x1r, x2r, x3r = re[i0, b], re[i1, b], re[i2, b], re[i3, b]
            re[i0, b] = r00 * x0r + r01 * x1r + r02 * x2r + r03 * x3r
            re[i1, b] = r10 * x0r + r11 * x1r + r12 * x2r + r13 * x3r
            re[i2, b] = r20 * x0r + r21 * x1r + r22 * x2r + r23 * x3r
            re[i3, b] = r30 * x0r + r31 * x1r + r32 * x2r + r33 * x3r


@njit(inline="always")
def _dot4(mr, mi, e, c, x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, has_im):
    """Row ``e..e+3`` of a per-sample 4×4 matrix (column ``c``) times ``x``."""
    a0, a1, a2, a3 = mr[e, c], mr[e + 1, c], mr[e + 2, c], mr[e + 3, c]
    sr = a0 * x0r + a1 * x1r + a2 * x2r + a3 * x3r
    si = 0.0
    if has_im:
        b0, b1, b2, b3 = mi[e, c], mi[e + 1, c], mi[e + 2, c], mi[e + 3, c]
        sr -= b0 * x0i + b1 * x1i + b2 * x2i + b3 * x3i
        si = a0 * x0i + a1 * x1i + a2 * x2i + a3 * x3i + b0 * x0r + b1 * x1r + b2 * x2r + b3 * x3r
    return sr, si


@njit(inline="always")
def _mv4(re, im, i0, i1, i2, i3, mr, mi, o, col, has_im, mbuf):
    """4×4 on rows ``i0..i3`` for every sample (per-sample matrices when ``col < 0``)."""
    if col >= 0:
        for e in range(16):
            mbuf[e] = mr[o + e, col]
            mbuf[16 + e] = mi[o + e, col]
        _mv4_shared(re, im, i0, i1, i2, i3, mbuf, has_im)
        return
    for b in range(re.shape[1]):
        x0r, x1r, x2r, x3r = re[i0, b], re[i1, b], re[i2, b], re[i3, b]
        x0i = x1i = x2i = x3i = 0.0
        if has_im:
            x0i, x1i, x2i, x3i = im[i0, b], im[i1, b], im[i2, b], im[i3, b]
        s0r, s0i = _dot4(mr, mi, o, b, x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, has_im)
        s1r, s1i = _dot4(mr, mi, o + 4, b, x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, has_im)
        s2r, s2i = _dot4(mr, mi, o + 8, b, x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, has_im)
        s3r, s3i = _dot4(mr, mi, o + 12, b, x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, has_im)
        re[i0, b], re[i1, b], re[i2, b], re[i3, b] = s0r, s1r, s2r, s3r
        if has_im:
            im[i0, b], im[i1, b], im[i2, b], im[i3, b] = s0i, s1i, s2i, s3i


@njit(inline="always")
def _bm_pass_rng(re, im, mr, mi, col, kind, width, bits, cmask, ins, nins, off, has_im, k0, k1, mbuf):
    """One pass over groups ``k0..k1`` (all samples)."""
    if kind == KIND_DENSE1 or kind == KIND_DIAG1 or width == 1:
        one = 1 << bits[0]
        for k in range(k0, k1):
            i0 = insert_bits(k, ins, nins) | cmask
            i1 = i0 | one
            if kind == KIND_CTRL_X:
                for b in range(re.shape[1]):
                    t = re[i0, b]
                    re[i0, b] = re[i1, b]
                    re[i1, b] = t
                    if has_im:
                        t = im[i0, b]
                        im[i0, b] = im[i1, b]
                        im[i1, b] = t
            else:
                _mv2(re, im, i0, i1, mr, mi, off, col, has_im)
    elif kind == KIND_DENSE2 or kind == KIND_DIAG2:
        o0, o1 = 1 << bits[0], 1 << bits[1]
        for k in range(k0, k1):
            i00 = insert_bits(k, ins, nins)
            _mv4(re, im, i00, i00 | o1, i00 | o0, i00 | o0 | o1, mr, mi, off, col, has_im, mbuf)


@njit(parallel=True, **_opts)
def run_batch_major(re, im, mr, mi, per, kind, width, bits, ctrl_mask, ins, nins, m_off, has_im):
    """All passes in order; each pass ``prange`` over chunks of groups, innermost the batch."""
    N = re.shape[0]
    for p in range(kind.shape[0]):
        groups = N >> nins[p]
        nch = max(1, groups // BM_CHUNK_GROUPS)
        gs = groups // nch
        col = -1 if per[p] else 0
        for c in prange(nch):
            mbuf = np.empty(32, dtype=re.dtype)
            _bm_pass_rng(re, im, mr, mi, col, kind[p], width[p], bits[p], ctrl_mask[p], ins[p], nins[p],
                         m_off[p], has_im, c * gs, c * gs + gs, mbuf)


#: Side of the square tiles :func:`to_planes` and :func:`from_planes` transpose through (16 × 16
#: complex128 = 4 KiB, in L1 with its target).  Reasoned, not tuned.  Per W2 call (n = 8,
#: B = 256, one thread, "Intel(R) Xeon(R) Processor" 2-core VM, cProfile of ``qsim.expval``, 200
#: calls, load 1-4): NumPy's strided ``ascontiguousarray(a.real.T)`` (4 per call) 0.36 ms and
#: ``out.real = re.T`` 0.35 ms, these kernels 0.13 ms and 0.09 ms.
TRANSPOSE_TILE = 16


@njit(**_opts)
def to_planes(a, re, im, has_im):
    """``re[k, r] = Re a[r, k]``, ``im[k, r] = Im a[r, k]`` (``a (R, K)`` complex, planes ``(K, R)``;
    ``im`` untouched unless ``has_im``), tile by tile."""
    R, K = a.shape
    T = TRANSPOSE_TILE
    for r0 in range(0, R, T):
        for k0 in range(0, K, T):
            for k in range(k0, min(K, k0 + T)):
                for r in range(r0, min(R, r0 + T)):
                    v = a[r, k]
                    re[k, r] = v.real
                    if has_im:
                        im[k, r] = v.imag


@njit(**_opts)
def from_planes(re, im, out):
    """``out[r, k] = re[k, r] + i·im[k, r]`` (``out (R, K)`` complex), tile by tile."""
    R, K = out.shape
    T = TRANSPOSE_TILE
    for r0 in range(0, R, T):
        for k0 in range(0, K, T):
            for r in range(r0, min(R, r0 + T)):
                for k in range(k0, min(K, k0 + T)):
                    out[r, k] = re[k, r] + 1j * im[k, r]


def supported(program) -> bool:
    """Batch-major covers passes of width <= 2 (every pass of the paper's and the bench circuits)."""
    return bool(np.all(program.width <= 2))


# ------------------------------------------------------------------------------ backward
@njit(inline="always")
def _back_core(pr, pi, lr, li, i0, i1, b, f, d, want_j, has_im, gacc):
    """One sample of: ``x ← F† x``; ``g += 2 Re(λ† dF x)``; ``λ ← F† λ`` on rows ``(i0, i1)``.

    ``f``/``d``: the 2×2 ``F``/``dF`` as 8 floats (real parts of f00 f01 f10 f11, then imaginary).
    """
    f00r, f01r, f10r, f11r, f00i, f01i, f10i, f11i = f
    x0r, x1r = pr[i0, b], pr[i1, b]
    y0r, y1r = lr[i0, b], lr[i1, b]
    if has_im:
        x0i, x1i = pi[i0, b], pi[i1, b]
        y0i, y1i = li[i0, b], li[i1, b]
        # F† = [[conj f00, conj f10], [conj f01, conj f11]]
        a0r = f00r * x0r + f00i * x0i + f10r * x1r + f10i * x1i
        a0i = f00r * x0i - f00i * x0r + f10r * x1i - f10i * x1r
        a1r = f01r * x0r + f01i * x0i + f11r * x1r + f11i * x1i
        a1i = f01r * x0i - f01i * x0r + f11r * x1i - f11i * x1r
        if want_j:
            d00r, d01r, d10r, d11r, d00i, d01i, d10i, d11i = d
            z0r = d00r * a0r - d00i * a0i + d01r * a1r - d01i * a1i
            z0i = d00r * a0i + d00i * a0r + d01r * a1i + d01i * a1r
            z1r = d10r * a0r - d10i * a0i + d11r * a1r - d11i * a1i
            z1i = d10r * a0i + d10i * a0r + d11r * a1i + d11i * a1r
            gacc[b] += 2.0 * (y0r * z0r + y0i * z0i + y1r * z1r + y1i * z1i)
        pr[i0, b], pi[i0, b], pr[i1, b], pi[i1, b] = a0r, a0i, a1r, a1i
        lr[i0, b] = f00r * y0r + f00i * y0i + f10r * y1r + f10i * y1i
        li[i0, b] = f00r * y0i - f00i * y0r + f10r * y1i - f10i * y1r
        lr[i1, b] = f01r * y0r + f01i * y0i + f11r * y1r + f11i * y1i
        li[i1, b] = f01r * y0i - f01i * y0r + f11r * y1i - f11i * y1r
    else:
        a0r = f00r * x0r + f10r * x1r
        a1r = f01r * x0r + f11r * x1r
        if want_j:
            d00r, d01r, d10r, d11r = d[0], d[1], d[2], d[3]
            gacc[b] += 2.0 * (y0r * (d00r * a0r + d01r * a1r) + y1r * (d10r * a0r + d11r * a1r))
        pr[i0, b], pr[i1, b] = a0r, a1r
        lr[i0, b] = f00r * y0r + f10r * y1r
        lr[i1, b] = f01r * y0r + f11r * y1r


@njit(inline="always")
def _load8(mr, mi, o, c):
    return (mr[o, c], mr[o + 1, c], mr[o + 2, c], mr[o + 3, c], mi[o, c], mi[o + 1, c], mi[o + 2, c], mi[o + 3, c])


@njit(inline="always")
def _bm_back_pair(pr, pi, lr, li, i0, i1, fr, fi, dr, di, o, col, want_j, has_im, gacc):
    """Undo one 2×2 factor on the pair rows ``(i0, i1)`` of ψ and λ for every sample."""
    B = pr.shape[1]
    if col >= 0:                                   # shared factor: hoist its 16 numbers
        f = _load8(fr, fi, o, col)
        d = _load8(dr, di, o, col)
        for b in range(B):
            _back_core(pr, pi, lr, li, i0, i1, b, f, d, want_j, has_im, gacc)
    else:
        for b in range(B):
            _back_core(pr, pi, lr, li, i0, i1, b, _load8(fr, fi, o, b), _load8(dr, di, o, b), want_j, has_im, gacc)


@njit(inline="always")
def _swap_rows(a, i0, i1):
    for b in range(a.shape[1]):
        t = a[i0, b]
        a[i0, b] = a[i1, b]
        a[i1, b] = t


@njit(parallel=True, **_opts)
def _bm_backward_pass(pr, pi, lr, li, fr, fi, dr, di, col, f0, f1, f_off, bit, cmask, ins, nins, want, has_im,
                      gtheta, is_x):
    N, B = pr.shape
    groups = N >> nins
    nch = max(1, groups // BM_CHUNK_GROUPS)
    gs = groups // nch
    nf = f1 - f0
    part = np.zeros((nch, max(nf, 1), B))
    one = 1 << bit
    for c in prange(nch):
        for k in range(c * gs, c * gs + gs):
            i0 = insert_bits(k, ins, nins) | cmask
            i1 = i0 | one
            if is_x:                       # a (controlled) X is its own inverse: swap, no gradient
                _swap_rows(pr, i0, i1)
                _swap_rows(lr, i0, i1)
                if has_im:
                    _swap_rows(pi, i0, i1)
                    _swap_rows(li, i0, i1)
                continue
            for jj in range(nf - 1, -1, -1):
                _bm_back_pair(pr, pi, lr, li, i0, i1, fr, fi, dr, di, f_off[f0 + jj], col, want[f0 + jj], has_im,
                              part[c, jj])
    for c in range(nch):
        for jj in range(nf):
            for b in range(B):
                gtheta[f0 + jj, b] += part[c, jj, b]


@njit(**_opts)
def backward_batch_major(pr, pi, lr, li, fr, fi, dr, di, per, kind, f_start, f_off, bits, ctrl_mask, ins, nins,
                         want, has_im, gtheta):
    """Backward sweep (passes in reverse) for programs of one-target passes; ``gtheta (F, B)``."""
    for p in range(bits.shape[0] - 1, -1, -1):
        _bm_backward_pass(pr, pi, lr, li, fr, fi, dr, di, -1 if per[p] else 0, f_start[p], f_start[p + 1], f_off,
                          bits[p, 0], ctrl_mask[p], ins[p], nins[p], want, has_im, gtheta, kind[p] == KIND_CTRL_X)


def supported_backward(program) -> bool:
    """The batch-major backward sweep covers programs whose passes all have one target."""
    return bool(np.all(program.width == 1))
