"""Density-matrix engine: batched ``ρ (B, 2**n, 2**n)`` evolved as ``2n``-qubit vectors.

**Vectorisation.**  ``vec(ρ)[i·2**n + j] = ρ[i, j]``: row qubits are wires ``0..n-1`` and column
qubits wires ``n..2n-1`` of a ``2n``-qubit register (qubit 0 most significant, as everywhere in
qsim).  Since ``vec(AρB) = (A ⊗ Bᵀ) vec(ρ)``,

* a gate ``U`` on wires ``ws`` is ``U`` on ``ws`` and ``conj(U)`` on ``n + ws``;
* a channel with Kraus operators ``K_a`` on ``ws`` is the superoperator ``S = Σ_a K_a ⊗ conj(K_a)``
  on ``(ws, n + ws)``: a (non-unitary) ``d² × d²`` matrix.

**Fusion and kernels.**  Consecutive instructions are fused into *blocks* on one to three
physical qubits (a block's superoperator is the product of its members', embedded with
identities), then each block is one pass of :mod:`qsim.noise.kernels` over the doubled register:
a dense unrolled ``4 × 4`` for one-qubit blocks, or a sparse pass on the block's fixed pattern of
non-zeros (CNOT followed by depolarizing noise on both wires: 36 of 256 entries).  Fusion is
greedy with a cost model (:data:`PASS_COST`): a member joins the block of its wires when that
is cheaper than a separate pass.  The plan (blocks, patterns) is cached per circuit *structure*
(angles excluded), so shifted circuits of the parameter-shift rule reuse it; values are bound
per call, per sample only for blocks that read inputs.

**Real fast path.**  When every block is real (RY, CNOT, CZ, X, Z, H with any Pauli channel,
amplitude or phase damping, ...) and the initial state is real, ``ρ`` stays real symmetric and
the engine runs in float64.

The NumPy reference (``backend="numpy"``) applies Kraus operators with ``einsum`` on the
``(B, 2, …, 2)`` tensor of ``ρ``; it is the oracle of the fast path.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..backends import reference as ref
from ..circuit import Circuit, CircuitError, Const, Input, Operation, Weight
from ..gates import Gate
from ..observables import as_observables, pauli_table
from ..program import full_spectral
from ..validate import NORM_ATOL, check_batch, check_memory
from . import kernels as K
from .models import ChannelOp, NoiseModel, NoisyCircuit, as_noisy

__all__ = [
    "DensityPlan", "plan", "evolve", "density_matrix", "expval_density", "probabilities_density",
    "initial_vectors", "vec_expvals", "observable_vectors", "vec_to_matrix", "matrix_to_vec",
    "pure_density", "expval_rho", "probabilities_rho", "purity", "partial_trace", "fidelity",
    "trace_distance", "PASS_COST", "DENSE4_MIN_NNZ", "SAMPLE_MAJOR_MAX_QUBITS", "SERIAL_MAX_WORK",
    "SPLIT_BITS", "TRACE_ATOL",
]

log = logging.getLogger(__name__)

#: Cost of one pass over ``vec(ρ)`` in units of "pattern entries per amplitude": a sparse block
#: with ``nnz`` entries costs ``PASS_COST + nnz / D``.  Measured with the pass kernels at
#: n = 10 (complex): ``nnz/D = 1, 2.25, 4, 9, 16`` take ``≈ 7.5, 8.7, 14, 17, 28`` ms, i.e. about
#: ``5 + 1.4·nnz/D``; fusing two blocks pays while the product stays this sparse.
PASS_COST = 5.0
#: One-qubit blocks with at least this many non-zeros (of 16) run as a dense unrolled 4×4.
DENSE4_MIN_NNZ = 9
#: Batches of density matrices of at most this many qubits (``4**7 · 16 B = 256 KiB``) run the whole
#: plan per sample (``prange`` over the batch).
SAMPLE_MAJOR_MAX_QUBITS = 7
#: Work (``B · 4**n · passes`` amplitude updates) up to which a run stays on the calling thread:
#: entering a parallel region costs ~0.1 ms on an idle machine but up to ~8 ms when another
#: process competes for the 2 cores (W1 n = 6: 7.5 ms parallel vs 1.6 ms serial), while 2**24
#: updates take ~0.2 s serially.
SERIAL_MAX_WORK = 1 << 24
#: Larger density matrices are cut into ``2**SPLIT_BITS`` slices along their top row bits; runs
#: of passes that do not touch those bits run slice by slice (see :func:`_run`).
SPLIT_BITS = 3
#: Entries of a generic-angle block superoperator below this are structural zeros.
PATTERN_ATOL = 1e-13
#: A block is real when the imaginary parts of its generic superoperator are below this.
REAL_ATOL = 1e-13
#: Largest accepted ``|Tr ρ - 1|`` and Hermiticity deviation of a given initial density matrix.
TRACE_ATOL = 1e-6
#: Number of random angle draws used to find the generic sparsity pattern of a block.
_GENERIC_DRAWS = 2


# ====================================================================== plan (compile)
@dataclass
class _Elem:
    """One instruction: a gate (possibly parametric) or a channel, on physical ``qubits``."""

    index: int                          # position in NoisyCircuit.instructions
    qubits: tuple[int, ...]
    gate: Gate | None = None            # a one-parameter (elementary) gate, or a constant one
    kraus: np.ndarray | None = None     # (K, d, d) for channels and constant gates
    reads_input: bool = False
    pidx: int = 0                       # which parameter of the instruction drives this factor

    @property
    def parametric(self) -> bool:
        return self.gate is not None and self.gate.num_params > 0


@dataclass
class _Block:
    qubits: tuple[int, ...]
    elems: list[int]
    generic: np.ndarray = field(default=None, repr=False)     # (_GENERIC_DRAWS, D, D)
    alive: bool = True


@dataclass(frozen=True, eq=False)
class _Binder:
    """Flat segment data for :func:`qsim.noise.kernels.bind_values` (see there)."""

    slots: np.ndarray            # elem index of each parametric slot
    dim: np.ndarray
    sg_start: np.ndarray
    sg_slot: np.ndarray
    sg_om_start: np.ndarray
    om_all: np.ndarray
    sg_nz_start: np.ndarray
    nz_r: np.ndarray
    nz_c: np.ndarray
    sg_coef_start: np.ndarray
    coef: np.ndarray


def _make_binder(segs, block_qubits, elems) -> _Binder:
    slot_of: dict[int, int] = {}
    dim, sg_start, sg_slot, om_start, om_all, nz_start, nz_r, nz_c, coef_start, coef = \
        [], [0], [], [0], [], [0], [], [], [0], []
    for seg, q in zip(segs, block_qubits):
        dim.append(4 ** len(q))
        for item in seg:
            if item[0] == "c":
                om, ms, slot = np.zeros(1), item[1][None], -1
            else:
                _, ei, om, ms = item
                slot = slot_of.setdefault(ei, len(slot_of))
            mask = np.any(np.abs(ms) > PATTERN_ATOL, axis=0)
            r, c = np.nonzero(mask)
            sg_slot.append(slot)
            om_all.extend(om.tolist())
            om_start.append(om_start[-1] + len(om))
            nz_r.extend(r.tolist())
            nz_c.extend(c.tolist())
            nz_start.append(nz_start[-1] + len(r))
            coef.extend(ms[:, r, c].T.reshape(-1).tolist())
            coef_start.append(coef_start[-1] + len(r) * len(om))
        sg_start.append(len(sg_slot))
    i64 = lambda a: np.array(a, dtype=np.int64)  # noqa: E731
    slots = np.zeros(len(slot_of), dtype=np.int64)
    for ei, j in slot_of.items():
        slots[j] = ei
    return _Binder(slots, i64(dim), i64(sg_start), i64(sg_slot), i64(om_start), np.array(om_all, dtype=float),
                   i64(nz_start), i64(nz_r), i64(nz_c), i64(coef_start), np.array(coef, dtype=np.complex128))


@dataclass(frozen=True, eq=False)
class DensityPlan:
    """Fused blocks of a noisy circuit's structure and the flat arrays the kernels read.

    Per pass ``p``: ``dense4[p]``, ``width[p]`` (2, 4 or 6 wires of the doubled register),
    ``bits[p, :width]`` (first wire most significant), sorted insertion bits ``ins[p]``,
    pattern entries ``e_start[p]:e_start[p+1]`` of ``rows``/``cols`` (local indices), and
    ``per[p]`` (values per sample).  ``segments[p]`` lists how the block's superoperator is
    built at bind time: ``("c", S)`` a constant factor, ``("p", elem)`` a parametric gate.
    """

    n_qubits: int
    elems: tuple[_Elem, ...]
    block_qubits: tuple[tuple[int, ...], ...]
    segments: tuple[tuple, ...]
    dense4: np.ndarray
    width: np.ndarray
    bits: np.ndarray
    ins: np.ndarray
    nins: np.ndarray
    e_start: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    per: np.ndarray
    max_bit: np.ndarray
    real: bool
    binder: _Binder

    @property
    def n_passes(self) -> int:
        return len(self.width)

    @property
    def nnz(self) -> int:
        return int(self.e_start[-1])

    def describe(self) -> str:
        out = []
        for p in range(self.n_passes):
            nnz = self.e_start[p + 1] - self.e_start[p]
            kind = "dense4" if self.dense4[p] else f"sparse {nnz}/{(1 << self.width[p]) ** 2}"
            out.append(f"{p:4d}  qubits {self.block_qubits[p]}  {kind}  members {len(self.segments[p])}")
        return "\n".join(out)


def _param_key(p) -> tuple:
    if isinstance(p, Weight):
        return ("w", p.index, p.scale)
    if isinstance(p, Input):
        return ("x", p.index, p.scale)
    return ("c",)


def _skeleton(noisy: NoisyCircuit) -> tuple:
    """The instruction structure without angle offsets / constant values (the plan's cache key)."""
    out = []
    for ins in noisy.instructions:
        if isinstance(ins, Operation):
            out.append((ins.gate, ins.wires, tuple(_param_key(p) for p in ins.params)))
        else:
            out.append((ins.channel, ins.wires))
    return tuple(out)


def _embed(m: np.ndarray, sub: Sequence[int], full: Sequence[int]) -> np.ndarray:
    """Matrices ``(..., d, d)`` on wires ``sub`` embedded in the space of wires ``full`` (kron order)."""
    sub, full = tuple(sub), tuple(full)
    if sub == full:
        return m
    rest = [w for w in full if w not in sub]
    order = list(sub) + rest
    lead = m.shape[:-2]
    big = np.kron(m, np.eye(2 ** len(rest))) if not lead else np.einsum(
        "...ij,kl->...ikjl", m, np.eye(2 ** len(rest))).reshape(lead + (2 ** len(full),) * 2)
    k = len(full)
    perm = [order.index(w) for w in full]
    t = big.reshape(lead + (2,) * (2 * k))
    nl = len(lead)
    axes = list(range(nl)) + [nl + p for p in perm] + [nl + k + p for p in perm]
    return t.transpose(axes).reshape(lead + (2 ** k, 2 ** k))


def _superop(kraus: np.ndarray) -> np.ndarray:
    """``Σ_a K_a ⊗ conj(K_a)`` for Kraus ``(A, ..., d, d)`` → ``(..., d², d²)``."""
    d = kraus.shape[-1]
    s = np.einsum("a...ij,a...lm->...iljm", kraus, kraus.conj())
    return s.reshape(s.shape[:-4] + (d * d, d * d))


def _gate_superop(u: np.ndarray) -> np.ndarray:
    """``U ⊗ conj(U)`` for ``U (..., d, d)``."""
    return _superop(u[None])


def _generic_thetas(gate: Gate, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.1, 2 * math.pi - 0.1, size=(_GENERIC_DRAWS, gate.num_params))


def _elem_generic(e: _Elem, block_qubits: tuple[int, ...], rng) -> np.ndarray:
    """Superoperator of an element at generic angles, on the block's space: ``(draws, D, D)``."""
    if e.kraus is not None:
        s = _superop(_embed(e.kraus, e.qubits, block_qubits))
        return np.broadcast_to(s, (_GENERIC_DRAWS,) + s.shape)
    u = e.gate.matrices(_generic_thetas(e.gate, rng))
    return _gate_superop(_embed(u, e.qubits, block_qubits))


def _const_superop(e: _Elem, block_qubits: tuple[int, ...]) -> np.ndarray:
    return _superop(_embed(e.kraus, e.qubits, block_qubits))


def _nnz(s: np.ndarray) -> int:
    return int(np.count_nonzero(np.any(np.abs(s) > PATTERN_ATOL, axis=0)))


def _cost(s: np.ndarray) -> float:
    d = s.shape[-1]
    nnz = _nnz(s)
    if d == 4 and nnz >= DENSE4_MIN_NNZ:
        nnz = 16
    return PASS_COST + nnz / d


def _block_generic(blk: _Block, elems, rng) -> np.ndarray:
    s = None
    for i in blk.elems:
        se = _elem_generic(elems[i], blk.qubits, rng)
        s = se if s is None else se @ s
    return s


def _build_elems(noisy: NoisyCircuit) -> list[_Elem]:
    elems = []
    for k, ins in enumerate(noisy.instructions):
        if isinstance(ins, ChannelOp):
            elems.append(_Elem(k, ins.wires, kraus=np.asarray(ins.channel.kraus)))
        elif ins.gate.num_params == 0:
            elems.append(_Elem(k, ins.wires, gate=ins.gate, kraus=ins.gate.matrix()[None]))
        elif ins.gate.decomposition:             # U3 = PhaseShift · RY · PhaseShift, one factor each
            for g, pi in ins.gate.decomposition:
                elems.append(_Elem(k, ins.wires, gate=g, reads_input=isinstance(ins.params[pi], Input), pidx=pi))
        else:
            elems.append(_Elem(k, ins.wires, gate=ins.gate, reads_input=isinstance(ins.params[0], Input)))
    return elems


def _spectral_superop(gate: Gate, qubits: tuple[int, ...], block: tuple[int, ...]):
    """``U(θ) ⊗ conj U(θ) = Σ_f e^{-iθω_f} M_f`` on the block's space: ``(ω (F,), M (F, D, D))``.

    From ``U = Σ_k e^{-iθλ_k} T_k``: ``ω = λ_k - λ_l``, ``M = Σ T_k ⊗ conj(T_l)`` over equal ``ω``.
    """
    lams, terms = full_spectral(gate)
    terms = _embed(np.asarray(terms), qubits, block)
    d = terms.shape[-1]
    groups: dict[float, np.ndarray] = {}
    for a, la in enumerate(lams):
        for b, lb in enumerate(lams):
            w = round(float(la - lb), 12)
            m = np.einsum("ij,lm->iljm", terms[a], terms[b].conj()).reshape(d * d, d * d)
            groups[w] = groups[w] + m if w in groups else m
    om = np.array(sorted(groups))
    return om, np.stack([groups[w] for w in om])


def _fuse(elems: list[_Elem], fusion: bool) -> list[_Block]:
    rng = np.random.default_rng(12345)
    blocks: list[_Block] = []
    last: dict[int, int] = {}
    for i, e in enumerate(elems):
        q = e.qubits
        if fusion:
            b0 = last.get(q[0])
            if b0 is not None and all(last.get(x) == b0 for x in q) and set(q) <= set(blocks[b0].qubits):
                blk = blocks[b0]
                se = _elem_generic(e, blk.qubits, rng)
                merged = se @ blk.generic
                if _cost(merged) <= _cost(blk.generic) + PASS_COST + _nnz(se) / se.shape[-1]:
                    blk.elems.append(i)
                    blk.generic = merged
                    continue
        nb = _Block(tuple(q), [i])
        nb.generic = _elem_generic(e, nb.qubits, rng)
        if fusion and len(q) > 1:
            for x in q:
                pb = last.get(x)
                if pb is None or not blocks[pb].alive:
                    continue
                prev = blocks[pb]
                if not set(prev.qubits) <= set(q) or any(last.get(y) != pb for y in prev.qubits):
                    continue
                cand = _Block(nb.qubits, prev.elems + nb.elems)
                cand.generic = _block_generic(cand, elems, rng)
                if _cost(cand.generic) <= _cost(nb.generic) + _cost(prev.generic):
                    prev.alive = False
                    nb = cand
        blocks.append(nb)
        for x in q:
            last[x] = len(blocks) - 1
    return [b for b in blocks if b.alive]


def plan(noisy: NoisyCircuit, fusion: bool = True) -> DensityPlan:
    """The (cached) :class:`DensityPlan` of a noisy circuit's structure.

    Plans are cached by structure (shifted circuits share one) and memoised on the NoisyCircuit
    object itself, so repeated calls with the same object skip hashing its instructions.
    """
    memo = noisy.__dict__.setdefault("_density_plans", {})        # frozen dataclass: bypass __setattr__
    pl = memo.get(bool(fusion))
    if pl is None:
        pl = _plan_cached(noisy.n_qubits, _skeleton(noisy), bool(fusion), noisy)
        memo[bool(fusion)] = pl
    return pl


_PLAN_CACHE: dict = {}
_PLAN_CACHE_MAX = 256


def _plan_cached(n: int, key: tuple, fusion: bool, noisy: NoisyCircuit) -> DensityPlan:
    ck = (n, key, fusion)
    hit = _PLAN_CACHE.get(ck)
    if hit is not None:
        return hit
    if len(_PLAN_CACHE) >= _PLAN_CACHE_MAX:
        _PLAN_CACHE.pop(next(iter(_PLAN_CACHE)))
    p = _compile(n, noisy, fusion)
    _PLAN_CACHE[ck] = p
    return p


def _compile(n: int, noisy: NoisyCircuit, fusion: bool) -> DensityPlan:
    elems = _build_elems(noisy)
    blocks = _fuse(elems, fusion)
    dense4, width, bits, ins, nins, e_start, rows, cols, per, segs, bq = [], [], [], [], [], [0], [], [], [], [], []
    real = True
    for blk in blocks:
        k = len(blk.qubits)
        d2 = 4 ** k
        mask = np.any(np.abs(blk.generic) > PATTERN_ATOL, axis=0)
        is_d4 = d2 == 4 and int(mask.sum()) >= DENSE4_MIN_NNZ
        if is_d4:
            mask = np.ones((4, 4), dtype=bool)
        if not mask.any():              # a zero map cannot come from CPTP members; keep one entry
            mask[0, 0] = True
        r, c = np.nonzero(mask)          # row-major order (dense4 relies on it)
        rows.append(r)
        cols.append(c)
        e_start.append(e_start[-1] + len(r))
        wires = list(blk.qubits) + [n + x for x in blk.qubits]
        b = [2 * n - 1 - w for w in wires]
        bits.append(b + [0] * (6 - len(b)))
        ins.append(sorted(b) + [0] * (6 - len(b)))
        nins.append(len(b))
        width.append(len(b))
        dense4.append(is_d4)
        per.append(any(elems[i].reads_input for i in blk.elems))
        real = real and bool(np.all(np.abs(blk.generic.imag) < REAL_ATOL))
        # constant runs pre-multiplied; parametric gates kept for binding
        seg: list = []
        for i in blk.elems:
            e = elems[i]
            if e.parametric:
                om, ms = _spectral_superop(e.gate, e.qubits, blk.qubits)
                seg.append(("p", i, om, ms))
                continue
            sop = _const_superop(e, blk.qubits)
            if seg and seg[-1][0] == "c":
                seg[-1] = ("c", sop @ seg[-1][1])
            else:
                seg.append(("c", sop))
        segs.append(tuple(seg))
        bq.append(blk.qubits)
    i64 = lambda a: np.array(a, dtype=np.int64)  # noqa: E731
    return DensityPlan(
        n_qubits=n, elems=tuple(elems), block_qubits=tuple(bq), segments=tuple(segs),
        dense4=np.array(dense4, dtype=np.bool_), width=i64(width),
        bits=i64(bits).reshape(-1, 6), ins=i64(ins).reshape(-1, 6), nins=i64(nins), e_start=i64(e_start),
        rows=np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64),
        cols=np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, np.int64),
        per=np.array(per, dtype=np.bool_), max_bit=i64([max(x[:w]) for x, w in zip(bits, width)]), real=real,
        binder=_make_binder(segs, bq, elems),
    )


