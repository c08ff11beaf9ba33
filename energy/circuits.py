"""Circuit descriptions: what the energy models need to know about a circuit.

Both energy models need only a few numbers per circuit: the qubit count ``n``, the gate count
per arity ``g_k`` (gates acting on ``k`` wires) and the parallel depth, split into layers whose
widest gate is a single-qubit gate (``d_1``) and layers that hold a multi-qubit gate (``d_2``).
:class:`CircuitSpec` carries exactly these.  It is built

* from an explicit list of gate wire tuples (:func:`spec_from_wires`), with the depth found by
  as-soon-as-possible scheduling: a gate starts in the first layer after the last gate on any
  of its wires;
* from the paper's head (:class:`PaperHead`): per re-upload an angle-encoding ``RY`` on every
  qubit, then the long-range layers; a layer of connectivity ``C`` on ``Q`` qubits applies, for
  each offset ``c = 1..C`` and ``i = 0..Q-1``, ``CNOT(i, (i+c) mod Q)`` followed by ``RY`` on the
  target, i.e. ``C*Q`` CNOTs and ``C*Q`` RYs per layer (paper Fig. 2/3);
* from a hardware-efficient ansatz (:class:`HardwareEfficient`: ``g_1 = n(L+1)``,
  ``g_2 = L(n-1)``, anchors §5.1);
* from any object shaped like a ``qsim`` circuit (:func:`spec_from_circuit`): attribute
  ``n_qubits``, method ``count_by_arity() -> {arity: count}`` and method ``depth()``.  Such an
  object gives no per-layer arity; ``d_2 = min(depth, g_2 + g_3 + ...)`` and ``d_1 = depth - d_2``
  are then used, which over-estimates a layered QPU's time when 2-qubit gates share layers.

A *circuit family* maps a qubit count to a :class:`CircuitSpec`; the cross-over scans ``n``.
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

__all__ = [
    "EnergyCircuitError",
    "CircuitFamily",
    "CircuitSpec",
    "FactoryFamily",
    "HardwareEfficient",
    "PaperHead",
    "family_from_factory",
    "spec_from_circuit",
    "spec_from_wires",
    "two_qubit_equivalent",
]

#: Toffoli (CCX) decomposition cost used for 3-wire gates on hardware with 1- and 2-qubit native
#: gates: 6 CNOTs and 9 single-qubit gates (Nielsen & Chuang, Fig. 4.9).
TOFFOLI_TWO_QUBIT_GATES = 6
TOFFOLI_ONE_QUBIT_GATES = 9


class EnergyCircuitError(ValueError):
    """A circuit description with a missing or nonsensical field (named apart from :class:`qsim.CircuitError`)."""


class CircuitLike(Protocol):
    """The duck type of a ``qsim`` circuit accepted by :func:`spec_from_circuit`."""

    n_qubits: int

    def count_by_arity(self) -> Mapping[int, int]: ...

    def depth(self) -> int: ...


@dataclass(frozen=True)
class CircuitSpec:
    """Gate counts and depth of one circuit.

    Attributes:
        n_qubits: qubits (wires) ``n``.
        counts: ``{arity k: number of gates acting on k wires}``.
        depth: parallel depth ``d = d_1 + d_2``.
        depth_multi: ``d_2``, the layers holding at least one gate on 2 or more wires.
        label: a short description for reports.
        gates: the wires of each gate in circuit order (``None``: not known), controls first.
        active: per gate, the wires it acts on non-diagonally (a CNOT's target, not its control;
            none for a diagonal gate); ``None`` when not known.  Global wires in this list need
            data movement on a distributed simulator (:mod:`energy.lowering`).
        source: the ``qsim`` circuit this spec was read from, if any (lowered as is).
    """

    n_qubits: int
    counts: Mapping[int, int]
    depth: int
    depth_multi: int
    label: str = "circuit"
    gates: tuple[tuple[int, ...], ...] | None = field(default=None, compare=False, repr=False)
    active: tuple[tuple[int, ...], ...] | None = field(default=None, compare=False, repr=False)
    source: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check_int("n_qubits", self.n_qubits, 1)
        _check_int("depth", self.depth, 0)
        _check_int("depth_multi", self.depth_multi, 0)
        if self.depth_multi > self.depth:
            raise EnergyCircuitError(
                f"circuit depth_multi = {self.depth_multi}: must be <= depth = {self.depth}"
            )
        for arity, count in self.counts.items():
            _check_int("arity", arity, 1)
            _check_int(f"count_by_arity()[{arity}]", count, 0)
            if count and arity > self.n_qubits:
                raise EnergyCircuitError(
                    f"circuit has {count} gate(s) on {arity} wires "
                    f"but only n_qubits = {self.n_qubits}"
                )

    @property
    def n_gates(self) -> int:
        """Total gate count ``G = sum_k g_k``."""
        return sum(self.counts.values())

    @property
    def depth_single(self) -> int:
        """``d_1 = d - d_2``: layers with single-qubit gates only."""
        return self.depth - self.depth_multi

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"n_qubits": self.n_qubits,
                "counts": {str(k): v for k, v in sorted(self.counts.items())},
                "depth": self.depth, "depth_multi": self.depth_multi, "label": self.label}


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise EnergyCircuitError(f"circuit {name} = {value!r}: must be an integer >= {minimum}")


def two_qubit_equivalent(counts: Mapping[int, int]) -> tuple[int, int]:
    """Native gate counts ``(g_1, g_2)`` on hardware whose native gates act on 1 or 2 qubits.

    A 3-wire gate counts as a Toffoli (:data:`TOFFOLI_TWO_QUBIT_GATES` 2-qubit and
    :data:`TOFFOLI_ONE_QUBIT_GATES` 1-qubit gates).  A ``k``-wire gate with ``k >= 4`` uses the
    quantum Shannon decomposition bound, ``(23/48) 4^k - (3/2) 2^k + 4/3`` CNOTs (Shende,
    Bullock, Markov 2006), with one single-qubit gate per CNOT.
    """
    g1 = counts.get(1, 0)
    g2 = counts.get(2, 0)
    for arity, count in counts.items():
        if arity == 3:
            g1 += TOFFOLI_ONE_QUBIT_GATES * count
            g2 += TOFFOLI_TWO_QUBIT_GATES * count
        elif arity >= 4:
            cnots = math.ceil(23 / 48 * 4**arity - 1.5 * 2**arity + 4 / 3)
            g1 += cnots * count
            g2 += cnots * count
    return g1, g2


def spec_from_wires(n_qubits: int, gates: Iterable[Sequence[int]],
                    label: str = "circuit") -> CircuitSpec:
    """Build a :class:`CircuitSpec` from gate wire tuples in circuit order.

    Depth is found by as-soon-as-possible scheduling: gate ``g`` on wires ``w`` is placed in layer
    ``max_{q in w} free[q]`` and sets ``free[q]`` to the next layer for each of its wires.  A gate
    on several wires is read as controls first: it acts non-diagonally on its last wire only
    (CNOT, Toffoli), which is what :attr:`CircuitSpec.active` records.
    """
    _check_int("n_qubits", n_qubits, 1)
    gates = tuple(tuple(int(w) for w in wires) for wires in gates)
    free = [0] * n_qubits
    widest: list[int] = []  # widest arity in each layer
    counts: dict[int, int] = {}
    for wires in gates:
        if not wires or len(set(wires)) != len(wires) or min(wires) < 0 or max(wires) >= n_qubits:
            raise EnergyCircuitError(
                f"gate on wires {tuple(wires)}: wires must be distinct and in [0, {n_qubits})"
            )
        layer = max(free[q] for q in wires)
        for q in wires:
            free[q] = layer + 1
        if layer == len(widest):
            widest.append(0)
        widest[layer] = max(widest[layer], len(wires))
        counts[len(wires)] = counts.get(len(wires), 0) + 1
    return CircuitSpec(n_qubits, counts, len(widest), sum(1 for a in widest if a >= 2), label,
                       gates=gates, active=tuple((wires[-1],) for wires in gates))


def spec_from_circuit(circuit: Any, label: str | None = None) -> CircuitSpec:
    """Read a ``qsim``-like circuit (``n_qubits``, ``count_by_arity()``, ``depth()``).

    A :class:`CircuitSpec` is returned unchanged.  The per-layer arity is not available from the
    duck type, so ``d_2 = min(depth, number of multi-wire gates)`` (see module docstring).

    Raises:
        EnergyCircuitError: an attribute is missing or holds a bad value.
    """
    if isinstance(circuit, CircuitSpec):
        return circuit
    name = type(circuit).__name__
    for attr in ("n_qubits", "count_by_arity", "depth"):
        if not hasattr(circuit, attr):
            raise EnergyCircuitError(
                f"{name} object has no {attr!r}: "
                "a circuit needs n_qubits, count_by_arity() and depth()"
            )
    counts_raw = circuit.count_by_arity()
    if not isinstance(counts_raw, Mapping):
        raise EnergyCircuitError(
            f"{name}.count_by_arity() = {counts_raw!r}: must be a mapping arity -> count"
        )
    counts = {int(k): int(v) for k, v in counts_raw.items() if v}
    depth = circuit.depth()
    _check_int(f"{name}.depth()", depth, 0)
    multi = sum(v for k, v in counts.items() if k >= 2)
    gates = active = source = None
    ops = getattr(circuit, "ops", None)
    if ops is not None and all(hasattr(o, "gate") and hasattr(o, "wires") for o in ops):
        source = circuit  # a qsim circuit: lowered as is, its diagonal gates known
        gates = tuple(tuple(o.wires) for o in ops)
        active = tuple(() if o.gate.is_diagonal else tuple(o.wires[o.gate.num_controls:]) for o in ops)
    return CircuitSpec(int(circuit.n_qubits), counts, depth, min(depth, multi), label or name,
                       gates=gates, active=active, source=source)


class CircuitFamily(Protocol):
    """A circuit for every qubit count: ``family(n) -> CircuitSpec``."""

    def __call__(self, n_qubits: int) -> CircuitSpec: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PaperHead:
    """The paper's QPU module (anchors: paper.md §3.1, §3.3) as a circuit family.

    For ``n`` qubits: ``reuploads`` times (angle-encoding ``RY`` on each qubit, then ``layers``
    long-range layers), then ``final_layers`` more layers (PQC 2).  Each layer holds ``C*n``
    CNOT+RY blocks; ``ry_column`` adds a column of ``n`` RYs after each PQC (Fig. 3's extra column).

    Gate counts: ``g_2 = C n (N L + L_f)`` and ``g_1 = g_2 + N n``, plus
    ``(N + [L_f > 0]) n`` with the column.
    """

    layers: int = 1
    connectivity: int = 1
    reuploads: int = 1
    final_layers: int = 1
    ry_column: bool = False

    def __post_init__(self) -> None:
        _check_int("layers", self.layers, 0)
        _check_int("connectivity", self.connectivity, 1)
        _check_int("reuploads", self.reuploads, 1)
        _check_int("final_layers", self.final_layers, 0)

    def __call__(self, n_qubits: int) -> CircuitSpec:
        return _paper_head_spec(n_qubits, self.layers, self.connectivity, self.reuploads,
                                self.final_layers, self.ry_column)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"family": "paper-head", "layers": self.layers,
                "connectivity": self.connectivity, "reuploads": self.reuploads,
                "final_layers": self.final_layers, "ry_column": self.ry_column}


def _paper_layer(n: int, connectivity: int) -> list[tuple[int, ...]]:
    gates: list[tuple[int, ...]] = []
    for c in range(1, connectivity + 1):
        for i in range(n):
            target = (i + c) % n
            gates.append((i, target))
            gates.append((target,))
    return gates


@lru_cache(maxsize=512)
def _paper_head_spec(n: int, layers: int, connectivity: int, reuploads: int, final_layers: int,
                     ry_column: bool) -> CircuitSpec:
    if n < 2 or connectivity >= n:
        raise EnergyCircuitError(f"paper head with n_qubits = {n}, connectivity = {connectivity}: "
                           "needs n_qubits >= 2 and 1 <= connectivity < n_qubits")
    column = [(q,) for q in range(n)]
    layer = _paper_layer(n, connectivity)
    gates: list[tuple[int, ...]] = []
    for _ in range(reuploads):
        gates += column + layer * layers + (column if ry_column else [])
    if final_layers:
        gates += layer * final_layers + (column if ry_column else [])
    label = f"paper head L={layers} C={connectivity} N={reuploads} Lf={final_layers}"
    return spec_from_wires(n, gates, label)


@dataclass(frozen=True)
class HardwareEfficient:
    """Hardware-efficient ansatz: ``RY`` on each qubit, then ``layers`` x (``RY`` each, CNOT chain).

    ``g_1 = n (L + 1)``, ``g_2 = L (n - 1)`` (anchors §5.1).
    """

    layers: int = 2

    def __post_init__(self) -> None:
        _check_int("layers", self.layers, 0)

    def __call__(self, n_qubits: int) -> CircuitSpec:
        return _hea_spec(n_qubits, self.layers)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"family": "hardware-efficient", "layers": self.layers}


@lru_cache(maxsize=512)
def _hea_spec(n: int, layers: int) -> CircuitSpec:
    column = [(q,) for q in range(n)]
    chain = [(q, q + 1) for q in range(n - 1)]
    return spec_from_wires(n, column + (column + chain) * layers, f"hardware-efficient L={layers}")


@dataclass(frozen=True)
class FactoryFamily:
    """Circuits from a user callable ``factory(n) -> qsim-like circuit`` (e.g. the real head)."""

    factory: Callable[[int], Any]
    label: str

    def __call__(self, n_qubits: int) -> CircuitSpec:
        spec = spec_from_circuit(self.factory(n_qubits), self.label)
        if spec.n_qubits != n_qubits:
            raise EnergyCircuitError(
                f"{self.label}({n_qubits}) returned a circuit with n_qubits = {spec.n_qubits}"
            )
        return spec

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"family": "factory", "factory": self.label}


def family_from_factory(reference: str) -> FactoryFamily:
    """Import ``"package.module:function"`` and wrap it as a circuit family.

    Raises:
        EnergyCircuitError: the reference is malformed or does not name a callable.
    """
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise EnergyCircuitError(f"circuit factory {reference!r}: expected 'package.module:function'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise EnergyCircuitError(f"circuit factory {reference!r}: {exc}") from None
    if not callable(factory):
        raise EnergyCircuitError(f"circuit factory {reference!r} is not callable")
    return FactoryFamily(factory, reference)


def __getattr__(name: str) -> Any:
    """``CircuitError``: the former name of :class:`EnergyCircuitError` (deprecated alias)."""
    if name == "CircuitError":
        warnings.warn("energy.circuits.CircuitError was renamed EnergyCircuitError (qsim has its own "
                      "CircuitError); the old name will be removed", DeprecationWarning, stacklevel=2)
        return EnergyCircuitError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
