"""Noise models: rules that attach channels to gates, kept apart from the (noise-free) circuit.

A :class:`NoiseModel` is a tuple of :class:`NoiseRule` plus readout errors.  ``model.apply(circuit)``
returns a :class:`NoisyCircuit`: the circuit's operations interleaved with :class:`ChannelOp`
instructions, which every engine (density matrices, trajectories, shots) runs.  The circuit
itself is never modified.

Rule semantics, per operation of the circuit:

* a rule *matches* when every selector it sets matches: ``gates`` (gate names), ``arity``
  (number of wires of the gate), ``wires`` (the operation's wires, exactly, in order);
* only the matching rules of the **highest specificity** apply, where specificity is
  ``2·[wires set] + [gates set]``: a per-qubit rule overrides a per-gate rule, which overrides a
  rule by arity or a catch-all; rules of equal specificity all apply, in insertion order;
  a rule with no channels is therefore a "noise-free here" override;
* a channel on as many wires as the gate is placed on the gate's wires; a one-wire channel on a
  multi-wire gate is placed on each of its wires;
* a rule that names gates or wires but matches no operation of the circuit (a typo such as
  ``gates="FOO"``, or ``wires=3`` for a gate on ``(2, 3)``), and a readout override on a qubit
  the circuit lacks, are almost always mistakes: ``apply`` warns
  (:class:`UnmatchedNoiseWarning`), or raises :class:`~qsim.noise.channels.ChannelError` with
  ``strict=True``.  Rules by arity only may match nothing (a profile's two-qubit rule on a
  one-qubit circuit) and stay silent.

Example::

    model = (NoiseModel()
             .add(depolarizing(0.001), arity=1)            # after every 1-qubit gate
             .add(depolarizing(0.01, 2), arity=2)          # after every 2-qubit gate, on its wires
             .add(depolarizing(0.05), gates="RY", wires=3) # qubit 3's RY is worse (override)
             .with_readout(readout_error(0.01, 0.02)))
    noisy = model.apply(circuit)

Device profiles are TOML files (``qsim/noise/profiles/*.toml``, every number with its source)
read by :mod:`qsim.noise.profiles`; :func:`load_profile` turns a built-in name or a user file
into a model.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ..circuit import SRC_CONST, Circuit, CircuitError, HashCached, Operation
from ..errors import NoiseProfileError
from .channels import Channel, ChannelError, ReadoutConfusion, as_channels, depolarizing, readout_error
from .profiles import PROFILE_DIR, available_profiles, read_profile

__all__ = [
    "NoiseRule", "NoiseModel", "ChannelOp", "NoisyCircuit", "ProfileError", "UnmatchedNoiseWarning",
    "as_noisy", "load_profile", "available_profiles", "PROFILE_DIR", "Structure", "AngleTable",
    "APPLY_CACHE_SIZE",
]

log = logging.getLogger(__name__)

#: (model, circuit) pairs whose NoisyCircuit is kept, by value (a lookup costs two cached hashes).
APPLY_CACHE_SIZE = 256

#: Former name of :class:`qsim.errors.NoiseProfileError` (kept as an alias).
ProfileError = NoiseProfileError


class UnmatchedNoiseWarning(UserWarning):
    """A noise rule selects gates or wires that the circuit does not have (see :meth:`NoiseModel.apply`)."""


# ---------------------------------------------------------------------- instructions
@dataclass(frozen=True)
class ChannelOp:
    """A channel placed on wires (an instruction of a :class:`NoisyCircuit`)."""

    channel: Channel
    wires: tuple[int, ...]

    def __post_init__(self) -> None:
        ws = tuple(int(w) for w in self.wires)
        if len(ws) != self.channel.num_wires or len(set(ws)) != len(ws) or min(ws) < 0:
            raise ChannelError(f"{self.channel!r} acts on {self.channel.num_wires} wire(s), placed on {ws}")
        object.__setattr__(self, "wires", ws)

    def __repr__(self) -> str:
        return f"{self.channel!r}{self.wires}"


Instruction = Union[Operation, ChannelOp]


def param_key(p) -> tuple:
    """A parameter reference without its offset / constant value: ``(SRC_WEIGHT | SRC_INPUT, index,
    scale)`` or ``(SRC_CONST,)`` (shifted circuits of the parameter-shift rule share keys)."""
    if p.source == SRC_CONST:
        return (SRC_CONST,)
    return (p.source, p.index, p.scale)


@dataclass(frozen=True, eq=False)
class Structure:
    """A noisy circuit's instruction structure, angle offsets and constant values left out: the
    key of structure-keyed caches (the density plan), so shifted circuits share one entry.

    ``items[k]`` is ``(gate, wires, param keys)`` for an operation (see :func:`param_key`) and
    ``(channel, wires)`` for a channel.  The hash is computed once.
    """

    n_qubits: int
    items: tuple[tuple, ...]

    @cached_property
    def _hash(self) -> int:
        return hash((self.n_qubits, self.items))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        return (isinstance(other, Structure) and self._hash == other._hash and self.n_qubits == other.n_qubits
                and self.items == other.items)


@dataclass(frozen=True)
class AngleTable:
    """Every parameter reference of a noisy circuit's operations as flat arrays, in instruction
    order: parameter ``i`` of instruction ``k`` is entry ``start[k] + i``; its angle is
    ``offset + scale · weights[index]`` (``SRC_WEIGHT``), ``offset + scale · inputs[:, index]``
    (``SRC_INPUT``) or ``offset`` (``SRC_CONST``: the constant's value, scale 0)."""

    start: np.ndarray      # (K + 1,) int64
    src: np.ndarray        # (P,) int64, SRC_*
    index: np.ndarray      # (P,) int64
    scale: np.ndarray      # (P,) float64
    offset: np.ndarray     # (P,) float64


@dataclass(frozen=True)
class NoisyCircuit:
    """A circuit with channels interleaved (what the noisy engines run).

    Attributes:
        circuit: the noise-free circuit it was made from.
        instructions: operations and channel placements in execution order.
        readout: per-qubit ``(p01, p10)`` assignment errors, or ``None`` for perfect readout.
    """

    circuit: Circuit
    instructions: tuple[Instruction, ...]
    readout: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        n = self.circuit.n_qubits
        for ins in self.instructions:
            if not isinstance(ins, (Operation, ChannelOp)):
                raise CircuitError(f"noisy-circuit element {ins!r} is not an Operation or ChannelOp")
            if max(ins.wires) >= n:
                raise CircuitError(f"{ins!r}: wire out of range for {n} qubits")
        if self.readout is not None and len(self.readout) != n:
            raise CircuitError(f"readout errors given for {len(self.readout)} qubits, circuit has {n}")

    @property
    def n_qubits(self) -> int:
        return self.circuit.n_qubits

    @property
    def n_weights(self) -> int:
        return self.circuit.n_weights

    @property
    def n_inputs(self) -> int:
        return self.circuit.n_inputs

    @property
    def channels(self) -> tuple[ChannelOp, ...]:
        return tuple(i for i in self.instructions if isinstance(i, ChannelOp))

    @property
    def readout_array(self) -> np.ndarray | None:
        """``(n, 2)`` array of ``(p01, p10)`` or ``None``."""
        return None if self.readout is None else np.array(self.readout, dtype=float)

    @cached_property
    def structure(self) -> Structure:
        """The instruction structure without angle values (computed once per object)."""
        items = []
        for ins in self.instructions:
            if isinstance(ins, Operation):
                items.append((ins.gate, ins.wires, tuple(param_key(p) for p in ins.params)))
            else:
                items.append((ins.channel, ins.wires))
        return Structure(self.n_qubits, tuple(items))

    @cached_property
    def angles(self) -> AngleTable:
        """The parameter references of every operation as flat arrays (computed once per object)."""
        start, src, index, scale, offset = [0], [], [], [], []
        for ins in self.instructions:
            params = ins.params if isinstance(ins, Operation) else ()
            for p in params:
                s, i, a, b = p.affine
                src.append(s)
                index.append(i)
                scale.append(a)
                offset.append(b)
            start.append(len(src))
        i64 = lambda a: np.array(a, dtype=np.int64)  # noqa: E731
        return AngleTable(i64(start), i64(src), i64(index), np.array(scale, dtype=float),
                          np.array(offset, dtype=float))

    def draw(self) -> str:
        return "\n".join(f"{k:4d}  {i!r}" for k, i in enumerate(self.instructions))


def as_noisy(circuit: Circuit | NoisyCircuit, model: "NoiseModel | None" = None) -> NoisyCircuit:
    """``model.apply(circuit)``; a :class:`NoisyCircuit` passes through (then ``model`` must be ``None``)."""
    if isinstance(circuit, NoisyCircuit):
        if model is not None:
            raise CircuitError("a NoisyCircuit already carries its noise; do not pass a model too")
        return circuit
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"expected a qsim Circuit or NoisyCircuit, got {type(circuit).__name__}")
    return (model or NoiseModel()).apply(circuit)