# ====================================================================== bind
def _elem_theta(noisy: NoisyCircuit, e: _Elem, weights, inputs) -> np.ndarray:
    """The factor's angle, ``(B,)`` when it reads inputs, else ``(1,)``."""
    prm = noisy.instructions[e.index].params[e.pidx]
    if isinstance(prm, Weight):
        return np.array([prm.scale * weights[prm.index] + prm.offset])
    if isinstance(prm, Input):
        return prm.scale * inputs[:, prm.index] + prm.offset
    return np.array([prm.value])


@dataclass
class _Bound:
    vals: np.ndarray                                  # (Bv, nnz)
    derivs: list = field(default_factory=list)        # [(pass, elem index, dvals (Bk, nnz_p))]


def _slot_thetas(pl: DensityPlan, noisy: NoisyCircuit, weights, inputs):
    """Angles of the parametric slots ``(B|1, S)`` and which slots are per sample."""
    memo = noisy.__dict__.setdefault("_density_slots", {})
    key = id(pl)
    src = memo.get(key)
    if src is None:
        kinds, idx, scale, off = [], [], [], []
        for ei in pl.binder.slots:
            e = pl.elems[ei]
            prm = noisy.instructions[e.index].params[e.pidx]
            if isinstance(prm, Weight):
                kinds.append(1), idx.append(prm.index), scale.append(prm.scale), off.append(prm.offset)
            elif isinstance(prm, Input):
                kinds.append(2), idx.append(prm.index), scale.append(prm.scale), off.append(prm.offset)
            else:
                kinds.append(0), idx.append(0), scale.append(0.0), off.append(prm.value)
        src = (np.array(kinds, dtype=np.int64), np.array(idx, dtype=np.int64), np.array(scale), np.array(off))
        memo[key] = src
    kinds, idx, scale, off = src
    per = kinds == 2
    B = inputs.shape[0] if (inputs is not None and per.any()) else 1
    theta = np.broadcast_to(off, (B, len(off))).copy()
    wm = kinds == 1
    if wm.any():
        theta[:, wm] += scale[wm] * weights[idx[wm]]
    if per.any():
        theta[:, per] += scale[per] * inputs[:, idx[per]]
    return np.ascontiguousarray(theta), per


