"""The density plan: elements, greedy fusion with a cost model, superoperators, sparsity patterns,
and the flat arrays the kernels read (compiled once per circuit *structure*).

A noisy circuit's instructions become *elements* (a gate factor or a channel on physical
qubits; ``U3`` is three factors), fused greedily into *blocks* on one to three qubits whose
superoperator ``S = S_m ··· S_1`` (members embedded with identities) is one pass over the
doubled register.  A member joins its wires' block when that is cheaper than a separate pass
(:data:`PASS_COST`); sparsity patterns come from the block's superoperator at generic angles.

Plans depend only on :attr:`qsim.noise.NoisyCircuit.structure` (angle offsets and constant
values excluded), so shifted circuits of the parameter-shift rule share one: :func:`plan` is a
structure-keyed LRU (:data:`PLAN_CACHE_SIZE`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

import numpy as np

from ...gates import Gate
from ...circuit import SRC_INPUT
from ...program import full_spectral
from ..channels import MAX_CHANNEL_WIRES
from ..models import NoisyCircuit, Structure

__all__ = [
    "Elem", "Block", "Binder", "DensityPlan", "plan", "compile_plan", "embed", "superop", "gate_superop",
    "spectral_superop", "PASS_COST", "DENSE4_MIN_NNZ", "PATTERN_ATOL", "REAL_ATOL", "GENERIC_DRAWS",
    "GENERIC_ANGLE_SEED", "PLAN_CACHE_SIZE", "MAX_PASS_WIDTH",
]

#: Cost of one pass over ``vec(ρ)`` in units of "pattern entries per amplitude": a sparse block
#: with ``nnz`` entries costs ``PASS_COST + nnz / D``.  Measured with the pass kernels at
#: n = 10 (complex): ``nnz/D = 1, 2.25, 4, 9, 16`` take ``≈ 7.5, 8.7, 14, 17, 28`` ms, i.e. about
#: ``5 + 1.4·nnz/D``; fusing two blocks pays while the product stays this sparse.
PASS_COST = 5.0
#: One-qubit blocks with at least this many non-zeros (of 16) run as a dense unrolled 4×4.
DENSE4_MIN_NNZ = 9
#: Entries of a generic-angle block superoperator below this are structural zeros.
PATTERN_ATOL = 1e-13
#: A block is real when the imaginary parts of its generic superoperator are below this.
REAL_ATOL = 1e-13
#: Number of random angle draws used to find the generic sparsity pattern of a block.
GENERIC_DRAWS = 2
#: Seed of the generic angles (uniform in ``[0.1, 2π - 0.1]``, away from the special angles
#: ``0, π, ...`` where entries vanish by accident): fixed, so a structure always gets one plan.
GENERIC_ANGLE_SEED = 12345
#: Plans kept by structure (LRU).
PLAN_CACHE_SIZE = 256
#: Wires of the doubled register a pass touches at most (rows of ``bits``/``ins`` are padded to
#: it): a block on :data:`~qsim.noise.channels.MAX_CHANNEL_WIRES` qubits acts on as many row and
#: column wires.
MAX_PASS_WIDTH = 2 * MAX_CHANNEL_WIRES


@dataclass
class Elem:
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
class Block:
    """A fusion candidate: member elements on ``qubits`` and their product at generic angles."""

    qubits: tuple[int, ...]
    elems: list[int]
    generic: np.ndarray = field(default=None, repr=False)     # (GENERIC_DRAWS, D, D)
    alive: bool = True


@dataclass(frozen=True, eq=False)
class Binder:
    """Flat segment data for :func:`qsim.noise.kernels.bind_values` (see there).

    ``slots[s]`` is the element of parametric slot ``s``; ``slot_params[s]`` its entry in the
    circuit's :class:`~qsim.noise.models.AngleTable`.
    """

    slots: np.ndarray
    slot_params: np.ndarray
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


def _i64(a) -> np.ndarray:
    return np.array(a, dtype=np.int64)


def _make_binder(segs, block_qubits, elems: Sequence[Elem], param_start: Sequence[int]) -> Binder:
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
    slots = np.zeros(len(slot_of), dtype=np.int64)
    for ei, j in slot_of.items():
        slots[j] = ei
    slot_params = _i64([param_start[elems[ei].index] + elems[ei].pidx for ei in slots])
    return Binder(slots, slot_params, _i64(dim), _i64(sg_start), _i64(sg_slot), _i64(om_start),
                  np.array(om_all, dtype=float), _i64(nz_start), _i64(nz_r), _i64(nz_c), _i64(coef_start),
                  np.array(coef, dtype=np.complex128))


@dataclass(frozen=True, eq=False)
class DensityPlan:
    """Fused blocks of a noisy circuit's structure and the flat arrays the kernels read.

    Per pass ``p``: ``dense4[p]``, ``width[p]`` (2, 4 or 6 wires of the doubled register),
    ``bits[p, :width]`` (first wire most significant), sorted insertion bits ``ins[p]``,
    pattern entries ``e_start[p]:e_start[p+1]`` of ``rows``/``cols`` (local indices), and
    ``per[p]`` (values per sample).  ``segments[p]`` lists how the block's superoperator is
    built at bind time: ``("c", S)`` a constant factor, ``("p", elem, ω, M)`` a parametric gate.
    """

    n_qubits: int
    elems: tuple[Elem, ...]
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
    binder: Binder

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


# ---------------------------------------------------------------------- superoperators
def embed(m: np.ndarray, sub: Sequence[int], full: Sequence[int]) -> np.ndarray:
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


def superop(kraus: np.ndarray) -> np.ndarray:
    """``Σ_a K_a ⊗ conj(K_a)`` for Kraus ``(A, ..., d, d)`` → ``(..., d², d²)``."""
    d = kraus.shape[-1]
    s = np.einsum("a...ij,a...lm->...iljm", kraus, kraus.conj())
    return s.reshape(s.shape[:-4] + (d * d, d * d))


def gate_superop(u: np.ndarray) -> np.ndarray:
    """``U ⊗ conj(U)`` for ``U (..., d, d)``."""
    return superop(u[None])


def spectral_superop(gate: Gate, qubits: tuple[int, ...], block: tuple[int, ...]):
    """``U(θ) ⊗ conj U(θ) = Σ_f e^{-iθω_f} M_f`` on the block's space: ``(ω (F,), M (F, D, D))``.

    From ``U = Σ_k e^{-iθλ_k} T_k``: ``ω = λ_k - λ_l``, ``M = Σ T_k ⊗ conj(T_l)`` over equal ``ω``.
    """
    lams, terms = full_spectral(gate)
    terms = embed(np.asarray(terms), qubits, block)
    d = terms.shape[-1]
    groups: dict[float, np.ndarray] = {}
    for a, la in enumerate(lams):
        for b, lb in enumerate(lams):
            w = round(float(la - lb), 12)
            m = np.einsum("ij,lm->iljm", terms[a], terms[b].conj()).reshape(d * d, d * d)
            groups[w] = groups[w] + m if w in groups else m
    om = np.array(sorted(groups))
    return om, np.stack([groups[w] for w in om])


def _generic_thetas(gate: Gate, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.1, 2 * math.pi - 0.1, size=(GENERIC_DRAWS, gate.num_params))


def _elem_generic(e: Elem, block_qubits: tuple[int, ...], rng) -> np.ndarray:
    """Superoperator of an element at generic angles, on the block's space: ``(draws, D, D)``."""
    if e.kraus is not None:
        s = superop(embed(e.kraus, e.qubits, block_qubits))
        return np.broadcast_to(s, (GENERIC_DRAWS,) + s.shape)
    u = e.gate.matrices(_generic_thetas(e.gate, rng))
    return gate_superop(embed(u, e.qubits, block_qubits))