# ---------------------------------------------------------------------- rules
def _names(gates) -> frozenset[str] | None:
    if gates is None:
        return None
    if isinstance(gates, str):
        return frozenset({gates})
    out = []
    for g in gates:
        out.append(g if isinstance(g, str) else getattr(g, "name", None))
        if not isinstance(out[-1], str):
            raise ChannelError(f"gate selector {g!r} is not a gate name or Gate")
    return frozenset(out)


@dataclass(frozen=True)
class NoiseRule:
    """After each operation that matches the selectors, apply ``channels`` (in order).

    Attributes:
        channels: channels to apply (empty: an explicit "no noise" override).
        gates: gate names the rule applies to (``None``: any gate).
        arity: number of wires of the gate (``None``: any).
        wires: the exact wires of the operation (``None``: any).
    """

    channels: tuple[Channel, ...]
    gates: frozenset[str] | None = None
    arity: int | None = None
    wires: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", as_channels(self.channels) if self.channels != () else ())
        object.__setattr__(self, "gates", _names(self.gates))
        if self.arity is not None and (not isinstance(self.arity, (int, np.integer)) or self.arity < 1):
            raise ChannelError(f"rule arity = {self.arity!r} must be a positive integer")
        if self.wires is not None:
            ws = (self.wires,) if isinstance(self.wires, (int, np.integer)) else tuple(self.wires)
            if not ws or any(int(w) < 0 for w in ws):
                raise ChannelError(f"rule wires = {self.wires!r} must be non-negative integers")
            object.__setattr__(self, "wires", tuple(int(w) for w in ws))
        width = self.arity if self.arity is not None else (len(self.wires) if self.wires is not None else None)
        for ch in self.channels:
            if width is not None and ch.num_wires not in (1, width):
                raise ChannelError(f"rule for {width}-wire gates cannot place {ch!r} ({ch.num_wires} wires)")

    def selector(self) -> str:
        """The selectors as text, e.g. ``gates=['RY'], wires=(2,)`` (``every gate`` when none)."""
        gates = sorted(self.gates) if self.gates else None
        parts = (("gates", gates), ("arity", self.arity), ("wires", self.wires))
        return ", ".join(f"{k}={v}" for k, v in parts if v is not None) or "every gate"

    @property
    def specificity(self) -> int:
        return 2 * (self.wires is not None) + (self.gates is not None)

    def matches(self, o: Operation) -> bool:
        return ((self.gates is None or o.gate.name in self.gates)
                and (self.arity is None or o.gate.num_wires == self.arity)
                and (self.wires is None or o.wires == self.wires))

    def placements(self, o: Operation) -> list[ChannelOp]:
        out = []
        for ch in self.channels:
            if ch.num_wires == len(o.wires):
                out.append(ChannelOp(ch, o.wires))
            elif ch.num_wires == 1:
                out.extend(ChannelOp(ch, (w,)) for w in o.wires)
            else:
                raise ChannelError(f"cannot place {ch!r} ({ch.num_wires} wires) after {o!r}")
        return out


