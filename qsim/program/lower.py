"""Lowering a :class:`~qsim.circuit.Circuit` to a *program* of fused passes over the state.

A **factor** is one elementary one-parameter (or constant) gate in spectral form,
``F(θ) = Σ_k e^{-iθλ_k} T_k``, with its ``T_k`` already embedded in the ``D × D`` space of the
pass that holds it.  A **pass** is one sweep over the state: the product ``U = F_m ··· F_1`` of
its factors applied to ``width`` target bits (optionally under a control mask).  Kernels never
see gates, only passes, so fusion is invisible to them and to the gradient code.

Pass kinds (``KIND_*``): dense or diagonal on 1 or 2 targets, a controlled 2×2 (with a
permutation and a diagonal flavour), and a generic dense pass on 3-4 targets.

Fusion levels (see :data:`DEFAULT_FUSION`):

* 0 - one pass per elementary gate (``U3`` is three: its decomposition);
* 1 - consecutive one-qubit gates on the same wire share a pass;
* 2 - additionally, one-qubit passes are absorbed into the next two-qubit gate on their wire
  and consecutive two-qubit gates on the same pair share a pass.

Bits: qubit ``q`` of ``n`` is bit ``n-1-q`` of the index (qubit 0 most significant); inside a
pass the first target wire is the most significant bit of the local index, like ``kron``.
Kernels work on bit positions only, so a sharded state can run the same program on the bits of
its local slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..circuit import SRC_CONST, SRC_INPUT, SRC_WEIGHT, Circuit
from ..gates import Gate, embed_controlled
from ..validate import check_fusion

__all__ = [
    "Program",
    "lower",
    "DEFAULT_FUSION",
    "GPU_FUSION",
    "BACKWARD_FUSION",
    "KIND_DENSE1", "KIND_DIAG1", "KIND_DENSE2", "KIND_DIAG2",
    "KIND_CTRL", "KIND_CTRL_X", "KIND_CTRL_DIAG", "KIND_DENSEK",
    "SRC_CONST", "SRC_WEIGHT", "SRC_INPUT",
    "MAX_PASS_TARGETS", "MAX_PASS_DIM", "MAX_INSERTED_BITS", "MAX_FUSED_WIDTH", "full_spectral",
]

KIND_DENSE1, KIND_DIAG1, KIND_DENSE2, KIND_DIAG2 = 0, 1, 2, 3
KIND_CTRL, KIND_CTRL_X, KIND_CTRL_DIAG, KIND_DENSEK = 4, 5, 6, 7

#: Most target bits of one pass (``Program.bits`` rows are padded to this): 3-wire user gates,
#: and 4 for the Kraus superoperators of two-qubit channels on the doubled register
#: (:func:`qsim.backends.numba_backend.apply_matrix`).
MAX_PASS_TARGETS = 4
#: Largest pass dimension ``2**MAX_PASS_TARGETS``: kernels' per-group scratch holds this many
#: amplitudes, and ``MAX_PASS_DIM²`` matrix entries.
MAX_PASS_DIM = 1 << MAX_PASS_TARGETS
#: Most bits inserted to enumerate a pass's groups (targets plus controls; ``Program.ins_bits``
#: rows are padded to this): a pass of :data:`MAX_PASS_TARGETS` wires under one control.
MAX_INSERTED_BITS = MAX_PASS_TARGETS + 1

#: Fusion level used by the CPU backend when none is given.  Level 2 halves the passes but its
#: 4×4 passes are compute-bound on CPUs: W1 (L=4) on the 2-core dev machine, level 1 vs 2:
#: n=20 0.11 vs 0.15 s, n=22 0.80 vs 1.08 s, n=24 4.75 vs 6.04 s (complex128; complex64 alike).
DEFAULT_FUSION = 1
#: Fusion level of the GPU (CuPy) backend: fewer, larger passes (one batched GEMM each).  Chosen
#: by reasoning about launch overhead, not yet measured (no GPU was available).
GPU_FUSION = 2
#: Fusion level of the adjoint's backward sweep.  Undoing a fused 4×4 pass factor by factor
#: costs ~4x the arithmetic of undoing the same gates as 2×2 passes, so the backward sweep runs
#: the level-1 program (``.lead`` profiling, W2 and W3: backward 3.4x faster than at level 2).
BACKWARD_FUSION = 1
#: Largest pass width the fusion may create (dense 2-qubit passes; wider user gates stay alone).
MAX_FUSED_WIDTH = 2

_SWAP4 = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)
_I2 = np.eye(2, dtype=complex)


def full_spectral(gate: Gate) -> tuple[np.ndarray, np.ndarray]:
    """Spectral form on the gate's full space (controls included): ``(λ (K,), T (K, d, d))``.

    With ``P = |1…1⟩⟨1…1|`` on the controls, ``U = (1 - P) ⊗ 1 + P ⊗ Σ_k e^{-iθλ_k} T_k``: the
    terms become ``P ⊗ T_k`` and ``(1 - P) ⊗ 1`` joins the ``λ = 0`` term.
    """
    lams = np.array(gate.eigenvalues, dtype=float)
    terms = np.asarray(gate.terms)
    if not gate.num_controls:
        return lams, terms
    d = terms.shape[1]
    full = list(embed_controlled(terms, gate.num_controls, fill=0.0))
    rest = embed_controlled(np.zeros((d, d), dtype=complex), gate.num_controls, fill=1.0)
    lam_list = list(lams)
    if 0.0 in lam_list:
        full[lam_list.index(0.0)] = full[lam_list.index(0.0)] + rest
    else:
        lam_list.append(0.0)
        full.append(rest)
    return np.array(lam_list), np.stack(full)


@dataclass
class _Factor:
    lams: np.ndarray          # (K,)
    terms: np.ndarray         # (K, d, d) on `wires`
    wires: tuple[int, ...]
    src: int
    index: int
    scale: float
    offset: float
    op_index: int             # position of the originating operation in the circuit
    diagonal: bool

    def embedded(self, pass_wires: tuple[int, ...]) -> np.ndarray:
        """Terms embedded in the pass's space (pass wires in kron order)."""
        if self.wires == pass_wires:
            return self.terms
        if len(pass_wires) == 2 and len(self.wires) == 2:          # reversed pair
            return np.einsum("ij,kjl,lm->kim", _SWAP4, self.terms, _SWAP4)
        if len(pass_wires) == 2 and len(self.wires) == 1:
            if self.wires[0] == pass_wires[0]:
                return np.stack([np.kron(t, _I2) for t in self.terms])
            return np.stack([np.kron(_I2, t) for t in self.terms])
        raise AssertionError(f"cannot embed factor on {self.wires} in pass on {pass_wires}")


