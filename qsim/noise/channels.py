"""Quantum channels as Kraus data (frozen, validated, engine-agnostic).

A channel on ``k`` wires (``d = 2**k``) is a completely positive trace-preserving (CPTP) map

.. math::  \\mathcal{E}(ρ) = \\sum_a K_a ρ K_a^†,\\qquad \\sum_a K_a^† K_a = 1 .

It is stored as its Kraus operators ``(K, d, d)`` (first wire = most significant bit of the
local index, ``numpy.kron`` order, like every qsim matrix).  Engines derive what they need:

* the **superoperator** ``S = Σ_a K_a ⊗ conj(K_a)`` acting on the row-major vectorisation
  ``vec(ρ)[i·d + j] = ρ[i, j]`` (``vec(AρB) = (A ⊗ Bᵀ) vec(ρ)``), used by the density-matrix
  engine on wires ``(ws, n + ws)`` of the ``2n``-qubit vector;
* the **Choi matrix** ``J = Σ_{ij} |i⟩⟨j| ⊗ \\mathcal{E}(|i⟩⟨j|)`` (CP ⇔ ``J ⪰ 0``);
* the **Pauli probabilities** when the channel is a Pauli channel (its process matrix in the
  Pauli basis is diagonal), e.g. depolarizing, bit/phase flip, phase damping: trajectories then
  sample a Pauli error independently of the state.

Conventions of the built-in channels (stated because libraries differ):

* ``depolarizing(p)`` is the *Pauli form* ``(1-p) ρ + p/(d²-1) Σ_{P≠I} P ρ P`` (Cirq, PennyLane,
  Qulacs).  Qiskit's ``depolarizing_error(λ)`` is ``(1-λ) ρ + λ 1/d``; they agree for
  ``λ = p·d²/(d²-1)``.  Average gate fidelity ``F = 1 - p·d/(d+1)``
  (:func:`depolarizing_from_fidelity`).
* ``amplitude_damping(γ)``: ``K_0 = [[1,0],[0,√(1-γ)]]``, ``K_1 = [[0,√γ],[0,0]]``.
* ``phase_damping(λ)``: ``K_0 = [[1,0],[0,√(1-λ)]]``, ``K_1 = [[0,0],[0,√λ]]`` (coherences
  scale by ``√(1-λ)``; equal to a phase flip with ``p = (1-√(1-λ))/2``).
* ``generalized_amplitude_damping(γ, p)`` (Nielsen & Chuang §8.3.5): ``p`` is the weight of the
  decay towards ``|0⟩``; the fixed point has excited population ``1-p``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import ChannelError
from ..gates import PAULI

__all__ = [
    "Channel", "ChannelError", "ReadoutConfusion",
    "depolarizing", "depolarizing_from_fidelity", "bit_flip", "phase_flip", "bit_phase_flip",
    "pauli_channel", "pauli_string_channel", "amplitude_damping", "generalized_amplitude_damping",
    "phase_damping", "thermal_relaxation", "kraus_channel", "unitary_channel", "compose",
    "readout_error", "identity_channel", "as_channels",
    "KRAUS_ATOL", "PAULI_ATOL", "MAX_CHANNEL_WIRES",
]

#: Largest accepted ``max |Σ K†K - 1|`` for a user Kraus set (trace preservation).
KRAUS_ATOL = 1e-8
#: Off-diagonal process-matrix entries below this count as zero (Pauli-channel detection) and
#: Pauli probabilities below it are dropped.
PAULI_ATOL = 1e-12
#: Channels act on 1-3 wires (superoperators on up to 6 wires of the doubled register).
MAX_CHANNEL_WIRES = 3




def _check_prob(name: str, channel: str, value: float, hi: float = 1.0) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ChannelError(f"{channel}: {name} = {value!r} is not a number") from None
    if not math.isfinite(v) or v < 0.0 or v > hi:
        raise ChannelError(f"{channel}: {name} = {value!r} must lie in [0, {hi:g}]")
    return v


def _pauli_basis(k: int) -> tuple[list[str], np.ndarray]:
    """Labels and matrices ``(4**k, d, d)`` of the ``k``-qubit Pauli strings (``"I"*k`` first)."""
    labels = ["".join(t) for t in itertools.product("IXYZ", repeat=k)]
    mats = []
    for lab in labels:
        m = np.ones((1, 1), dtype=complex)
        for c in lab:
            m = np.kron(m, PAULI[c])
        mats.append(m)
    return labels, np.stack(mats)


def _kraus_array(name: str, ops) -> np.ndarray:
    """``ops`` as a complex array (a copy); ragged or non-numeric sets raise naming their shapes."""
    try:
        return np.array(ops, dtype=complex)
    except (TypeError, ValueError):
        items = list(ops) if isinstance(ops, (list, tuple)) else [ops]
        shapes = []
        for o in items:
            try:
                shapes.append(np.shape(o))
            except ValueError:
                shapes.append("ragged")
        raise ChannelError(f"channel {name!r}: Kraus operators must be equal-sized square matrices of numbers, "
                           f"got {len(items)} with shapes {shapes}") from None


@dataclass(frozen=True, eq=False, repr=False)
class Channel:
    """A CPTP map given by Kraus operators (validated on construction).

    Attributes:
        name: short name (``"depolarizing"``, ...).
        kraus: read-only array ``(K, d, d)`` of Kraus operators, ``d = 2**num_wires``.
        params: the defining parameters, for display and profiles (``(("p", 0.01),)``).
    """

    name: str
    kraus: np.ndarray
    params: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self) -> None:
        k = _kraus_array(self.name, self.kraus)
        if k.ndim == 2:
            k = k[None]
        if k.ndim != 3 or k.shape[1] != k.shape[2] or k.shape[0] < 1:
            raise ChannelError(f"channel {self.name!r}: Kraus operators have shape {np.shape(self.kraus)}, "
                               "expected (K, d, d)")
        d = k.shape[1]
        nw = int(round(math.log2(d))) if d > 0 else 0
        if d < 2 or 2**nw != d or nw > MAX_CHANNEL_WIRES:
            raise ChannelError(f"channel {self.name!r}: Kraus dimension {d} is not 2, 4 or 8 "
                               f"(1-{MAX_CHANNEL_WIRES} wires)")
        if not np.all(np.isfinite(k)):
            raise ChannelError(f"channel {self.name!r}: Kraus operators have non-finite entries")
        dev = float(np.max(np.abs(np.einsum("aji,ajk->ik", k.conj(), k) - np.eye(d))))
        if dev > KRAUS_ATOL:
            raise ChannelError(f"channel {self.name!r} is not trace preserving: max |Σ K†K - 1| = {dev:.3g} "
                               f"> {KRAUS_ATOL:g}")
        k.setflags(write=False)
        object.__setattr__(self, "kraus", k)

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.name}({ps})"

    # ------------------------------------------------------------------ shape
    @property
    def num_wires(self) -> int:
        return int(round(math.log2(self.kraus.shape[1])))

    @property
    def dim(self) -> int:
        return self.kraus.shape[1]

    # ------------------------------------------------------------------ representations
    @cached_property
    def superoperator(self) -> np.ndarray:
        """``S = Σ_a K_a ⊗ conj(K_a)`` ``(d², d²)``: ``vec(E(ρ)) = S vec(ρ)`` (row-major vec)."""
        d = self.dim
        s = np.einsum("aij,akl->ikjl", self.kraus, self.kraus.conj()).reshape(d * d, d * d)
        s.setflags(write=False)
        return s

    @cached_property
    def is_real(self) -> bool:
        """True when the superoperator is real (every Pauli channel, amplitude damping, ...)."""
        return bool(np.allclose(self.superoperator.imag, 0.0, atol=PAULI_ATOL))

    def choi(self) -> np.ndarray:
        """Choi matrix ``J = Σ_{ij} |i⟩⟨j| ⊗ E(|i⟩⟨j|)`` ``(d², d²)``; CP ⇔ ``J ⪰ 0``, TP ⇔ ``Tr_2 J = 1``."""
        d = self.dim
        # J[(i,k),(j,l)] = E(|i⟩⟨j|)[k,l] = Σ_a K_a[k,i] conj(K_a[l,j]) = Σ_a v_a v_a†, v_a = vec(K_aᵀ)
        kt = np.swapaxes(self.kraus, 1, 2).reshape(self.kraus.shape[0], d * d)
        return np.einsum("ax,ay->xy", kt, kt.conj())

    def apply(self, rho: np.ndarray) -> np.ndarray:
        """``Σ_a K_a ρ K_a†`` for ``ρ (..., d, d)`` (NumPy; for tests and small problems)."""
        return np.einsum("aij,...jk,alk->...il", self.kraus, rho, self.kraus.conj())

    @cached_property
    def _pauli_probs(self) -> tuple[tuple[str, ...], np.ndarray] | None:
        k = self.num_wires
        labels, basis = _pauli_basis(k)
        d = self.dim
        # K_a = Σ_m c_am P_m with c_am = Tr(P_m K_a) / d;  χ_mn = Σ_a c_am conj(c_an)
        c = np.einsum("mji,aij->am", basis, self.kraus) / d
        chi = np.einsum("am,an->mn", c, c.conj())
        off = chi - np.diag(np.diag(chi))
        if np.max(np.abs(off)) > PAULI_ATOL:
            return None
        probs = np.clip(np.diag(chi).real, 0.0, None)
        keep = probs > PAULI_ATOL
        probs = probs[keep] / probs[keep].sum()
        return tuple(lab for lab, kp in zip(labels, keep) if kp), probs

    @property
    def pauli_probabilities(self) -> dict[str, float] | None:
        """``{pauli string: probability}`` when this is a Pauli channel ``Σ_P p_P P ρ P``, else ``None``.

        Detected from the process (χ) matrix in the Pauli basis, so it also recognises channels
        given in another Kraus form (phase damping is a phase flip).
        """
        pp = self._pauli_probs
        return None if pp is None else dict(zip(pp[0], pp[1].tolist()))

    @cached_property
    def is_identity(self) -> bool:
        return bool(np.allclose(self.superoperator, np.eye(self.dim**2), atol=PAULI_ATOL))


def _pauli_kraus(probs: Mapping[str, float], k: int) -> np.ndarray:
    labels, basis = _pauli_basis(k)
    ops = [math.sqrt(probs[lab]) * basis[i] for i, lab in enumerate(labels) if probs.get(lab, 0.0) > 0.0]
    return np.stack(ops) if ops else np.eye(2**k, dtype=complex)[None]


# ---------------------------------------------------------------------- built-in channels
def identity_channel(num_wires: int = 1) -> Channel:
    """The identity map on ``num_wires`` wires."""
    return Channel("identity", np.eye(2**num_wires, dtype=complex)[None], ())


def depolarizing(p: float, num_wires: int = 1) -> Channel:
    """Depolarizing channel (Pauli form) on 1 or 2 wires.

    .. math::  \\mathcal{E}(ρ) = (1-p)\\,ρ + \\frac{p}{d^2-1}\\sum_{P ≠ I} P ρ P,\\quad
               K_0 = \\sqrt{1-p}\\,1,\\; K_P = \\sqrt{p/(d^2-1)}\\,P .

    ``p ∈ [0, 1]`` is the probability of a (uniformly random, non-identity) Pauli error.
    """
    if num_wires not in (1, 2):
        raise ChannelError(f"depolarizing: num_wires = {num_wires!r} must be 1 or 2")
    p = _check_prob("p", "depolarizing", p)
    labels, _ = _pauli_basis(num_wires)
    rest = p / (len(labels) - 1)
    probs = {lab: (1.0 - p if i == 0 else rest) for i, lab in enumerate(labels)}
    name = "depolarizing" if num_wires == 1 else "depolarizing2"
    return Channel(name, _pauli_kraus(probs, num_wires), (("p", p),))


def depolarizing_from_fidelity(fidelity: float, num_wires: int = 1) -> float:
    """Pauli-form depolarizing ``p`` whose average gate fidelity is ``fidelity``.

    ``F_avg = (d F_pro + 1)/(d + 1)`` and ``F_pro = 1 - p``, so ``p = (1 - F)(d + 1)/d``:
    ``p = 1.5 (1-F)`` for one qubit, ``p = 1.25 (1-F)`` for two.
    """
    f = _check_prob("fidelity", "depolarizing_from_fidelity", fidelity)
    d = 2**num_wires
    p = (1.0 - f) * (d + 1) / d
    if p > 1.0:
        raise ChannelError(f"depolarizing_from_fidelity: fidelity = {fidelity!r} is below the fully "
                           f"depolarizing value {1 - d / (d + 1):.4g}")
    return p


def bit_flip(p: float) -> Channel:
    """``(1-p) ρ + p XρX``: ``K_0 = √(1-p) 1``, ``K_1 = √p X``."""
    p = _check_prob("p", "bit_flip", p)
    return Channel("bit_flip", _pauli_kraus({"I": 1 - p, "X": p}, 1), (("p", p),))


def phase_flip(p: float) -> Channel:
    """``(1-p) ρ + p ZρZ``: ``K_0 = √(1-p) 1``, ``K_1 = √p Z``."""
    p = _check_prob("p", "phase_flip", p)
    return Channel("phase_flip", _pauli_kraus({"I": 1 - p, "Z": p}, 1), (("p", p),))


def bit_phase_flip(p: float) -> Channel:
    """``(1-p) ρ + p YρY``."""
    p = _check_prob("p", "bit_phase_flip", p)
    return Channel("bit_phase_flip", _pauli_kraus({"I": 1 - p, "Y": p}, 1), (("p", p),))


def pauli_channel(px: float = 0.0, py: float = 0.0, pz: float = 0.0) -> Channel:
    """One-qubit Pauli channel ``(1-px-py-pz) ρ + px XρX + py YρY + pz ZρZ``."""
    px, py, pz = (_check_prob(n, "pauli_channel", v) for n, v in (("px", px), ("py", py), ("pz", pz)))
    if px + py + pz > 1.0 + 1e-12:
        raise ChannelError(f"pauli_channel: px + py + pz = {px + py + pz:.6g} exceeds 1")
    probs = {"I": max(0.0, 1 - px - py - pz), "X": px, "Y": py, "Z": pz}
    return Channel("pauli", _pauli_kraus(probs, 1), (("px", px), ("py", py), ("pz", pz)))


def pauli_string_channel(probabilities: Mapping[str, float]) -> Channel:
    """Pauli channel on ``k`` wires from ``{"XZ": p, ...}`` (identity gets ``1 - Σ p``)."""
    if not probabilities:
        raise ChannelError("pauli_string_channel: no Pauli probabilities given")
    ks = {len(lab) for lab in probabilities}
    if len(ks) != 1:
        raise ChannelError(f"pauli_string_channel: labels of different lengths {sorted(probabilities)}")
    k = ks.pop()
    probs: dict[str, float] = {}
    for lab, v in probabilities.items():
        if not lab or any(c not in "IXYZ" for c in lab):
            raise ChannelError(f"pauli_string_channel: bad Pauli label {lab!r} (use I, X, Y, Z)")
        probs[lab] = probs.get(lab, 0.0) + _check_prob(f"p[{lab}]", "pauli_string_channel", v)
    ident = "I" * k
    total = sum(v for lab, v in probs.items() if lab != ident)
    if total > 1.0 + 1e-12:
        raise ChannelError(f"pauli_string_channel: error probabilities sum to {total:.6g} > 1")
    probs[ident] = max(0.0, 1.0 - total)
    return Channel("pauli", _pauli_kraus(probs, k), tuple((lab, v) for lab, v in probabilities.items()))


def amplitude_damping(gamma: float) -> Channel:
    """Energy relaxation towards ``|0⟩``: ``K_0 = [[1,0],[0,√(1-γ)]]``, ``K_1 = [[0,√γ],[0,0]]``."""
    g = _check_prob("gamma", "amplitude_damping", gamma)
    k0 = np.array([[1, 0], [0, math.sqrt(1 - g)]], dtype=complex)
    k1 = np.array([[0, math.sqrt(g)], [0, 0]], dtype=complex)
    return Channel("amplitude_damping", np.stack([k0, k1]), (("gamma", g),))


def generalized_amplitude_damping(gamma: float, p: float) -> Channel:
    """Amplitude damping towards a thermal state (Nielsen & Chuang §8.3.5).

    ``K_0 = √p [[1,0],[0,√(1-γ)]]``, ``K_1 = √p [[0,√γ],[0,0]]``,
    ``K_2 = √(1-p) [[√(1-γ),0],[0,1]]``, ``K_3 = √(1-p) [[0,0],[√γ,0]]``; the fixed point is
    ``diag(p, 1-p)``.
    """
    g = _check_prob("gamma", "generalized_amplitude_damping", gamma)
    p = _check_prob("p", "generalized_amplitude_damping", p)
    a, b, s = math.sqrt(p), math.sqrt(1 - p), math.sqrt(1 - g)
    ks = np.stack([
        a * np.array([[1, 0], [0, s]], dtype=complex),
        a * np.array([[0, math.sqrt(g)], [0, 0]], dtype=complex),
        b * np.array([[s, 0], [0, 1]], dtype=complex),
        b * np.array([[0, 0], [math.sqrt(g), 0]], dtype=complex),
    ])
    return Channel("generalized_amplitude_damping", ks, (("gamma", g), ("p", p)))


def phase_damping(lam: float) -> Channel:
    """Pure dephasing: ``K_0 = [[1,0],[0,√(1-λ)]]``, ``K_1 = [[0,0],[0,√λ]]`` (ρ₀₁ → √(1-λ) ρ₀₁)."""
    lam = _check_prob("lam", "phase_damping", lam)
    k0 = np.array([[1, 0], [0, math.sqrt(1 - lam)]], dtype=complex)
    k1 = np.array([[0, 0], [0, math.sqrt(lam)]], dtype=complex)
    return Channel("phase_damping", np.stack([k0, k1]), (("lam", lam),))


def compose(*channels: Channel, name: str | None = None) -> Channel:
    """``E_m ∘ … ∘ E_1`` (``channels[0]`` acts first) on the same wires; Kraus set ``{K^m_a ··· K^1_b}``."""
    if not channels:
        raise ChannelError("compose: no channels given")
    d = channels[0].dim
    if any(c.dim != d for c in channels):
        raise ChannelError(f"compose: channels act on different numbers of wires {[c.num_wires for c in channels]}")
    ks = channels[0].kraus
    for c in channels[1:]:
        ks = np.einsum("aij,bjk->abik", c.kraus, ks).reshape(-1, d, d)
    norms = np.einsum("aij,aij->a", ks.conj(), ks).real
    ks = ks[norms > PAULI_ATOL**2] if np.any(norms > PAULI_ATOL**2) else ks[:1]
    params = tuple(p for c in channels for p in c.params)
    return Channel(name or "∘".join(c.name for c in reversed(channels)), ks, params)


def thermal_relaxation(t1: float, t2: float, time: float, excited_population: float = 0.0) -> Channel:
    """Relaxation (``T1``) and dephasing (``T2``) during a gate of duration ``time`` (same units).

    Populations relax towards ``diag(1-p_e, p_e)`` with ``γ = 1 - e^{-t/T1}`` (generalized
    amplitude damping) and coherences decay as ``e^{-t/T2}``: the amplitude damping already gives
    ``e^{-t/(2T1)}``, the rest is pure dephasing with ``√(1-λ) = e^{-t/T_φ}``,
    ``1/T_φ = 1/T2 - 1/(2 T1)``.  Needs ``T2 ≤ 2·T1``; ``math.inf`` is allowed for either time.
    """
    for nm, v in (("t1", t1), ("t2", t2)):
        if not isinstance(v, (int, float, np.floating, np.integer)) or not (float(v) > 0.0):
            raise ChannelError(f"thermal_relaxation: {nm} = {v!r} must be a positive time")
    t1, t2 = float(t1), float(t2)
    if not isinstance(time, (int, float, np.floating, np.integer)) or not math.isfinite(time) or time < 0:
        raise ChannelError(f"thermal_relaxation: time = {time!r} must be a finite non-negative duration")
    if t2 > 2.0 * t1 * (1 + 1e-12):
        raise ChannelError(f"thermal_relaxation: t2 = {t2:g} exceeds 2·t1 = {2 * t1:g} (unphysical)")
    pe = _check_prob("excited_population", "thermal_relaxation", excited_population)
    gamma = 1.0 - math.exp(-time / t1) if math.isfinite(t1) else 0.0
    rate_phi = (1.0 / t2 if math.isfinite(t2) else 0.0) - (0.5 / t1 if math.isfinite(t1) else 0.0)
    lam = 1.0 - math.exp(-2.0 * time * max(rate_phi, 0.0))
    ch = compose(generalized_amplitude_damping(gamma, 1.0 - pe), phase_damping(lam))
    return Channel("thermal_relaxation", ch.kraus,
                   (("t1", t1), ("t2", t2), ("time", float(time)), ("excited_population", pe)))


def kraus_channel(operators: Iterable[np.ndarray] | np.ndarray, name: str = "kraus") -> Channel:
    """A user channel from Kraus operators (checked: square, 1-3 wires, trace preserving).

    Raises:
        ChannelError: naming the deviation ``max |Σ K†K - 1|`` when the set is not trace
            preserving, or the bad shape.
    """
    return Channel(name, operators if isinstance(operators, np.ndarray) else list(operators), ())


def unitary_channel(matrix: np.ndarray, name: str = "unitary") -> Channel:
    """``U ρ U†`` as a channel (coherent error)."""
    return Channel(name, np.asarray(matrix, dtype=complex)[None], ())


# ---------------------------------------------------------------------- readout
@dataclass(frozen=True)
class ReadoutConfusion:
    """Classical assignment error of one qubit's measurement (a confusion matrix, not an exception).

    ``p01 = P(read 1 | prepared 0)``, ``p10 = P(read 0 | prepared 1)``; the confusion matrix
    ``A[m, b] = P(read m | true b) = [[1-p01, p10], [p01, 1-p10]]`` acts on probability vectors.
    """

    p01: float
    p10: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "p01", _check_prob("p01", "readout_error", self.p01))
        object.__setattr__(self, "p10", _check_prob("p10", "readout_error", self.p10))

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[1 - self.p01, self.p10], [self.p01, 1 - self.p10]])

    @property
    def is_ideal(self) -> bool:
        return self.p01 == 0.0 and self.p10 == 0.0


def readout_error(p01: float, p10: float | None = None) -> ReadoutConfusion:
    """Assignment error; ``p10`` defaults to ``p01`` (symmetric)."""
    return ReadoutConfusion(p01, p01 if p10 is None else p10)


def as_channels(obj) -> tuple[Channel, ...]:
    if isinstance(obj, Channel):
        return (obj,)
    if isinstance(obj, Sequence) and all(isinstance(c, Channel) for c in obj):
        return tuple(obj)
    raise ChannelError(f"{obj!r} is not a Channel or a sequence of Channels")


def __getattr__(name: str):
    """``ReadoutError``: the former name of :class:`ReadoutConfusion` (deprecated alias)."""
    if name == "ReadoutError":
        warnings.warn("qsim.noise.ReadoutError was renamed ReadoutConfusion (it is not an exception); "
                      "the old name will be removed", DeprecationWarning, stacklevel=2)
        return ReadoutConfusion
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
