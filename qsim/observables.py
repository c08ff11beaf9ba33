"""Observables: real-weighted sums of Pauli strings.

A Pauli string ``P = c · P_{q_1} ⊗ ... ⊗ P_{q_k}`` acts on a basis state as

.. math::  P|i⟩ = c · i^{n_Y} (-1)^{|i ∧ s|} |i ⊕ f⟩,

with ``f`` the bit mask of the X and Y wires ("flip"), ``s`` the mask of the Z and Y wires
("sign") and ``n_Y`` the number of Y factors (qubit ``q`` is bit ``n-1-q``).  Kernels only see
these masks (:func:`pauli_table`); the signs ``(-1)^{|i ∧ s|}`` of every basis state at once
are :func:`parity_signs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence, Union

import numpy as np

from .circuit import CircuitError

__all__ = ["PauliString", "Observable", "Z", "X", "Y", "pauli", "z_each", "as_observables", "pauli_table",
           "parity_signs", "PARITY_SIGNS_CACHE"]

#: Sign vectors kept by :func:`parity_signs` (each ``2**n`` float64: 8 MiB at n = 20).
PARITY_SIGNS_CACHE = 64


@lru_cache(maxsize=PARITY_SIGNS_CACHE)
def parity_signs(n_qubits: int, mask: int) -> np.ndarray:
    """``s[i] = (-1)^{|i ∧ mask|}`` for every basis index ``i < 2**n`` (float64, read-only, cached).

    The eigenvalue of the Z-string on the bits of ``mask`` at basis state ``i``; the parity is a
    vectorised XOR fold of ``i ∧ mask`` (six shifts), not a loop over bits.
    """
    v = np.arange(1 << n_qubits, dtype=np.int64) & int(mask)
    for shift in (32, 16, 8, 4, 2, 1):
        v ^= v >> shift
    out = 1.0 - 2.0 * (v & 1)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class PauliString:
    """``coeff · ⊗_k paulis[k]`` on ``wires[k]`` (identity elsewhere)."""

    paulis: str
    wires: tuple[int, ...]
    coeff: float = 1.0

    def __post_init__(self) -> None:
        ws = tuple(int(w) for w in self.wires)
        if len(self.paulis) != len(ws):
            raise CircuitError(f"Pauli string {self.paulis!r} has {len(self.paulis)} factors but wires {ws}")
        bad = [c for c in self.paulis if c not in "IXYZ"]
        if bad:
            raise CircuitError(f"Pauli string {self.paulis!r}: unknown factor {bad[0]!r} (use I, X, Y, Z)")
        if len(set(ws)) != len(ws):
            raise CircuitError(f"Pauli string {self.paulis!r}: repeated wire in {ws}")
        if any(w < 0 for w in ws):
            raise CircuitError(f"Pauli string {self.paulis!r}: negative wire in {ws}")
        if not math.isfinite(float(self.coeff)):
            raise CircuitError(f"Pauli string {self.paulis!r}: coefficient {self.coeff!r} is not finite")
        object.__setattr__(self, "wires", ws)

    @property
    def n_y(self) -> int:
        return self.paulis.count("Y")

    def check_wires(self, n_qubits: int) -> None:
        """Raise :class:`~qsim.errors.CircuitError` when a wire is outside an ``n_qubits`` register."""
        if self.wires and max(self.wires) >= n_qubits:
            raise CircuitError(f"Pauli string {self.paulis}{self.wires}: wire out of range for {n_qubits} qubits")

    def masks(self, n_qubits: int) -> tuple[int, int]:
        """``(flip, sign)`` bit masks for an ``n_qubits`` register."""
        self.check_wires(n_qubits)
        flip = sign = 0
        for p, w in zip(self.paulis, self.wires):
            bit = 1 << (n_qubits - 1 - w)
            if p in "XY":
                flip |= bit
            if p in "ZY":
                sign |= bit
        return flip, sign

    def matrix(self, n_qubits: int) -> np.ndarray:
        """Dense ``2**n`` matrix (for tests and references)."""
        from .gates import PAULI

        factors = [PAULI["I"]] * n_qubits
        for p, w in zip(self.paulis, self.wires):
            factors[w] = PAULI[p]
        out = np.array([[self.coeff]], dtype=complex)
        for f in factors:
            out = np.kron(out, f)
        return out


@dataclass(frozen=True)
class Observable:
    """A Hermitian observable ``Σ_t c_t P_t`` (real coefficients)."""

    terms: tuple[PauliString, ...]

    def __post_init__(self) -> None:
        terms = tuple(self.terms)
        if not terms:
            raise CircuitError("an observable needs at least one Pauli term")
        for t in terms:
            if not isinstance(t, PauliString):
                raise CircuitError(f"observable term {t!r} is not a PauliString")
        object.__setattr__(self, "terms", terms)

    def __add__(self, other: "Observable") -> "Observable":
        return Observable(self.terms + as_observable(other).terms)

    def __mul__(self, c: float) -> "Observable":
        return Observable(tuple(PauliString(t.paulis, t.wires, t.coeff * float(c)) for t in self.terms))

    __rmul__ = __mul__

    @property
    def is_real(self) -> bool:
        """True when the matrix is real (an even number of Y in every term)."""
        return all(t.n_y % 2 == 0 for t in self.terms)

    @property
    def is_diagonal(self) -> bool:
        return all(set(t.paulis) <= {"I", "Z"} for t in self.terms)

    def check_wires(self, n_qubits: int) -> None:
        """Raise :class:`~qsim.errors.CircuitError` when a term acts outside an ``n_qubits`` register."""
        for t in self.terms:
            t.check_wires(n_qubits)

    def matrix(self, n_qubits: int) -> np.ndarray:
        return sum(t.matrix(n_qubits) for t in self.terms)


ObservableLike = Union[Observable, PauliString]


def as_observable(o: ObservableLike) -> Observable:
    if isinstance(o, Observable):
        return o
    if isinstance(o, PauliString):
        return Observable((o,))
    raise CircuitError(f"{o!r} is not an Observable or PauliString")


def as_observables(obs: ObservableLike | Iterable[ObservableLike]) -> tuple[Observable, ...]:
    """Normalise one observable or a sequence of them to a tuple of :class:`Observable`."""
    if isinstance(obs, (Observable, PauliString)):
        return (as_observable(obs),)
    out = tuple(as_observable(o) for o in obs)
    if not out:
        raise CircuitError("no observables given")
    return out


def pauli(paulis: str, wires: Sequence[int] | int, coeff: float = 1.0) -> Observable:
    """``pauli("XZ", (0, 2))`` → the observable ``X_0 Z_2``."""
    ws = (wires,) if isinstance(wires, (int, np.integer)) else tuple(wires)
    return Observable((PauliString(paulis, ws, coeff),))


def Z(wire: int) -> Observable:
    return pauli("Z", wire)


def X(wire: int) -> Observable:
    return pauli("X", wire)


def Y(wire: int) -> Observable:
    return pauli("Y", wire)


def z_each(n_qubits: int, wires: Sequence[int] | None = None) -> tuple[Observable, ...]:
    """``(Z_0, Z_1, ..., Z_{n-1})`` (or on the given wires)."""
    return tuple(Z(w) for w in (range(n_qubits) if wires is None else wires))


def pauli_table(observables: Sequence[Observable], n_qubits: int) -> tuple[np.ndarray, ...]:
    """Flatten observables to kernel arrays ``(obs_index, coeff, flip, sign, n_y mod 4)``."""
    idx, coeff, flip, sign, ny = [], [], [], [], []
    for j, o in enumerate(observables):
        for t in o.terms:
            f, s = t.masks(n_qubits)
            idx.append(j)
            coeff.append(t.coeff)
            flip.append(f)
            sign.append(s)
            ny.append(t.n_y % 4)
    return (np.array(idx, dtype=np.int64), np.array(coeff, dtype=np.float64),
            np.array(flip, dtype=np.int64), np.array(sign, dtype=np.int64), np.array(ny, dtype=np.int64))