@dataclass
class _Pass:
    kind: str                 # "1q", "2q", "ctrl", "k"
    wires: tuple[int, ...]    # targets (kron order)
    controls: tuple[int, ...] = ()
    factors: list[_Factor] = field(default_factory=list)
    ctrl_x: bool = False
    alive: bool = True


#: Angle fields of a constant gate (no parameter): ``(source, index, scale, offset)``.
_NO_PARAM = (SRC_CONST, 0, 0.0, 0.0)


def _elementary(circuit: Circuit) -> list[tuple[Gate, tuple[int, ...], tuple[int, int, float, float], int]]:
    """Operations expanded to one-parameter gates: ``(gate, wires, param fields, op index)``."""
    out = []
    for k, o in enumerate(circuit.ops):
        if o.gate.decomposition:
            for g, pi in o.gate.decomposition:
                out.append((g, o.wires, o.params[pi].affine, k))
        elif o.gate.num_params:
            out.append((o.gate, o.wires, o.params[0].affine, k))
        else:
            out.append((o.gate, o.wires, _NO_PARAM, k))
    return out


def _make_factor(gate: Gate, wires, pf, k, *, full: bool) -> _Factor:
    if full or not gate.num_controls:
        lams, terms = full_spectral(gate)
        fw = tuple(wires)
    else:
        lams, terms = np.array(gate.eigenvalues, dtype=float), np.asarray(gate.terms)
        fw = tuple(wires[gate.num_controls:])
    return _Factor(lams, terms, fw, *pf, op_index=k, diagonal=gate.is_diagonal)