def _const_superop(e: Elem, block_qubits: tuple[int, ...]) -> np.ndarray:
    return superop(embed(e.kraus, e.qubits, block_qubits))


# ---------------------------------------------------------------------- fusion
def _nnz(s: np.ndarray) -> int:
    return int(np.count_nonzero(np.any(np.abs(s) > PATTERN_ATOL, axis=0)))


def _cost(s: np.ndarray) -> float:
    d = s.shape[-1]
    nnz = _nnz(s)
    if d == 4 and nnz >= DENSE4_MIN_NNZ:
        nnz = 16
    return PASS_COST + nnz / d


def _block_generic(blk: Block, elems, rng) -> np.ndarray:
    s = None
    for i in blk.elems:
        se = _elem_generic(elems[i], blk.qubits, rng)
        s = se if s is None else se @ s
    return s


def _build_elems(structure: Structure) -> list[Elem]:
    elems = []
    for k, item in enumerate(structure.items):
        if len(item) == 2:                       # (channel, wires)
            channel, wires = item
            elems.append(Elem(k, wires, kraus=np.asarray(channel.kraus)))
            continue
        gate, wires, keys = item
        if gate.num_params == 0:
            elems.append(Elem(k, wires, gate=gate, kraus=gate.matrix()[None]))
        elif gate.decomposition:                 # U3 = PhaseShift · RY · PhaseShift, one factor each
            for g, pi in gate.decomposition:
                elems.append(Elem(k, wires, gate=g, reads_input=keys[pi][0] == SRC_INPUT, pidx=pi))
        else:
            elems.append(Elem(k, wires, gate=gate, reads_input=keys[0][0] == SRC_INPUT))
    return elems


