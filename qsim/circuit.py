"""Circuits as data: immutable lists of gate placements whose angles are references.

An angle is never a number baked into a gate; it is one of

* :class:`Weight` ``(i, scale, offset)`` → ``scale · w[i] + offset``, a trainable weight shared
  across the batch;
* :class:`Input` ``(i, scale, offset)`` → ``scale · x[b, i] + offset``, a per-sample input
  (e.g. angle encoding with ``scale=π``);
* :class:`Const` ``(value)`` → a fixed angle.

A :class:`Circuit` is therefore a pure description; simulation functions take it together with
the weight vector ``w`` of shape ``(n_weights,)``, the inputs ``x`` of shape ``(B, n_inputs)``
and optionally initial states of shape ``(B, 2**n)``.  Qubit 0 is the most significant bit.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence, Union

import numpy as np

from .gates import Gate

__all__ = ["Weight", "Input", "Const", "Param", "Operation", "Circuit", "CircuitError", "op"]


class CircuitError(ValueError):
    """A circuit, an operation or the data given to simulate it is invalid."""


def _check_index(kind: str, index: int) -> None:
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise CircuitError(f"{kind} slot index {index!r} must be a non-negative integer")


def _check_finite(kind: str, **values: float) -> None:
    for key, v in values.items():
        if not math.isfinite(float(v)):
            raise CircuitError(f"{kind} {key} = {v!r} is not finite")


@dataclass(frozen=True)
class Weight:
    """Angle ``scale · w[index] + offset`` from the trainable weight vector."""

    index: int
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        _check_index("weight", self.index)
        _check_finite("weight", scale=self.scale, offset=self.offset)


@dataclass(frozen=True)
class Input:
    """Angle ``scale · x[b, index] + offset`` from the per-sample inputs."""

    index: int
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        _check_index("input", self.index)
        _check_finite("input", scale=self.scale, offset=self.offset)


@dataclass(frozen=True)
class Const:
    """A fixed angle in radians."""

    value: float

    def __post_init__(self) -> None:
        _check_finite("constant", value=self.value)


Param = Union[Weight, Input, Const]


@dataclass(frozen=True)
class Operation:
    """A gate placed on wires, with one parameter reference per gate parameter."""

    gate: Gate
    wires: tuple[int, ...]
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.gate, Gate):
            raise CircuitError(f"operation gate {self.gate!r} is not a qsim Gate")
        wires = tuple(self.wires)
        for w in wires:
            if not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 0:
                raise CircuitError(f"{self.gate.name}: wire {w!r} must be a non-negative integer")
        if len(wires) != self.gate.num_wires:
            raise CircuitError(f"{self.gate.name} acts on {self.gate.num_wires} wires, got wires {wires}")
        if len(set(wires)) != len(wires):
            raise CircuitError(f"{self.gate.name}: repeated wire in {wires}")
        if len(self.params) != self.gate.num_params:
            raise CircuitError(
                f"{self.gate.name} takes {self.gate.num_params} parameters, got {len(self.params)}"
            )
        for p in self.params:
            if not isinstance(p, (Weight, Input, Const)):
                raise CircuitError(f"{self.gate.name}: parameter {p!r} is not a Weight, Input or Const")
        object.__setattr__(self, "wires", tuple(int(w) for w in wires))

    def __repr__(self) -> str:
        ps = ", ".join(repr(p) for p in self.params)
        return f"{self.gate.name}{self.wires}" + (f"[{ps}]" if ps else "")


def op(gate: Gate, wires: int | Sequence[int], *params: Param | float) -> Operation:
    """Shorthand: ``op(RY, 0, Weight(3))``; plain numbers become :class:`Const`."""
    ws = (wires,) if isinstance(wires, (int, np.integer)) else tuple(wires)
    ps = tuple(p if isinstance(p, (Weight, Input, Const)) else Const(float(p)) for p in params)
    return Operation(gate, ws, ps)


@dataclass(frozen=True)
class Circuit:
    """An immutable circuit on ``n_qubits`` wires.

    ``n_weights`` / ``n_inputs`` default to one more than the largest slot index used; they may
    be given larger (unused slots get zero gradient) but never smaller.
    """

    n_qubits: int
    ops: tuple[Operation, ...] = field(default=())
    n_weights: int | None = None
    n_inputs: int | None = None

    def __post_init__(self) -> None:
        n = self.n_qubits
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise CircuitError(f"n_qubits = {n!r} must be a positive integer")
        ops = tuple(self.ops)
        for o in ops:
            if not isinstance(o, Operation):
                raise CircuitError(f"circuit element {o!r} is not an Operation")
            bad = [w for w in o.wires if w >= n]
            if bad:
                raise CircuitError(f"{o!r}: wire {bad[0]} out of range for {n} qubits")
        object.__setattr__(self, "ops", ops)
        used_w = max((p.index for o in ops for p in o.params if isinstance(p, Weight)), default=-1) + 1
        used_x = max((p.index for o in ops for p in o.params if isinstance(p, Input)), default=-1) + 1
        for attr, used in (("n_weights", used_w), ("n_inputs", used_x)):
            given = getattr(self, attr)
            if given is None:
                object.__setattr__(self, attr, used)
            elif not isinstance(given, (int, np.integer)) or given < used:
                raise CircuitError(f"{attr} = {given!r} but slot {used - 1} is used")

    # ------------------------------------------------------------------ composition
    def __add__(self, other: "Circuit") -> "Circuit":
        if not isinstance(other, Circuit):
            return NotImplemented
        if other.n_qubits != self.n_qubits:
            raise CircuitError(f"cannot concatenate circuits on {self.n_qubits} and {other.n_qubits} qubits")
        return Circuit(self.n_qubits, self.ops + other.ops)

    def extend(self, ops: Iterable[Operation]) -> "Circuit":
        """A new circuit with ``ops`` appended."""
        return Circuit(self.n_qubits, self.ops + tuple(ops))

    # ------------------------------------------------------------------ statistics
    def __len__(self) -> int:
        return len(self.ops)

    def count_by_arity(self) -> dict[int, int]:
        """Number of gates acting on 1, 2, 3 wires."""
        return dict(sorted(Counter(o.gate.num_wires for o in self.ops).items()))

    def count_by_name(self) -> dict[str, int]:
        return dict(Counter(o.gate.name for o in self.ops))

    def depth(self) -> int:
        """Parallel depth: length of the longest chain of gates sharing wires."""
        level = [0] * self.n_qubits
        for o in self.ops:
            d = max(level[w] for w in o.wires) + 1
            for w in o.wires:
                level[w] = d
        return max(level, default=0)

    @property
    def is_real(self) -> bool:
        """True when every gate is real for all angles (RY, CNOT, CZ, H, X, Z, SWAP, ...)."""
        return all(o.gate.is_real for o in self.ops)

    @property
    def uses_inputs(self) -> bool:
        return self.n_inputs > 0

    def __repr__(self) -> str:
        return (f"Circuit(n_qubits={self.n_qubits}, ops={len(self.ops)}, "
                f"n_weights={self.n_weights}, n_inputs={self.n_inputs})")

    def draw(self) -> str:
        """A plain-text listing, one operation per line."""
        return "\n".join(f"{k:4d}  {o!r}" for k, o in enumerate(self.ops))