def _build_passes(circuit: Circuit, fusion: int) -> list[_Pass]:
    passes: list[_Pass] = []
    last: dict[int, int] = {}            # wire -> index of the last pass touching it

    def touch(pi: int, wires) -> None:
        for w in wires:
            last[w] = pi

    for gate, wires, pf, k in _elementary(circuit):
        nw = len(wires)
        if nw == 1:
            prev = last.get(wires[0])
            if fusion >= 1 and prev is not None and passes[prev].kind in ("1q", "2q") and (
                passes[prev].kind == "1q" or fusion >= 2
            ):
                passes[prev].factors.append(_make_factor(gate, wires, pf, k, full=True))
                continue
            passes.append(_Pass("1q", tuple(wires), factors=[_make_factor(gate, wires, pf, k, full=True)]))
            touch(len(passes) - 1, wires)
            continue
        if nw == 2 and fusion >= 2:
            a, b = wires
            pa, pb = last.get(a), last.get(b)
            if pa is not None and pa == pb and passes[pa].kind == "2q":
                passes[pa].factors.append(_make_factor(gate, wires, pf, k, full=True))
                continue
            new = _Pass("2q", tuple(wires))
            for pw in (pa, pb):      # absorb pending one-qubit passes on a and b
                if pw is not None and passes[pw].kind == "1q" and passes[pw].alive:
                    new.factors.extend(passes[pw].factors)
                    passes[pw].alive = False
            new.factors.append(_make_factor(gate, wires, pf, k, full=True))
            passes.append(new)
            touch(len(passes) - 1, wires)
            continue
        if gate.num_controls and gate.num_wires - gate.num_controls == 1:
            targets, controls = tuple(wires[gate.num_controls:]), tuple(wires[:gate.num_controls])
            is_x = not gate.num_params and np.allclose(gate.terms[0], [[0, 1], [1, 0]])
            passes.append(_Pass("ctrl", targets, controls, [_make_factor(gate, wires, pf, k, full=False)], ctrl_x=is_x))
        elif nw == 2:
            passes.append(_Pass("2q", tuple(wires), factors=[_make_factor(gate, wires, pf, k, full=True)]))
        else:
            passes.append(_Pass("k", tuple(wires), factors=[_make_factor(gate, wires, pf, k, full=True)]))
        touch(len(passes) - 1, wires)
    return [p for p in passes if p.alive and p.factors]


@dataclass(frozen=True, eq=False)
class Program:
    """Flat arrays describing the passes and factors of a lowered circuit (read by kernels).

    Per pass ``p``: ``kind[p]``, target bits ``bits[p, :width[p]]``, ``ctrl_mask[p]``, factor
    range ``f_start[p]:f_start[p+1]``, dimension ``dim[p] = 2**width`` and the offset
    ``m_off[p]`` of its ``dim²`` matrix entries in a per-sample buffer of ``m_size`` entries.
    Per factor ``f``: spectral terms ``t_start[f]:t_start[f+1]`` of ``lam`` / ``tmat`` (each
    ``dim²`` entries at ``t_off``), the angle source ``src[f]``/``index[f]``/``scale[f]``/
    ``offset[f]`` and ``op_index[f]``, the circuit operation it came from.
    """

    n_qubits: int
    n_weights: int
    n_inputs: int
    fusion: int
    kind: np.ndarray
    width: np.ndarray
    bits: np.ndarray
    ctrl_mask: np.ndarray
    dim: np.ndarray
    f_start: np.ndarray
    m_off: np.ndarray
    m_size: int
    t_start: np.ndarray
    lam: np.ndarray
    t_off: np.ndarray
    tmat: np.ndarray
    f_off: np.ndarray
    f_size: int
    src: np.ndarray
    index: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    op_index: np.ndarray
    ins_bits: np.ndarray
    n_ins: np.ndarray
    per_sample_pass: np.ndarray
    real: bool

    @property
    def n_passes(self) -> int:
        return len(self.kind)

    @property
    def n_factors(self) -> int:
        return len(self.src)

    @property
    def state_sweeps(self) -> float:
        """Passes weighted by the fraction of the state they touch: a pass under ``c`` controls
        reads and writes ``2**-c`` of the amplitudes.  Memory traffic = ``2 · bytes · 2**n · this``."""
        nc = np.array([bin(int(m)).count("1") for m in self.ctrl_mask], dtype=float)
        return float(np.sum(0.5**nc))

    @property
    def per_sample(self) -> bool:
        """True when some angle reads a per-sample input."""
        return bool(np.any(self.src == SRC_INPUT))

    def angles(self, weights: np.ndarray, inputs: np.ndarray | None, shift: np.ndarray | None = None) -> np.ndarray:
        """Factor angles ``θ_f = scale_f · value + offset_f (+ shift_f)``: ``(B or 1, n_factors)``."""
        vals = np.zeros((1, self.n_factors))
        wmask = self.src == SRC_WEIGHT
        if wmask.any():
            vals[0, wmask] = weights[self.index[wmask]]
        xmask = self.src == SRC_INPUT
        if xmask.any():
            vals = np.broadcast_to(vals, (inputs.shape[0], self.n_factors)).copy()
            vals[:, xmask] = inputs[:, self.index[xmask]]
        theta = vals * self.scale + self.offset
        if shift is not None:
            theta = theta + shift
        return np.ascontiguousarray(theta)