def _bind(pl: DensityPlan, noisy: NoisyCircuit, weights, inputs, B: int, dtype, with_derivs: bool) -> _Bound:
    """Pattern values of every pass (and, if asked, of ``∂S_p/∂θ_e`` for every trainable factor).

    Values alone come from the compiled :func:`~qsim.noise.kernels.bind_values`; with
    derivatives the NumPy implementation below (prefix/suffix products per block) is used.
    """
    Bv = B if pl.per.any() else 1
    if not with_derivs:
        bd = pl.binder
        theta, slot_per = _slot_thetas(pl, noisy, weights, inputs)
        vals = np.zeros((Bv, pl.nnz), dtype=np.complex128)
        if pl.n_passes:
            K.bind_values(theta, slot_per, pl.per, bd.dim, bd.sg_start, bd.sg_slot, bd.sg_om_start, bd.om_all,
                          bd.sg_nz_start, bd.nz_r, bd.nz_c, bd.sg_coef_start, bd.coef, pl.e_start, pl.rows,
                          pl.cols, vals)
        if np.dtype(dtype).kind == "f":
            vals = np.ascontiguousarray(vals.real)
        return _Bound(vals)
    vals = np.zeros((Bv, pl.nnz), dtype=dtype)
    real = np.dtype(dtype).kind == "f"
    out = _Bound(vals)
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
            th = _elem_theta(noisy, e, weights, inputs)
            ph = np.exp(-1j * th[:, None] * om[None, :])                       # (Bk, F)
            dd = ms.shape[-1]
            flat = ms.reshape(len(om), dd * dd)
            mats.append((ph @ flat).reshape(-1, dd, dd))
            trainable = not isinstance(noisy.instructions[e.index].params[e.pidx], Const)
            dmats.append(((ph * (-1j * om[None, :])) @ flat).reshape(-1, dd, dd) if with_derivs and trainable
                         else None)
        total = mats[0]
        prefix = [total]
        for m in mats[1:]:
            total = m @ total
            prefix.append(total)
        v = total[:, r, c]
        vals[: v.shape[0], e0:e1] = v.real if real else v
        if with_derivs and any(d is not None for d in dmats):
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


