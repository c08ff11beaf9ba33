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

Device profiles are TOML files (``qsim/noise/profiles/*.toml``, every number with its source);
:func:`load_profile` reads a built-in name or a user file.
"""

from __future__ import annotations

import logging
import math
import tomllib
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from ..circuit import Circuit, CircuitError, Operation
from ..errors import NoiseProfileError
from .channels import (
    Channel, ChannelError, ReadoutError, _as_channels, amplitude_damping, bit_flip, depolarizing,
    depolarizing_from_fidelity, generalized_amplitude_damping, pauli_channel, phase_damping, phase_flip,
    readout_error, thermal_relaxation,
)

__all__ = [
    "NoiseRule", "NoiseModel", "ChannelOp", "NoisyCircuit", "ProfileError", "UnmatchedNoiseWarning",
    "as_noisy", "load_profile", "available_profiles", "PROFILE_DIR",
]

log = logging.getLogger(__name__)

#: Folder of the built-in device profiles.
PROFILE_DIR = Path(__file__).with_name("profiles")


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
        object.__setattr__(self, "channels", _as_channels(self.channels) if self.channels != () else ())
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
class NoiseModel:
    """Noise rules plus readout errors (immutable; builder methods return new models).

    Attributes:
        rules: the gate-noise rules (see the module docstring for the override semantics).
        readout: assignment error of every qubit (``None``: perfect readout).
        readout_overrides: ``((qubit, ReadoutError), ...)`` per-qubit readout errors.
        name: a label (the profile name for loaded profiles).
    """

    rules: tuple[NoiseRule, ...] = ()
    readout: ReadoutError | None = None
    readout_overrides: tuple[tuple[int, ReadoutError], ...] = ()
    name: str = "custom"

    # ------------------------------------------------------------------ builders
    def add(self, channels: Channel | Sequence[Channel], *, gates=None, arity: int | None = None,
            wires: int | Sequence[int] | None = None) -> "NoiseModel":
        """A new model with the rule "after matching gates, apply ``channels``"."""
        rule = NoiseRule(_as_channels(channels) if channels != () else (), gates, arity, wires)
        return NoiseModel(self.rules + (rule,), self.readout, self.readout_overrides, self.name)

    def without_noise(self, *, gates=None, arity: int | None = None, wires=None) -> "NoiseModel":
        """A new model where the selected operations are noise-free (an empty override rule)."""
        return NoiseModel(self.rules + (NoiseRule((), gates, arity, wires),), self.readout,
                          self.readout_overrides, self.name)

    def with_readout(self, error: ReadoutError | float | None,
                     wires: int | Sequence[int] | None = None) -> "NoiseModel":
        """A new model with readout ``error`` on every qubit, or only on ``wires`` (override)."""
        if error is not None and not isinstance(error, ReadoutError):
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
                          stacklevel=5)
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
    def depolarizing(cls, p1: float = 0.0, p2: float = 0.0, *, readout: float | ReadoutError | None = None,
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


_BY_IDENTITY: dict[tuple[int, int], tuple] = {}
_BY_IDENTITY_MAX = 128


def _apply_cached(model: NoiseModel, circuit: Circuit) -> NoisyCircuit:
    """Memoised ``model._apply``: first by object identity (no hashing of the instruction lists),
    then by value."""
    key = (id(model), id(circuit))
    hit = _BY_IDENTITY.get(key)
    if hit is not None and hit[0] is model and hit[1] is circuit:
        return hit[2]
    noisy = _apply_by_value(model, circuit)
    if len(_BY_IDENTITY) >= _BY_IDENTITY_MAX:
        _BY_IDENTITY.pop(next(iter(_BY_IDENTITY)))
    _BY_IDENTITY[key] = (model, circuit, noisy)          # keeps both alive, so ids stay valid
    return noisy


@lru_cache(maxsize=256)
def _apply_by_value(model: NoiseModel, circuit: Circuit) -> NoisyCircuit:
    return model._apply(circuit)


# ---------------------------------------------------------------------- profiles
_CHANNEL_BUILDERS = {
    "depolarizing": (depolarizing, ("p",), ("num_wires",)),
    "bit_flip": (bit_flip, ("p",), ()),
    "phase_flip": (phase_flip, ("p",), ()),
    "pauli": (pauli_channel, (), ("px", "py", "pz")),
    "amplitude_damping": (amplitude_damping, ("gamma",), ()),
    "generalized_amplitude_damping": (generalized_amplitude_damping, ("gamma", "p"), ()),
    "phase_damping": (phase_damping, ("lam",), ()),
    "thermal_relaxation": (thermal_relaxation, ("t1", "t2", "time"), ("excited_population",)),
}
_TOP_KEYS = {"name", "description", "n_qubits", "one_qubit", "two_qubit", "readout", "timing", "relaxation",
             "rules", "notes"}
_TABLE_KEYS = {
    "one_qubit": {"fidelity", "error", "p", "source"},
    "two_qubit": {"fidelity", "error", "p", "channel", "source"},
    "readout": {"error", "p01", "p10", "source"},
    "timing": {"one_qubit_gate", "two_qubit_gate", "readout", "source"},
    "relaxation": {"t1", "t2", "excited_population", "apply", "source"},
}


def available_profiles() -> list[str]:
    """Names of the built-in profiles (``ideal``, ``ionq-aria-like``, ``ionq-forte-like``, ...)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _resolve_profile(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists() or "/" in str(name_or_path):
        if not p.is_file():
            raise NoiseProfileError(f"noise profile file {str(p)!r} does not exist")
        return p
    builtin = PROFILE_DIR / f"{name_or_path}.toml"
    if not builtin.is_file():
        raise NoiseProfileError(f"unknown noise profile {name_or_path!r}; built-in profiles: {available_profiles()} "
                           "(or give the path of a .toml file)")
    return builtin


def _num(where: str, table: dict, key: str, *, lo: float | None = None, hi: float | None = None,
         required: bool = True, default=None):
    if key not in table:
        if required:
            raise NoiseProfileError(f"{where}: missing key {key!r}")
        return default
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)) and v != math.inf:
        raise NoiseProfileError(f"{where}: {key} = {v!r} is not a number")
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise NoiseProfileError(f"{where}: {key} = {v!r} must lie in [{lo}, {hi}]")
    return v


def _table(where: str, data: dict, key: str) -> dict | None:
    t = data.get(key)
    if t is None:
        return None
    if not isinstance(t, dict):
        raise NoiseProfileError(f"{where}: [{key}] must be a table")
    extra = sorted(set(t) - _TABLE_KEYS[key])
    if extra:
        raise NoiseProfileError(f"{where}: unknown keys {extra} in [{key}] (allowed: {sorted(_TABLE_KEYS[key])})")
    return t


def _gate_error(where: str, t: dict, num_wires: int) -> float:
    """Depolarizing ``p`` from ``fidelity`` (average gate fidelity), ``error`` (= 1 - fidelity) or ``p``."""
    given = [k for k in ("fidelity", "error", "p") if k in t]
    if len(given) != 1:
        raise NoiseProfileError(f"{where}: give exactly one of fidelity / error / p (got {given})")
    k = given[0]
    if k == "p":
        return _num(where, t, "p", lo=0.0, hi=1.0)
    f = _num(where, t, "fidelity", lo=0.0, hi=1.0) if k == "fidelity" else 1.0 - _num(where, t, "error", lo=0.0, hi=1.0)
    try:
        return depolarizing_from_fidelity(f, num_wires)
    except ChannelError as exc:
        raise NoiseProfileError(f"{where}: {exc}") from None


def load_profile(name_or_path: str | Path) -> NoiseModel:
    """A :class:`NoiseModel` from a built-in profile name or a TOML file.

    Schema (every table may carry a ``source`` string; the built-in files cite one for every
    number)::

        name = "my-device"
        [one_qubit]   fidelity = 0.9995   # or error = 5e-4, or p = 7.5e-4 (depolarizing, Pauli form)
        [two_qubit]   fidelity = 0.996    #   two_qubit.channel = "pair" (default) or "each"
        [readout]     error = 0.0039      # or p01 = ..., p10 = ...
        [timing]      one_qubit_gate = 135e-6   two_qubit_gate = 600e-6   (seconds)
        [relaxation]  t1 = 10.0  t2 = 1.0  apply = false   # thermal relaxation during gates
        [[rules]]     channel = "amplitude_damping"  gamma = 1e-4  gates = ["RY"]  wires = [0]

    Fidelities are average gate fidelities (as randomized benchmarking reports them) and are
    converted to depolarizing ``p`` by :func:`~qsim.noise.channels.depolarizing_from_fidelity`.

    Raises:
        ProfileError: unknown name, missing file, TOML syntax error, unknown keys, or values out
            of range, naming the file and key.
    """
    path = _resolve_profile(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise NoiseProfileError(f"{path}: invalid TOML: {exc}") from None
    where = str(path)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise NoiseProfileError(f"{where}: unknown top-level keys {unknown} (allowed: {sorted(_TOP_KEYS)})")
    model = NoiseModel(name=str(data.get("name", path.stem)))
    t1q = _table(where, data, "one_qubit")
    if t1q is not None:
        p1 = _gate_error(f"{where} [one_qubit]", t1q, 1)
        if p1:
            model = model.add(depolarizing(p1), arity=1)
    t2q = _table(where, data, "two_qubit")
    if t2q is not None:
        mode = t2q.get("channel", "pair")
        if mode not in ("pair", "each"):
            raise NoiseProfileError(f"{where} [two_qubit]: channel = {mode!r} must be 'pair' or 'each'")
        p2 = _gate_error(f"{where} [two_qubit]", t2q, 2 if mode == "pair" else 1)
        if p2:
            model = model.add(depolarizing(p2, 2) if mode == "pair" else depolarizing(p2), arity=2)
    ro = _table(where, data, "readout")
    if ro is not None:
        w = f"{where} [readout]"
        if "error" in ro:
            e = _num(w, ro, "error", lo=0.0, hi=1.0)
            model = model.with_readout(readout_error(e, e))
        else:
            model = model.with_readout(readout_error(_num(w, ro, "p01", lo=0.0, hi=1.0),
                                                     _num(w, ro, "p10", lo=0.0, hi=1.0)))
    rel = _table(where, data, "relaxation")
    if rel is not None and rel.get("apply", False):
        w = f"{where} [relaxation]"
        tim = _table(where, data, "timing") or {}
        t1 = _num(w, rel, "t1", lo=0.0)
        t2 = _num(w, rel, "t2", lo=0.0)
        pe = _num(w, rel, "excited_population", lo=0.0, hi=1.0, required=False, default=0.0)
        for arity, key in ((1, "one_qubit_gate"), (2, "two_qubit_gate")):
            dt = _num(f"{where} [timing]", tim, key, lo=0.0)
            try:
                model = model.add(thermal_relaxation(t1, t2, dt, pe), arity=arity)
            except ChannelError as exc:
                raise NoiseProfileError(f"{w}: {exc}") from None
    rules = data.get("rules", [])
    if not isinstance(rules, list):
        raise NoiseProfileError(f"{where}: [[rules]] must be an array of tables")
    for i, r in enumerate(rules):
        model = _profile_rule(f"{where} [[rules]] #{i}", r, model)
    log.debug("loaded noise profile %s from %s", model.name, path)
    return model


def _profile_rule(where: str, r: dict, model: NoiseModel) -> NoiseModel:
    if not isinstance(r, dict) or "channel" not in r:
        raise NoiseProfileError(f"{where}: a rule needs a 'channel' key")
    kind = r["channel"]
    if kind not in _CHANNEL_BUILDERS:
        raise NoiseProfileError(f"{where}: unknown channel {kind!r} (known: {sorted(_CHANNEL_BUILDERS)})")
    fn, req, opt = _CHANNEL_BUILDERS[kind]
    allowed = set(req) | set(opt) | {"channel", "gates", "arity", "wires", "source"}
    extra = sorted(set(r) - allowed)
    if extra:
        raise NoiseProfileError(f"{where}: unknown keys {extra} for channel {kind!r}")
    kwargs = {k: _num(where, r, k) for k in req}
    for k in opt:
        if k in r:
            kwargs[k] = int(r[k]) if k == "num_wires" else _num(where, r, k)
    try:
        ch = fn(**kwargs)
        return model.add(ch, gates=r.get("gates"), arity=r.get("arity"), wires=r.get("wires"))
    except ChannelError as exc:
        raise NoiseProfileError(f"{where}: {exc}") from None