@dataclass(frozen=True)
class NoiseModel(HashCached):
    """Noise rules plus readout errors (immutable; builder methods return new models).

    Attributes:
        rules: the gate-noise rules (see the module docstring for the override semantics).
        readout: assignment error of every qubit (``None``: perfect readout).
        readout_overrides: ``((qubit, ReadoutConfusion), ...)`` per-qubit readout errors.
        name: a label (the profile name for loaded profiles).
    """

    rules: tuple[NoiseRule, ...] = ()
    readout: ReadoutConfusion | None = None
    readout_overrides: tuple[tuple[int, ReadoutConfusion], ...] = ()
    name: str = "custom"

    #: The field hash, computed on first use and kept (not part of equality, repr or pickles):
    #: models key the :meth:`apply` cache, as :class:`~qsim.circuit.Circuit` does with its own.
    _hash: int | None = field(default=None, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ hashing
    __hash__ = HashCached.__hash__

    def _hash_key(self) -> tuple:
        return (self.rules, self.readout, self.readout_overrides, self.name)

    # ------------------------------------------------------------------ builders
    def add(self, channels: Channel | Sequence[Channel], *, gates=None, arity: int | None = None,
            wires: int | Sequence[int] | None = None) -> "NoiseModel":
        """A new model with the rule "after matching gates, apply ``channels``"."""
        rule = NoiseRule(as_channels(channels) if channels != () else (), gates, arity, wires)
        return NoiseModel(self.rules + (rule,), self.readout, self.readout_overrides, self.name)

    def without_noise(self, *, gates=None, arity: int | None = None, wires=None) -> "NoiseModel":
        """A new model where the selected operations are noise-free (an empty override rule)."""
        return NoiseModel(self.rules + (NoiseRule((), gates, arity, wires),), self.readout,
                          self.readout_overrides, self.name)

    def with_readout(self, error: ReadoutConfusion | float | None,
                     wires: int | Sequence[int] | None = None) -> "NoiseModel":
        """A new model with readout ``error`` on every qubit, or only on ``wires`` (override)."""
        if error is not None and not isinstance(error, ReadoutConfusion):
            error = readout_error(float(error))
        if wires is None:
            return NoiseModel(self.rules, error, self.readout_overrides, self.name)
        if error is None:
            raise ChannelError("a per-qubit readout override needs an error")
        ws = (wires,) if isinstance(wires, (int, np.integer)) else tuple(wires)
        extra = tuple((int(w), error) for w in ws)
        return NoiseModel(self.rules, self.readout, self.readout_overrides + extra, self.name)

    def named(self, name: str) -> "NoiseModel":
        return NoiseModel(self.rules, self.readout, self.readout_overrides, name)

    # ------------------------------------------------------------------ queries
    @property
    def is_ideal(self) -> bool:
        return (all(not r.channels or all(c.is_identity for c in r.channels) for r in self.rules)
                and self.readout_array(1) is None and not self.readout_overrides)

    def channels_after(self, o: Operation) -> list[ChannelOp]:
        """Channel placements that follow operation ``o``."""
        matching = [r for r in self.rules if r.matches(o)]
        if not matching:
            return []
        top = max(r.specificity for r in matching)
        out: list[ChannelOp] = []
        for r in matching:
            if r.specificity == top:
                out.extend(r.placements(o))
        return [c for c in out if not c.channel.is_identity]

    def readout_array(self, n_qubits: int) -> np.ndarray | None:
        """``(n, 2)`` per-qubit ``(p01, p10)``, or ``None`` when readout is perfect."""
        arr = np.zeros((n_qubits, 2))
        if self.readout is not None:
            arr[:] = (self.readout.p01, self.readout.p10)
        for q, e in self.readout_overrides:
            if 0 <= q < n_qubits:
                arr[q] = (e.p01, e.p10)
        return None if not np.any(arr) else arr

    def apply(self, circuit: Circuit, *, strict: bool = False) -> NoisyCircuit:
        """The circuit's operations with the model's channels interleaved (the circuit is unchanged;
        results are cached per (model, circuit)).

        Rules naming gates or wires that match no operation, and readout overrides on qubits
        the circuit lacks, warn once per (model, circuit) (:class:`UnmatchedNoiseWarning`), or
        raise :class:`~qsim.noise.channels.ChannelError` when ``strict``.
        """
        if not isinstance(circuit, Circuit):
            raise CircuitError(f"NoiseModel.apply expects a qsim Circuit, got {type(circuit).__name__}")
        if strict:
            unmatched = self.unmatched(circuit)
            if unmatched:
                raise ChannelError(f"noise model {self.name!r}: {unmatched[0]}"
                                   + (f" (and {len(unmatched) - 1} more)" if len(unmatched) > 1 else ""))
        return _apply_cached(self, circuit)

    def unmatched(self, circuit: Circuit) -> list[str]:
        """What in this model selects nothing in ``circuit``: rules with ``gates``/``wires`` that
        match no operation, readout overrides on qubits outside the circuit (one line each)."""
        out = []
        for r in self.rules:
            if (r.gates is not None or r.wires is not None) and not any(r.matches(o) for o in circuit.ops):
                out.append(f"rule [{r.selector()}] matches no operation of the {circuit.n_qubits}-qubit circuit "
                           f"(its gates: {sorted(circuit.count_by_name())})")
        for q, _ in self.readout_overrides:
            if not 0 <= q < circuit.n_qubits:
                out.append(f"readout override on qubit {q} is outside the {circuit.n_qubits}-qubit circuit")
        return out

    def _apply(self, circuit: Circuit) -> NoisyCircuit:
        for line in self.unmatched(circuit):
            warnings.warn(f"noise model {self.name!r}: {line}; it adds no noise", UnmatchedNoiseWarning,
                          stacklevel=4)
        ins: list[Instruction] = []
        for o in circuit.ops:
            ins.append(o)
            ins.extend(self.channels_after(o))
        ro = self.readout_array(circuit.n_qubits)
        ro_t = None if ro is None else tuple((float(a), float(b)) for a, b in ro)
        return NoisyCircuit(circuit, tuple(ins), ro_t)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def ideal(cls) -> "NoiseModel":
        return cls(name="ideal")

    @classmethod
    def depolarizing(cls, p1: float = 0.0, p2: float = 0.0, *, readout: float | ReadoutConfusion | None = None,
                     two_qubit: str = "pair") -> "NoiseModel":
        """``p1`` depolarizing after every 1-qubit gate; after every 2-qubit gate either a 2-qubit
        depolarizing ``p2`` on its pair (``two_qubit="pair"``) or a 1-qubit ``p2`` on each wire
        (``"each"``); optional symmetric readout error."""
        m = cls(name="depolarizing")
        if p1:
            m = m.add(depolarizing(p1), arity=1)
        if p2:
            if two_qubit == "pair":
                m = m.add(depolarizing(p2, 2), arity=2)
            elif two_qubit == "each":
                m = m.add(depolarizing(p2), arity=2)
            else:
                raise ChannelError(f"two_qubit = {two_qubit!r} must be 'pair' or 'each'")
        return m.with_readout(readout) if readout else m

    @classmethod
    def from_profile(cls, name_or_path: str | Path) -> "NoiseModel":
        return load_profile(name_or_path)

    def describe(self) -> str:
        lines = [f"NoiseModel {self.name!r}"]
        for r in self.rules:
            lines.append(f"  after [{r.selector()}]: {', '.join(map(repr, r.channels)) or 'no noise'}")
        if self.readout is not None:
            lines.append(f"  readout: p01={self.readout.p01:g}, p10={self.readout.p10:g}")
        for q, e in self.readout_overrides:
            lines.append(f"  readout qubit {q}: p01={e.p01:g}, p10={e.p10:g}")
        return "\n".join(lines)


@lru_cache(maxsize=APPLY_CACHE_SIZE)
def _apply_cached(model: NoiseModel, circuit: Circuit) -> NoisyCircuit:
    """Memoised ``model._apply`` per (model, circuit) by value; both cache their hashes, so a hit
    costs no walk over the operations."""
    return model._apply(circuit)


# ---------------------------------------------------------------------- profiles
def load_profile(name_or_path: str | Path) -> NoiseModel:
    """A :class:`NoiseModel` from a built-in profile name or a TOML file (read and validated by
    :func:`qsim.noise.profiles.read_profile`, whose docstring gives the schema): the profile's
    rules in file order, then its readout confusion.

    Raises:
        ProfileError: unknown name, missing file, TOML syntax error, unknown keys, or values out
            of range, naming the file and key.
    """
    profile = read_profile(name_or_path)
    model = NoiseModel(name=profile.name)
    for r in profile.rules:
        try:
            model = model.add(r.channel, gates=r.gates, arity=r.arity, wires=r.wires)
        except ChannelError as exc:
            raise NoiseProfileError(f"{r.where}: {exc}") from None
    if profile.readout is not None:
        model = model.with_readout(profile.readout)
    log.debug("loaded noise profile %s from %s", model.name, profile.path)
    return model