# ====================================================================== run
def _serial(pl: DensityPlan, B: int, n_passes: int) -> bool:
    return B * (4**pl.n_qubits) * max(n_passes, 1) <= SERIAL_MAX_WORK


def _run(pl: DensityPlan, st: np.ndarray, vals: np.ndarray, p0: int = 0, p1: int | None = None) -> None:
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
    if _serial(pl, B, p1 - p0):
        K.run_serial(st, vals, *args, p0, p1)
        return
    if B >= 2 and n <= SAMPLE_MAJOR_MAX_QUBITS:
        K.run_parallel(st, vals, *args, p0, p1, 1, 1)
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
            K.run_parallel(sliced, vals, *args, p, q, split, 1)
            p = q
        else:
            K.run_parallel(st, vals, *args, p, p + 1, 1, K.chunks_per_row(N, int(pl.nins[p])))
            p += 1


def _apply_adjoint_pass(pl: DensityPlan, st: np.ndarray, vals_adj: np.ndarray, rows_adj, cols_adj, p: int) -> None:
    """``S_p†`` on ``st`` (pattern transposed and re-sorted, values conjugated)."""
    if _serial(pl, st.shape[0], 1):
        K.run_serial(st, vals_adj, pl.per, pl.dense4, pl.width, pl.bits, pl.ins, pl.nins, pl.e_start, rows_adj,
                     cols_adj, p, p + 1)
        return
    K.run_parallel(st, vals_adj, pl.per, pl.dense4, pl.width, pl.bits, pl.ins, pl.nins, pl.e_start, rows_adj,
                   cols_adj, p, p + 1, 1, K.chunks_per_row(st.shape[1], int(pl.nins[p])))


