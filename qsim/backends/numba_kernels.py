"""Numba kernels over batched states ``(B, 2**n)`` (in place, parallel).

Iteration: a pass on ``t`` target bits (plus ``c`` control bits) touches ``G = N / 2**(t+c)``
*groups* of amplitudes per sample.  Group ``k`` is found by inserting zero bits at the sorted
positions of the targets and controls into ``k`` ("bit insertion"), OR-ing the control mask,
and adding the target offsets.  The ``B · G`` groups are cut into chunks of at most
:data:`CHUNK_GROUPS` groups inside one sample; chunks run in ``prange``.  So one loop shape
serves a batch of small states (chunks = samples) and one large state (chunks = slices) alike,
and a kernel never sees more than bit positions: a sharded state can run it on the index bits
of its local slice.

Matrices come from :func:`bind`, per sample (``B`` rows) or shared (1 row).  Real states with
real matrices run the same code in float arithmetic (the "real fast path").
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..program import (
    KIND_CTRL, KIND_CTRL_DIAG, KIND_CTRL_X, KIND_DENSE1, KIND_DENSE2, KIND_DIAG1, KIND_DIAG2,
)

#: Groups per parallel chunk.  2**11 keeps per-chunk overhead below 2 % at n >= 16 while
#: leaving >= 64 chunks per thread at n = 20 (measured with ``qhybrid bench -w W1``).
CHUNK_GROUPS = 1 << 11

_opts = dict(cache=True, nogil=True, fastmath=False)


@njit(inline="always")
def _ins(k, p):
    """Insert a zero bit at position ``p`` of ``k``."""
    return ((k >> p) << (p + 1)) | (k & ((1 << p) - 1))


@njit(inline="always")
def _chunking(groups):
    cps = max(1, groups // CHUNK_GROUPS)
    return cps, groups // cps


@njit(inline="always")
def _parity(x):
    x ^= x >> 32
    x ^= x >> 16
    x ^= x >> 8
    x ^= x >> 4
    x ^= x >> 2
    x ^= x >> 1
    return x & 1


# ---------------------------------------------------------------------------------- bind
@njit(parallel=True, **_opts)
def bind(theta, f_start, dim, m_off, f_off, t_start, lam, t_off, tmat, m_size, f_size, with_factors):
    """Pass matrices ``(Bθ, m_size)`` and, if ``with_factors``, factor matrices and derivatives.

    ``F_f(θ) = Σ_k e^{-iθλ_k} T_k``, ``dF_f = Σ_k (-iλ_k) e^{-iθλ_k} T_k``, pass ``U = F_m···F_1``.
    """
    nb = theta.shape[0]
    npass = dim.shape[0]
    mats = np.zeros((nb, m_size), dtype=np.complex128)
    fm = np.zeros((nb if with_factors else 0, f_size), dtype=np.complex128)
    dfm = np.zeros((nb if with_factors else 0, f_size), dtype=np.complex128)
    for b in prange(nb):
        acc = np.empty(256, dtype=np.complex128)
        cur = np.empty(256, dtype=np.complex128)
        tmp = np.empty(256, dtype=np.complex128)
        for p in range(npass):
            d = dim[p]
            dd = d * d
            for i in range(dd):
                acc[i] = 0.0
            for i in range(d):
                acc[i * d + i] = 1.0
            for f in range(f_start[p], f_start[p + 1]):
                th = theta[b, f]
                for i in range(dd):
                    cur[i] = 0.0
                for t in range(t_start[f], t_start[f + 1]):
                    ph = np.exp(-1j * th * lam[t])
                    o = t_off[t]
                    for i in range(dd):
                        cur[i] += ph * tmat[o + i]
                    if with_factors:
                        dph = -1j * lam[t] * ph
                        for i in range(dd):
                            dfm[b, f_off[f] + i] += dph * tmat[o + i]
                if with_factors:
                    for i in range(dd):
                        fm[b, f_off[f] + i] = cur[i]
                # acc <- cur @ acc
                for r in range(d):
                    for c in range(d):
                        s = 0j
                        for q in range(d):
                            s += cur[r * d + q] * acc[q * d + c]
                        tmp[r * d + c] = s
                for i in range(dd):
                    acc[i] = tmp[i]
            for i in range(dd):
                mats[b, m_off[p] + i] = acc[i]
    return mats, fm, dfm


# ------------------------------------------------------------------------ forward kernels
@njit(parallel=True, **_opts)
def dense1(st, m, off, p):
    B, N = st.shape
    cps, gs = _chunking(N >> 1)
    one = 1 << p
    for c in prange(B * cps):
        b = c // cps
        mb = b if m.shape[0] > 1 else 0
        m0, m1, m2, m3 = m[mb, off], m[mb, off + 1], m[mb, off + 2], m[mb, off + 3]
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            i0 = _ins(k, p)
            i1 = i0 | one
            a0 = st[b, i0]
            a1 = st[b, i1]
            st[b, i0] = m0 * a0 + m1 * a1
            st[b, i1] = m2 * a0 + m3 * a1


@njit(parallel=True, **_opts)
def diag1(st, m, off, p):
    B, N = st.shape
    cps, gs = _chunking(N >> 1)
    one = 1 << p
    for c in prange(B * cps):
        b = c // cps
        mb = b if m.shape[0] > 1 else 0
        d0, d1 = m[mb, off], m[mb, off + 3]
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            i0 = _ins(k, p)
            st[b, i0] *= d0
            st[b, i0 | one] *= d1


@njit(parallel=True, **_opts)
def dense2(st, m, off, p0, p1):
    """4×4 on target bits ``(p0, p1)``; local index ``2·bit(p0) + bit(p1)``."""
    B, N = st.shape
    cps, gs = _chunking(N >> 2)
    lo, hi = min(p0, p1), max(p0, p1)
    o0, o1 = 1 << p0, 1 << p1
    for c in prange(B * cps):
        b = c // cps
        mb = b if m.shape[0] > 1 else 0
        u = m[mb, off:off + 16]
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            i00 = _ins(_ins(k, lo), hi)
            i01 = i00 | o1
            i10 = i00 | o0
            i11 = i10 | o1
            a0, a1, a2, a3 = st[b, i00], st[b, i01], st[b, i10], st[b, i11]
            st[b, i00] = u[0] * a0 + u[1] * a1 + u[2] * a2 + u[3] * a3
            st[b, i01] = u[4] * a0 + u[5] * a1 + u[6] * a2 + u[7] * a3
            st[b, i10] = u[8] * a0 + u[9] * a1 + u[10] * a2 + u[11] * a3
            st[b, i11] = u[12] * a0 + u[13] * a1 + u[14] * a2 + u[15] * a3


@njit(parallel=True, **_opts)
def diag2(st, m, off, p0, p1):
    B, N = st.shape
    cps, gs = _chunking(N >> 2)
    lo, hi = min(p0, p1), max(p0, p1)
    o0, o1 = 1 << p0, 1 << p1
    for c in prange(B * cps):
        b = c // cps
        mb = b if m.shape[0] > 1 else 0
        d0, d1, d2, d3 = m[mb, off], m[mb, off + 5], m[mb, off + 10], m[mb, off + 15]
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            i00 = _ins(_ins(k, lo), hi)
            st[b, i00] *= d0
            st[b, i00 | o1] *= d1
            st[b, i00 | o0] *= d2
            st[b, i00 | o0 | o1] *= d3


@njit(parallel=True, **_opts)
def ctrl1(st, m, off, p, cmask, sorted_bits, nbits, mode):
    """Controlled 2×2 on target bit ``p`` where all bits of ``cmask`` are set.

    ``mode``: 0 dense, 1 permutation (X: swap), 2 diagonal.
    """
    B, N = st.shape
    cps, gs = _chunking(N >> nbits)
    one = 1 << p
    for c in prange(B * cps):
        b = c // cps
        mb = b if m.shape[0] > 1 else 0
        m0, m1, m2, m3 = m[mb, off], m[mb, off + 1], m[mb, off + 2], m[mb, off + 3]
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            i0 = k
            for j in range(nbits):
                i0 = _ins(i0, sorted_bits[j])
            i0 |= cmask
            i1 = i0 | one
            a0 = st[b, i0]
            a1 = st[b, i1]
            if mode == 1:
                st[b, i0] = a1
                st[b, i1] = a0
            elif mode == 2:
                st[b, i0] = m0 * a0
                st[b, i1] = m3 * a1
            else:
                st[b, i0] = m0 * a0 + m1 * a1
                st[b, i1] = m2 * a0 + m3 * a1


@njit(inline="always")
def _group_offsets(bits, width, out):
    """Offsets of the ``2**width`` amplitudes of a group (first target = most significant)."""
    d = 1 << width
    for l in range(d):
        o = 0
        for j in range(width):
            if (l >> (width - 1 - j)) & 1:
                o |= 1 << bits[j]
        out[l] = o


@njit(parallel=True, **_opts)
def densek(st, m, off, bits, width, cmask, sorted_bits, nbits):
    """Generic dense ``2**width`` matrix on ``width`` target bits (any control mask)."""
    B, N = st.shape
    d = 1 << width
    cps, gs = _chunking(N >> nbits)
    for c in prange(B * cps):
        b = c // cps
        mb = b if m.shape[0] > 1 else 0
        offs = np.empty(d, dtype=np.int64)
        _group_offsets(bits, width, offs)
        buf = np.empty(d, dtype=st.dtype)
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            base = k
            for j in range(nbits):
                base = _ins(base, sorted_bits[j])
            base |= cmask
            for l in range(d):
                buf[l] = st[b, base + offs[l]]
            for r in range(d):
                s = buf[0] * 0
                for q in range(d):
                    s += m[mb, off + r * d + q] * buf[q]
                st[b, base + offs[r]] = s


# ----------------------------------------------------------------------- forward driver
@njit(**_opts)
def run_passes(st, m, kind, width, bits, ctrl_mask, sorted_bits, nbits, m_off):
    """Apply every pass of a program in order (``sorted_bits``/``nbits``: insertion bits)."""
    for p in range(kind.shape[0]):
        k = kind[p]
        off = m_off[p]
        if k == KIND_DENSE1:
            dense1(st, m, off, bits[p, 0])
        elif k == KIND_DIAG1:
            diag1(st, m, off, bits[p, 0])
        elif k == KIND_DENSE2:
            dense2(st, m, off, bits[p, 0], bits[p, 1])
        elif k == KIND_DIAG2:
            diag2(st, m, off, bits[p, 0], bits[p, 1])
        elif k == KIND_CTRL:
            ctrl1(st, m, off, bits[p, 0], ctrl_mask[p], sorted_bits[p], nbits[p], 0)
        elif k == KIND_CTRL_X:
            ctrl1(st, m, off, bits[p, 0], ctrl_mask[p], sorted_bits[p], nbits[p], 1)
        elif k == KIND_CTRL_DIAG:
            ctrl1(st, m, off, bits[p, 0], ctrl_mask[p], sorted_bits[p], nbits[p], 2)
        else:
            densek(st, m, off, bits[p], width[p], ctrl_mask[p], sorted_bits[p], nbits[p])


# ---------------------------------------------------------------------- backward kernel
@njit(parallel=True, **_opts)
def backward_pass(psi, lam, fm, dfm, f0, f1, f_off, bits, width, cmask, sorted_bits, nbits, want):
    """Undo one pass on ``ψ`` and ``λ`` and return ``2 Re⟨λ|dF_j|ψ_j⟩`` per sample and factor.

    For each group (all amplitudes local to it): for ``j = m..1``: ``ψ ← F_j† ψ``;
    if ``want[j]``: ``g_j += 2 Re(λ† dF_j ψ)``; ``λ ← F_j† λ``.  Returns ``(B, m)``.
    """
    B, N = psi.shape
    d = 1 << width
    nf = f1 - f0
    cps, gs = _chunking(N >> nbits)
    part = np.zeros((B * cps, max(nf, 1)))
    for c in prange(B * cps):
        b = c // cps
        mb = b if fm.shape[0] > 1 else 0
        offs = np.empty(d, dtype=np.int64)
        _group_offsets(bits, width, offs)
        x = np.empty(d, dtype=psi.dtype)
        y = np.empty(d, dtype=psi.dtype)
        t = np.empty(d, dtype=psi.dtype)
        k0 = (c - b * cps) * gs
        for k in range(k0, k0 + gs):
            base = k
            for j in range(nbits):
                base = _ins(base, sorted_bits[j])
            base |= cmask
            for l in range(d):
                x[l] = psi[b, base + offs[l]]
                y[l] = lam[b, base + offs[l]]
            for jj in range(nf - 1, -1, -1):
                o = f_off[f0 + jj]
                # x <- F† x
                for r in range(d):
                    s = x[0] * 0
                    for q in range(d):
                        s += np.conj(fm[mb, o + q * d + r]) * x[q]
                    t[r] = s
                for r in range(d):
                    x[r] = t[r]
                if want[jj]:
                    g = 0.0
                    for r in range(d):
                        s = x[0] * 0
                        for q in range(d):
                            s += dfm[mb, o + r * d + q] * x[q]
                        g += (np.conj(y[r]) * s).real
                    part[c, jj] += 2.0 * g
                # y <- F† y
                for r in range(d):
                    s = y[0] * 0
                    for q in range(d):
                        s += np.conj(fm[mb, o + q * d + r]) * y[q]
                    t[r] = s
                for r in range(d):
                    y[r] = t[r]
            for l in range(d):
                psi[b, base + offs[l]] = x[l]
                lam[b, base + offs[l]] = y[l]
    out = np.zeros((B, max(nf, 1)))
    for c in range(B * cps):
        for j in range(nf):
            out[c // cps, j] += part[c, j]
    return out


# ------------------------------------------------------------------------- observables
@njit(parallel=True, **_opts)
def pauli_expvals(st, flip, sign, phase):
    """``(B, T)`` values ``Re( phase_t Σ_i conj(ψ[i ⊕ f_t]) (-1)^{|i ∧ s_t|} ψ[i] )``."""
    B, N = st.shape
    T = flip.shape[0]
    cps, gs = _chunking(N)
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
    cps, gs = _chunking(N)
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
    B, N = st.shape
    out = np.empty((B, N))
    cps, gs = _chunking(N)
    for c in prange(B * cps):
        b = c // cps
        k0 = (c - b * cps) * gs
        for i in range(k0, k0 + gs):
            v = st[b, i]
            out[b, i] = (v * np.conj(v)).real
    return out