def _fuse(elems: list[Elem], fusion: bool) -> list[Block]:
    rng = np.random.default_rng(GENERIC_ANGLE_SEED)
    blocks: list[Block] = []
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
        nb = Block(tuple(q), [i])
        nb.generic = _elem_generic(e, nb.qubits, rng)
        if fusion and len(q) > 1:
            for x in q:
                pb = last.get(x)
                if pb is None or not blocks[pb].alive:
                    continue
                prev = blocks[pb]
                if not set(prev.qubits) <= set(q) or any(last.get(y) != pb for y in prev.qubits):
                    continue
                cand = Block(nb.qubits, prev.elems + nb.elems)
                cand.generic = _block_generic(cand, elems, rng)
                if _cost(cand.generic) <= _cost(nb.generic) + _cost(prev.generic):
                    prev.alive = False
                    nb = cand
        blocks.append(nb)
        for x in q:
            last[x] = len(blocks) - 1
    return [b for b in blocks if b.alive]


# ---------------------------------------------------------------------- compile
def plan(noisy: NoisyCircuit, fusion: bool = True) -> DensityPlan:
    """The (cached) :class:`DensityPlan` of a noisy circuit's structure.

    Plans are cached by :attr:`~qsim.noise.NoisyCircuit.structure` (shifted circuits share one);
    the structure and its hash are computed once per NoisyCircuit object.
    """
    return compile_plan(noisy.structure, bool(fusion))


@lru_cache(maxsize=PLAN_CACHE_SIZE)
def compile_plan(structure: Structure, fusion: bool) -> DensityPlan:
    """Elements, fused blocks, patterns and flat kernel arrays of ``structure`` (uncached: use :func:`plan`)."""
    n = structure.n_qubits
    elems = _build_elems(structure)
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
        pad = [0] * (MAX_PASS_WIDTH - len(b))
        bits.append(b + pad)
        ins.append(sorted(b) + pad)
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
                om, ms = spectral_superop(e.gate, e.qubits, blk.qubits)
                seg.append(("p", i, om, ms))
                continue
            sop = _const_superop(e, blk.qubits)
            if seg and seg[-1][0] == "c":
                seg[-1] = ("c", sop @ seg[-1][1])
            else:
                seg.append(("c", sop))
        segs.append(tuple(seg))
        bq.append(blk.qubits)
    param_start = np.cumsum([0] + [len(item[2]) if len(item) == 3 else 0 for item in structure.items])
    return DensityPlan(
        n_qubits=n, elems=tuple(elems), block_qubits=tuple(bq), segments=tuple(segs),
        dense4=np.array(dense4, dtype=np.bool_), width=_i64(width),
        bits=_i64(bits).reshape(-1, MAX_PASS_WIDTH), ins=_i64(ins).reshape(-1, MAX_PASS_WIDTH), nins=_i64(nins),
        e_start=_i64(e_start),
        rows=np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64),
        cols=np.concatenate(cols).astype(np.int64) if cols else np.zeros(0, np.int64),
        per=np.array(per, dtype=np.bool_), max_bit=_i64([max(x[:w]) for x, w in zip(bits, width)]), real=real,
        binder=_make_binder(segs, bq, elems, param_start),
    )