def _correlate(pl: DensityPlan, lam: np.ndarray, rho: np.ndarray, p: int) -> np.ndarray:
    fn = K.correlate_serial if _serial(pl, rho.shape[0], 1) else K.correlate
    return fn(lam, rho, pl.width[p], pl.bits[p], pl.ins[p], pl.nins[p], pl.e_start[p], pl.e_start[p + 1],
              pl.rows, pl.cols)


def _adjoint_values(pl: DensityPlan, vals: np.ndarray):
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


# ====================================================================== states
def pure_density(state: np.ndarray) -> np.ndarray:
    """``|ψ⟩⟨ψ|`` for ``state (B, N)`` → ``(B, N, N)``."""
    s = np.asarray(state)
    s = s[None] if s.ndim == 1 else s
    return np.einsum("bi,bj->bij", s, s.conj())


def vec_to_matrix(vec: np.ndarray, n_qubits: int) -> np.ndarray:
    """``(B, 4**n)`` → ``(B, 2**n, 2**n)`` (a view)."""
    N = 2**n_qubits
    return vec.reshape(vec.shape[0], N, N)


def matrix_to_vec(rho: np.ndarray) -> np.ndarray:
    """``(B, N, N)`` → ``(B, N²)`` row-major (``vec[i·N + j] = ρ[i, j]``)."""
    rho = np.asarray(rho)
    return rho.reshape(rho.shape[0], -1)


