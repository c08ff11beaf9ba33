"""Circuits as data: immutable lists of gate placements whose angles are references.

An angle is never a number baked into a gate; it is one of

* :class:`Weight` ``(i, scale, offset)`` → ``scale · w[i] + offset``, a trainable weight shared
  across the batch;
* :class:`Input` ``(i, scale, offset)`` → ``scale · x[b, i] + offset``, a per-sample input
  (e.g. angle encoding with ``scale=π``);
* :class:`Const` ``(value)`` → a fixed angle.

The three share one interface: ``ref.angle(w, x)`` (the angle, a number or ``(B,)`` per sample,
broadcasting against the batch), ``ref.shifted(s)`` (the angle plus ``s``), ``ref.source`` (one
of :data:`SRC_CONST`, :data:`SRC_WEIGHT`, :data:`SRC_INPUT`) and ``ref.affine`` (``(source,
index, scale, offset)``, what the lowering stores).  (``Const.value`` is the constant itself, so
the common method is called ``angle``.)

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

from .errors import CircuitError
from .gates import Gate

__all__ = ["Weight", "Input", "Const", "Param", "Operation", "Circuit", "CircuitError", "op", "MAX_QUBITS",
           "SRC_CONST", "SRC_WEIGHT", "SRC_INPUT"]

#: Largest register a :class:`Circuit` may have.  qsim holds whole states on one host: at 40
#: qubits a single state is 4 TiB even on the float32 real path (4 B per amplitude), beyond any
#: one machine; below this bound the memory guard (:func:`qsim.validate.check_memory`) decides
#: at simulation time from the batch, dtype and the memory actually available.
MAX_QUBITS = 40

#: Where an angle's value comes from (:attr:`Weight.source` ...; the lowered program's ``src`` array).
SRC_CONST, SRC_WEIGHT, SRC_INPUT = 0, 1, 2


def _check_index(kind: str, index: int) -> None:
    if not isinstance(index, (int, np.integer)) or isinstance(index, bool) or index < 0:
        raise CircuitError(f"{kind} slot index {index!r} must be a non-negative integer")


def _real(kind: str, key: str, v) -> float:
    """``v`` as a finite float; strings, complex numbers and other non-reals raise naming ``v``."""
    if isinstance(v, (str, bytes)) or np.iscomplexobj(v):
        raise CircuitError(f"{kind} {key} = {v!r} is not a real number")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise CircuitError(f"{kind} {key} = {v!r} is not a real number") from None
    if not math.isfinite(f):
        raise CircuitError(f"{kind} {key} = {v!r} is not finite")
    return f


def _check_real(obj, kind: str, *keys: str) -> None:
    """Validate the real-valued fields ``keys`` of a frozen dataclass and store them as floats."""
    for key in keys:
        object.__setattr__(obj, key, _real(kind, key, getattr(obj, key)))


def _wire_tuple(wires) -> tuple:
    """``wires`` as a tuple: an iterable is unpacked, anything else (an int, a float, a string, a
    0-d array) is one wire, checked by :class:`Operation`."""
    if isinstance(wires, (str, bytes)) or (isinstance(wires, np.ndarray) and wires.ndim == 0):
        return (wires,)
    return tuple(wires) if isinstance(wires, Iterable) else (wires,)


@dataclass(frozen=True)
class Weight:
    """Angle ``scale · w[index] + offset`` from the trainable weight vector."""

    index: int
    scale: float = 1.0
    offset: float = 0.0

    #: :data:`SRC_WEIGHT`: the angle reads the weight vector.
    source = SRC_WEIGHT

    def __post_init__(self) -> None:
        _check_index("weight", self.index)
        _check_real(self, "weight", "scale", "offset")

    def angle(self, weights: np.ndarray, inputs: np.ndarray | None = None) -> float:
        """The angle ``scale · w[index] + offset``: one number, shared by every sample of the batch."""
        return self.scale * weights[self.index] + self.offset

    def shifted(self, s: float) -> "Weight":
        """The same reference with the angle shifted by ``s`` (``offset + s``)."""
        return Weight(self.index, self.scale, self.offset + s)

    @property
    def affine(self) -> tuple[int, int, float, float]:
        """``(source, index, scale, offset)``: the angle is ``scale · v + offset``, ``v`` read from ``source``."""
        return SRC_WEIGHT, self.index, self.scale, self.offset


@dataclass(frozen=True)
class Input:
    """Angle ``scale · x[b, index] + offset`` from the per-sample inputs."""

    index: int
    scale: float = 1.0
    offset: float = 0.0

    #: :data:`SRC_INPUT`: the angle reads the per-sample inputs.
    source = SRC_INPUT

    def __post_init__(self) -> None:
        _check_index("input", self.index)
        _check_real(self, "input", "scale", "offset")

    def angle(self, weights: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        """The angles ``scale · x[:, index] + offset``, one per sample: ``(B,)``."""
        return self.scale * inputs[:, self.index] + self.offset

    def shifted(self, s: float) -> "Input":
        """The same reference with the angle shifted by ``s`` (``offset + s``)."""
        return Input(self.index, self.scale, self.offset + s)

    @property
    def affine(self) -> tuple[int, int, float, float]:
        """``(source, index, scale, offset)``: the angle is ``scale · v + offset``, ``v`` read from ``source``."""
        return SRC_INPUT, self.index, self.scale, self.offset


@dataclass(frozen=True)
class Const:
    """A fixed angle in radians."""

    value: float

    #: :data:`SRC_CONST`: the angle is a constant.
    source = SRC_CONST

    def __post_init__(self) -> None:
        _check_real(self, "constant", "value")

    def angle(self, weights: np.ndarray | None = None, inputs: np.ndarray | None = None) -> float:
        """The fixed angle (shared by every sample)."""
        return self.value

    def shifted(self, s: float) -> "Const":
        """The constant shifted by ``s``."""
        return Const(self.value + s)

    @property
    def affine(self) -> tuple[int, int, float, float]:
        """``(SRC_CONST, 0, 0.0, value)``: the angle ``0 · v + value``."""
        return SRC_CONST, 0, 0.0, self.value


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
        wires = _wire_tuple(self.wires)
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
    """Shorthand: ``op(RY, 0, Weight(3))``; plain real numbers become :class:`Const`."""
    name = getattr(gate, "name", gate)
    ps = tuple(p if isinstance(p, (Weight, Input, Const)) else Const(_real(f"{name}:", "angle", p))
               for p in params)
    return Operation(gate, _wire_tuple(wires), ps)


class HashCached:
    """Mixin of frozen dataclasses that key caches: ``hash(self)`` is ``hash(self._hash_key())``,
    computed on first use and kept in the ``_hash`` field, which pickles leave out (hashes of
    strings and of identity-compared gates differ between processes).

    The class declares ``_hash: int | None = field(default=None, init=False, repr=False,
    compare=False)``, defines ``_hash_key()`` and sets ``__hash__ = HashCached.__hash__`` in its
    body: ``@dataclass(frozen=True)`` replaces a ``__hash__`` it only inherits.
    """

    __slots__ = ()

    def _hash_key(self) -> tuple:
        raise NotImplementedError

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(self._hash_key())
            object.__setattr__(self, "_hash", h)
        return h

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}


@dataclass(frozen=True)
class Circuit(HashCached):
    """An immutable circuit on ``n_qubits`` wires (at most :data:`MAX_QUBITS`).

    ``n_weights`` / ``n_inputs`` default to one more than the largest slot index used; they may
    be given larger (unused slots get zero gradient) but never smaller.  Concatenation
    (``+``, :meth:`extend`) keeps the larger declared counts.
    """

    n_qubits: int
    ops: tuple[Operation, ...] = field(default=())
    n_weights: int | None = None
    n_inputs: int | None = None

    #: The field hash ``hash((n_qubits, ops, n_weights, n_inputs))``, computed on first use and kept
    #: (not a field of equality, repr or pickles): circuits key ``functools.lru_cache`` caches
    #: (lowering, noise application), which would otherwise rehash every operation per lookup.
    #: A plain attribute read by :meth:`__hash__` (not a ``cached_property``): a cache hit then costs
    #: no more than an ``id()``-keyed memo.
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.n_qubits
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise CircuitError(f"n_qubits = {n!r} must be a positive integer")
        if n > MAX_QUBITS:
            raise CircuitError(f"n_qubits = {n} exceeds qsim's limit of {MAX_QUBITS} qubits (a state holds "
                               f"2**{n} amplitudes and qsim keeps whole states in one host's memory)")
        ops = tuple(self.ops)
        for o in ops:
            if not isinstance(o, Operation):
                raise CircuitError(f"circuit element {o!r} is not an Operation")
            bad = [w for w in o.wires if w >= n]
            if bad:
                raise CircuitError(f"{o!r}: wire {bad[0]} out of range for {n} qubits")
        object.__setattr__(self, "ops", ops)
        used_w = max((p.index for o in ops for p in o.params if p.source == SRC_WEIGHT), default=-1) + 1
        used_x = max((p.index for o in ops for p in o.params if p.source == SRC_INPUT), default=-1) + 1
        for attr, used in (("n_weights", used_w), ("n_inputs", used_x)):
            given = getattr(self, attr)
            if given is None:
                object.__setattr__(self, attr, used)
            elif not isinstance(given, (int, np.integer)) or given < used:
                raise CircuitError(f"{attr} = {given!r} but slot {used - 1} is used")

    # ------------------------------------------------------------------ hashing
    __hash__ = HashCached.__hash__

    def _hash_key(self) -> tuple:
        return (self.n_qubits, self.ops, self.n_weights, self.n_inputs)

    # ------------------------------------------------------------------ composition
    def __add__(self, other: "Circuit") -> "Circuit":
        if not isinstance(other, Circuit):
            return NotImplemented
        if other.n_qubits != self.n_qubits:
            raise CircuitError(f"cannot concatenate circuits on {self.n_qubits} and {other.n_qubits} qubits")
        return Circuit(self.n_qubits, self.ops + other.ops, max(self.n_weights, other.n_weights),
                       max(self.n_inputs, other.n_inputs))

    def extend(self, ops: Iterable[Operation]) -> "Circuit":
        """A new circuit with ``ops`` appended (declared ``n_weights``/``n_inputs`` kept)."""
        return self + Circuit(self.n_qubits, tuple(ops))

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

