"""Binding a plan to angles: pattern values of every pass, and of ``∂S_p/∂θ_e`` for the adjoint.

A block's superoperator is ``S = S_m ··· S_1`` with constant factors and parametric ones
``U(θ) ⊗ conj U(θ) = Σ_f e^{-iθω_f} M_f`` (:func:`~qsim.noise.density.plan.spectral_superop`).
Values alone come from the compiled :func:`qsim.noise.kernels.bind_values`; with derivatives,
NumPy prefix/suffix products per block give ``∂S/∂θ_e = S_m ··· (∂S_e) ··· S_1`` with
``∂S_e = Σ_f (-iω_f) e^{-iθω_f} M_f``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...circuit import SRC_CONST, SRC_INPUT, SRC_WEIGHT
from .. import kernels
from ..models import NoisyCircuit
from .plan import DensityPlan, Elem

__all__ = ["Bound", "bind", "slot_thetas", "elem_theta"]


@dataclass
class Bound:
    """Bound pattern values ``vals (Bv, nnz)`` (``Bv = 1`` unless a pass reads inputs) and, with
    derivatives, ``derivs = [(pass, elem index, dvals (Bk, nnz_p))]`` for every trainable factor."""

    vals: np.ndarray
    derivs: list = field(default_factory=list)


def elem_theta(noisy: NoisyCircuit, e: Elem, weights, inputs) -> np.ndarray:
    """The factor's angle, ``(B,)`` when it reads inputs, else ``(1,)``."""
    t = noisy.angles
    i = t.start[e.index] + e.pidx
    if t.src[i] == SRC_WEIGHT:
        return np.array([t.scale[i] * weights[t.index[i]] + t.offset[i]])
    if t.src[i] == SRC_INPUT:
        return t.scale[i] * inputs[:, t.index[i]] + t.offset[i]
    return np.array([t.offset[i]])


def slot_thetas(pl: DensityPlan, noisy: NoisyCircuit, weights, inputs):
    """Angles of the parametric slots ``(B|1, S)`` and which slots are per sample."""
    t = noisy.angles
    pos = pl.binder.slot_params
    kinds, idx, scale, off = t.src[pos], t.index[pos], t.scale[pos], t.offset[pos]
    per = kinds == SRC_INPUT
    B = inputs.shape[0] if (inputs is not None and per.any()) else 1
    theta = np.broadcast_to(off, (B, len(off))).copy()
    wm = kinds == SRC_WEIGHT
    if wm.any():
        theta[:, wm] += scale[wm] * weights[idx[wm]]
    if per.any():
        theta[:, per] += scale[per] * inputs[:, idx[per]]
    return np.ascontiguousarray(theta), per


def bind(pl: DensityPlan, noisy: NoisyCircuit, weights, inputs, B: int, dtype, with_derivs: bool) -> Bound:
    """Pattern values of every pass (and, if asked, of ``∂S_p/∂θ_e`` for every trainable factor).

    Values alone come from the compiled :func:`~qsim.noise.kernels.bind_values`; with
    derivatives the NumPy implementation below (prefix/suffix products per block) is used.
    """
    Bv = B if pl.per.any() else 1
    if not with_derivs:
        bd = pl.binder
        theta, slot_per = slot_thetas(pl, noisy, weights, inputs)
        vals = np.zeros((Bv, pl.nnz), dtype=np.complex128)
        if pl.n_passes:
            kernels.bind_values(theta, slot_per, pl.per, bd.dim, bd.sg_start, bd.sg_slot, bd.sg_om_start, bd.om_all,
                                bd.sg_nz_start, bd.nz_r, bd.nz_c, bd.sg_coef_start, bd.coef, pl.e_start, pl.rows,
                                pl.cols, vals)
        if np.dtype(dtype).kind == "f":
            vals = np.ascontiguousarray(vals.real)
        return Bound(vals)
    vals = np.zeros((Bv, pl.nnz), dtype=dtype)
    real = np.dtype(dtype).kind == "f"
    out = Bound(vals)
    t = noisy.angles
    for p, seg in enumerate(pl.segments):
        e0, e1 = pl.e_start[p], pl.e_start[p + 1]
        r, c = pl.rows[e0:e1], pl.cols[e0:e1]
        if len(seg) == 1 and seg[0][0] == "c":
            v = seg[0][1][r, c]
            vals[0, e0:e1] = v.real if real else v
            continue
        mats, dmats = [], []
        for item in seg:
            if item[0] == "c":
                mats.append(item[1][None])
                dmats.append(None)
                continue
            _, ei, om, ms = item
            e = pl.elems[ei]
            th = elem_theta(noisy, e, weights, inputs)
            ph = np.exp(-1j * th[:, None] * om[None, :])                       # (Bk, F)
            dd = ms.shape[-1]
            flat = ms.reshape(len(om), dd * dd)
            mats.append((ph @ flat).reshape(-1, dd, dd))
            trainable = t.src[t.start[e.index] + e.pidx] != SRC_CONST
            dmats.append(((ph * (-1j * om[None, :])) @ flat).reshape(-1, dd, dd) if trainable else None)
        total = mats[0]
        prefix = [total]
        for m in mats[1:]:
            total = m @ total
            prefix.append(total)
        v = total[:, r, c]
        vals[: v.shape[0], e0:e1] = v.real if real else v
        if any(d is not None for d in dmats):
            suffix = [None] * len(mats)          # suffix[j] = mats[-1] @ ... @ mats[j+1]
            acc = None
            for j in range(len(mats) - 1, -1, -1):
                suffix[j] = acc
                acc = mats[j] if acc is None else acc @ mats[j]
            for j, dsk in enumerate(dmats):
                if dsk is None:
                    continue
                full = dsk if j == 0 else dsk @ prefix[j - 1]
                if suffix[j] is not None:
                    full = suffix[j] @ full
                dv = full[:, r, c]
                out.derivs.append((p, seg[j][1], dv.real if real else dv))
    return out