def _check_rho(rho, n: int) -> np.ndarray:
    r = np.asarray(rho)
    N = 2**n
    if r.ndim == 2:
        r = r[None]
    if r.ndim != 3 or r.shape[1:] != (N, N):
        raise CircuitError(f"density matrix has shape {np.shape(rho)}, expected (B, {N}, {N}) for {n} qubits")
    if not np.all(np.isfinite(r)):
        raise CircuitError("density matrix has non-finite entries")
    tr = np.trace(r, axis1=1, axis2=2)
    dev = np.abs(tr - 1.0)
    if np.any(dev > TRACE_ATOL):
        b = int(np.argmax(dev))
        raise CircuitError(f"density matrix {b} has trace {complex(tr[b]):.9g}, expected 1")
    herm = np.max(np.abs(r - np.conj(np.swapaxes(r, 1, 2))))
    if herm > TRACE_ATOL:
        raise CircuitError(f"density matrix is not Hermitian (max |ρ - ρ†| = {herm:.3g})")
    return r


def _split_state(circuit: Circuit, weights, inputs, state):
    """Validate; returns ``(Batch, psi | None, rho | None)`` (``state`` may be ``(B,N)`` or ``(B,N,N)``)."""
    if state is not None and np.ndim(state) == 3:
        rho = _check_rho(state, circuit.n_qubits)
        b = check_batch(circuit, weights, inputs, None)
        if b.inputs is not None and b.size != rho.shape[0]:
            raise CircuitError(f"batch sizes disagree: inputs has {b.size} rows, density matrices {rho.shape[0]}")
        if b.inputs is None and rho.shape[0] != b.size:
            b = type(b)(b.weights, b.inputs, None, rho.shape[0])
        return b, None, rho
    b = check_batch(circuit, weights, inputs, state, norm_atol=NORM_ATOL)
    return b, b.state, None


def initial_vectors(n: int, B: int, psi, rho, dtype) -> np.ndarray:
    """``vec(ρ_0)`` ``(B, 4**n)`` in ``dtype`` (``|0…0⟩⟨0…0|`` by default), after the memory
    guard :func:`~qsim.validate.check_memory`."""
    check_memory(n, B, dtype, density=True)
    if rho is not None:
        v = matrix_to_vec(rho)
        v = v.real if np.dtype(dtype).kind == "f" else v
        return np.ascontiguousarray(np.broadcast_to(v, (B, v.shape[1])), dtype=dtype).copy()
    if psi is not None:
        v = matrix_to_vec(pure_density(psi))
        v = v.real if np.dtype(dtype).kind == "f" else v
        return np.ascontiguousarray(np.broadcast_to(v, (B, v.shape[1])), dtype=dtype).copy()
    st = np.zeros((B, 4**n), dtype=dtype)
    st[:, 0] = 1.0
    return st


def _is_real_data(a) -> bool:
    return a is None or not np.iscomplexobj(a) or not np.any(np.imag(a))


def _resolve_dtype(pl: DensityPlan, psi, rho, real: bool | None):
    can = pl.real and _is_real_data(psi) and _is_real_data(rho)
    if real is True and not can:
        raise CircuitError("real=True but the circuit, channels or initial state are complex")
    return np.float64 if (can and real is not False) else np.complex128