def _bitpos(n: int, w: int) -> int:
    return n - 1 - w


def lower(circuit: Circuit, fusion: int = DEFAULT_FUSION) -> Program:
    """Lower ``circuit`` to a :class:`Program` (cached per circuit and fusion level).

    Raises:
        InputError: when ``fusion`` is not a level of :data:`qsim.validate.FUSION_LEVELS`.
    """
    return _lower_cached(circuit, check_fusion(fusion))


@lru_cache(maxsize=256)
def _lower_cached(circuit: Circuit, fusion: int) -> Program:
    n = circuit.n_qubits
    passes = _build_passes(circuit, fusion)
    kind, width, bits, cmask, dim, f_start, m_off = [], [], [], [], [], [0], [0]
    ins_bits, n_ins = [], []
    t_start, lam, t_off, tmats, f_off = [0], [], [], [], [0]
    src, index, scale, offset, op_index = [], [], [], [], []
    toff = 0
    for p in passes:
        w = len(p.wires)
        d = 2**w
        diag = all(f.diagonal for f in p.factors)
        if p.kind == "ctrl":
            k = KIND_CTRL_X if p.ctrl_x else (KIND_CTRL_DIAG if diag else KIND_CTRL)
        elif w == 1:
            k = KIND_DIAG1 if diag else KIND_DENSE1
        elif w == 2:
            k = KIND_DIAG2 if diag else KIND_DENSE2
        else:
            k = KIND_DENSEK
        kind.append(k)
        width.append(w)
        ins = sorted(_bitpos(n, x) for x in p.wires + p.controls)
        assert w <= MAX_PASS_TARGETS and len(ins) <= MAX_INSERTED_BITS, f"pass on {p.wires} under {p.controls}"
        bits.append([_bitpos(n, x) for x in p.wires] + [0] * (MAX_PASS_TARGETS - w))
        cmask.append(sum(1 << _bitpos(n, c) for c in p.controls))
        n_ins.append(len(ins))
        ins_bits.append(ins + [0] * (MAX_INSERTED_BITS - len(ins)))
        dim.append(d)
        m_off.append(m_off[-1] + d * d)
        for f in p.factors:
            terms = f.embedded(p.wires)
            for lm, t in zip(f.lams, terms):
                lam.append(lm)
                t_off.append(toff)
                tmats.append(np.ascontiguousarray(t).ravel())
                toff += d * d
            t_start.append(t_start[-1] + len(f.lams))
            f_off.append(f_off[-1] + d * d)
            src.append(f.src)
            index.append(f.index)
            scale.append(f.scale)
            offset.append(f.offset)
            op_index.append(f.op_index)
        f_start.append(f_start[-1] + len(p.factors))
    i64 = lambda a: np.array(a, dtype=np.int64).reshape(-1) if a else np.zeros(0, dtype=np.int64)  # noqa: E731
    return Program(
        n_qubits=n,
        n_weights=circuit.n_weights,
        n_inputs=circuit.n_inputs,
        fusion=fusion,
        kind=i64(kind),
        width=i64(width),
        bits=np.array(bits, dtype=np.int64).reshape(-1, MAX_PASS_TARGETS),
        ctrl_mask=i64(cmask),
        dim=i64(dim),
        f_start=i64(f_start),
        m_off=i64(m_off[:-1]),
        m_size=int(m_off[-1]),
        t_start=i64(t_start),
        lam=np.array(lam, dtype=np.float64),
        t_off=i64(t_off),
        tmat=np.concatenate(tmats) if tmats else np.zeros(0, dtype=complex),
        f_off=i64(f_off[:-1]),
        f_size=int(f_off[-1]),
        src=i64(src),
        index=i64(index),
        scale=np.array(scale, dtype=np.float64),
        offset=np.array(offset, dtype=np.float64),
        op_index=i64(op_index),
        ins_bits=np.array(ins_bits, dtype=np.int64).reshape(-1, MAX_INSERTED_BITS),
        n_ins=i64(n_ins),
        per_sample_pass=np.array([any(f.src == SRC_INPUT for f in p.factors) for p in passes], dtype=np.bool_),
        real=circuit.is_real,
    )