# ====================================================================== evolution
def evolve(noisy: NoisyCircuit, weights=None, inputs=None, state=None, *, backend: str = "numba",
           real: bool | None = None, fusion: bool = True) -> np.ndarray:
    """``vec(ρ)`` after the noisy circuit, ``(B, 4**n)`` (float64 on the real path, else complex128).

    ``state``: pure states ``(B, 2**n)`` or density matrices ``(B, 2**n, 2**n)`` (default ``|0…0⟩``).
    """
    b, psi, rho = _split_state(noisy.circuit, weights, inputs, state)
    n = noisy.n_qubits
    if backend == "numpy":
        return _reference_evolve(noisy, b.weights, b.inputs, psi, rho, b.size)
    if backend != "numba":
        raise CircuitError(f"density-matrix backend {backend!r} must be 'numba' or 'numpy'")
    pl = plan(noisy, fusion)
    dtype = _resolve_dtype(pl, psi, rho, real)
    st = initial_vectors(n, b.size, psi, rho, dtype)
    if pl.n_passes:
        bound = _bind(pl, noisy, b.weights, b.inputs, b.size, dtype, False)
        _run(pl, st, bound.vals)
    return st


def _reference_evolve(noisy: NoisyCircuit, weights, inputs, psi, rho, B: int) -> np.ndarray:
    """NumPy oracle: ``ρ ← Σ_a K_a ρ K_a†`` with ``K`` on ``ws`` and ``conj(K)`` on ``n + ws``."""
    n = noisy.n_qubits
    v = initial_vectors(n, B, psi, rho, np.complex128).reshape((B,) + (2,) * (2 * n))
    for ins in noisy.instructions:
        ws = ins.wires
        cw = tuple(n + w for w in ws)
        if isinstance(ins, ChannelOp):
            acc = np.zeros_like(v)
            for kop in ins.channel.kraus:
                acc = acc + ref.apply_matrix(ref.apply_matrix(v, kop[None], ws), kop.conj()[None], cw)
            v = acc
        else:
            u = ins.gate.matrices(ref.op_thetas(ins, weights, inputs, B))
            v = ref.apply_matrix(ref.apply_matrix(v, u, ws), u.conj(), cw)
    return v.reshape(B, -1)


# ====================================================================== observables on vec(ρ)
@lru_cache(maxsize=64)
def _signs(n: int, s: int) -> np.ndarray:
    j = np.arange(2**n, dtype=np.int64) & s
    par = np.zeros_like(j)
    while np.any(j):
        par ^= j & 1
        j >>= 1
    out = 1.0 - 2.0 * par
    out.setflags(write=False)
    return out


def vec_expvals(vec: np.ndarray, observables, n: int) -> np.ndarray:
    """``Tr(O_j ρ_b)`` ``(B, m)`` from ``vec(ρ) (B, 4**n)``.

    For a Pauli term ``P|k⟩ = c i^{n_Y} (-1)^{|k∧s|} |k⊕f⟩``:
    ``Tr(Pρ) = c i^{n_Y} Σ_k (-1)^{|k∧s|} ρ[k, k⊕f]``.
    """
    obs = as_observables(observables)
    idx, coeff, flip, sign, ny = pauli_table(obs, n)
    N = 2**n
    k = np.arange(N, dtype=np.int64)
    out = np.zeros((vec.shape[0], len(obs)))
    for t in range(len(idx)):
        g = vec[:, k * N + (k ^ flip[t])]
        val = (g @ _signs(n, int(sign[t]))) * (coeff[t] * (1j ** ny[t]))
        out[:, idx[t]] += np.real(val)
    return out


def observable_vectors(observables, cot: np.ndarray, n: int, real: bool) -> np.ndarray:
    """``Λ_b = vec(Σ_j c_{bj} O_j)`` ``(B, 4**n)``, so that ``Σ_j c_{bj} Tr(O_j ρ_b) = ⟨Λ_b, vec ρ_b⟩``.

    On the real path only the real part of ``O`` is kept (``Tr(Oρ) = Tr(Re(O) ρ)`` for real
    symmetric ``ρ``).
    """
    obs = as_observables(observables)
    idx, coeff, flip, sign, ny = pauli_table(obs, n)
    N = 2**n
    B = cot.shape[0]
    k = np.arange(N, dtype=np.int64)
    lam = np.zeros((B, N * N), dtype=np.complex128)
    for t in range(len(idx)):
        w = cot[:, idx[t]] * coeff[t] * (1j ** ny[t])                  # (B,)
        lam[:, (k ^ flip[t]) * N + k] += w[:, None] * _signs(n, int(sign[t]))[None, :]
    return np.ascontiguousarray(lam.real) if real else lam


# ====================================================================== public helpers
def density_matrix(circuit: Circuit | NoisyCircuit, weights=None, inputs=None, state=None, *,
                   model: NoiseModel | None = None, backend: str = "numba", real: bool | None = None,
                   fusion: bool = True) -> np.ndarray:
    """Final density matrices ``(B, 2**n, 2**n)`` of ``circuit`` under ``model`` (or of a NoisyCircuit)."""
    noisy = as_noisy(circuit, model)
    return vec_to_matrix(evolve(noisy, weights, inputs, state, backend=backend, real=real, fusion=fusion),
                         noisy.n_qubits)


def expval_density(circuit: Circuit | NoisyCircuit, observables, weights=None, inputs=None, state=None, *,
                   model: NoiseModel | None = None, backend: str = "numba", real: bool | None = None,
                   fusion: bool = True) -> np.ndarray:
    """Exact ``Tr(O_j ρ_b)`` ``(B, m)`` of the noisy final state (no readout error: see
    :func:`qsim.noise.expval_noisy` for measured expectations)."""
    noisy = as_noisy(circuit, model)
    obs = as_observables(observables)
    vec = evolve(noisy, weights, inputs, state, backend=backend, real=real, fusion=fusion)
    return vec_expvals(vec, obs, noisy.n_qubits)


def probabilities_density(circuit: Circuit | NoisyCircuit, weights=None, inputs=None, state=None, *,
                          model: NoiseModel | None = None, backend: str = "numba", readout: bool = True,
                          fusion: bool = True) -> np.ndarray:
    """Measurement probabilities ``(B, 2**n)``: ``diag ρ``, then the readout confusion when
    ``readout`` and the noisy circuit has readout errors."""
    noisy = as_noisy(circuit, model)
    vec = evolve(noisy, weights, inputs, state, backend=backend, fusion=fusion)
    p = probabilities_rho(vec_to_matrix(vec, noisy.n_qubits))
    if readout and noisy.readout is not None:
        from .shots import apply_readout_to_probabilities

        p = apply_readout_to_probabilities(p, noisy.readout_array)
    return p


def expval_rho(rho: np.ndarray, observables) -> np.ndarray:
    """``Tr(O_j ρ_b)`` for density matrices ``(B, N, N)``."""
    rho = np.asarray(rho)
    rho = rho[None] if rho.ndim == 2 else rho
    n = int(round(math.log2(rho.shape[1])))
    return vec_expvals(matrix_to_vec(rho), observables, n)


def probabilities_rho(rho: np.ndarray) -> np.ndarray:
    """``diag ρ`` as float64 ``(B, N)`` (clipped at 0 against round-off)."""
    rho = np.asarray(rho)
    rho = rho[None] if rho.ndim == 2 else rho
    return np.clip(np.real(np.diagonal(rho, axis1=1, axis2=2)), 0.0, None)


def purity(rho: np.ndarray) -> np.ndarray:
    """``Tr ρ²`` per sample ``(B,)``."""
    rho = np.asarray(rho)
    rho = rho[None] if rho.ndim == 2 else rho
    return np.real(np.einsum("bij,bji->b", rho, rho))


def partial_trace(rho: np.ndarray, keep: Sequence[int]) -> np.ndarray:
    """Reduced density matrices on the wires ``keep`` (in the given order) ``(B, 2**k, 2**k)``."""
    rho = np.asarray(rho)
    rho = rho[None] if rho.ndim == 2 else rho
    B, N = rho.shape[0], rho.shape[1]
    n = int(round(math.log2(N)))
    keep = [int(w) for w in keep]
    if len(set(keep)) != len(keep) or any(not 0 <= w < n for w in keep):
        raise CircuitError(f"partial_trace: bad wires {keep} for {n} qubits")
    drop = [w for w in range(n) if w not in keep]
    t = rho.reshape((B,) + (2,) * (2 * n))
    order = [0] + [1 + w for w in keep] + [1 + w for w in drop] + [1 + n + w for w in keep] + [1 + n + w for w in drop]
    t = t.transpose(order).reshape(B, 2 ** len(keep), 2 ** len(drop), 2 ** len(keep), 2 ** len(drop))
    return np.einsum("bidjd->bij", t)


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))


def fidelity(rho: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Uhlmann fidelity ``(Tr √(√ρ σ √ρ))²`` per sample.

    ``sigma`` is density matrices (``(N, N)`` or ``(B, N, N)``) or pure states: a 1-D ``ψ``, or
    ``(B, N)`` when ``rho`` is 3-D; for a pure ``σ = |ψ⟩⟨ψ|`` this is ``⟨ψ|ρ|ψ⟩``.
    """
    rho = np.asarray(rho)
    sigma = np.asarray(sigma)
    pure = sigma.ndim == 1 or (sigma.ndim == 2 and rho.ndim == 3)
    rho = rho[None] if rho.ndim == 2 else rho
    if pure:
        s = sigma[None] if sigma.ndim == 1 else sigma
        return np.real(np.einsum("bi,bij,bj->b", s.conj(), rho, s))
    sigma = sigma[None] if sigma.ndim == 2 else sigma
    sr = _sqrtm_psd(rho)
    m = sr @ sigma @ sr
    w = np.linalg.eigvalsh((m + np.conj(np.swapaxes(m, -1, -2))) / 2)
    return np.sum(np.sqrt(np.clip(w, 0.0, None)), axis=-1) ** 2


def trace_distance(rho: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``½ ‖ρ - σ‖₁`` per sample."""
    d = np.asarray(rho) - np.asarray(sigma)
    d = d[None] if d.ndim == 2 else d
    return 0.5 * np.sum(np.abs(np.linalg.eigvalsh((d + np.conj(np.swapaxes(d, -1, -2))) / 2)), axis=-1)
