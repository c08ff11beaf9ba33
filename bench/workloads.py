"""Benchmark workloads: named, seeded problem definitions shared by every simulator adapter.

A workload turns ``(n_qubits, batch, layers, seed)`` into a :class:`Problem`: a qsim
:class:`~qsim.Circuit` plus its weights and inputs.  Every adapter (ours and the peers') builds
its own circuit from ``problem.circuit.ops`` (gate name, wires, angle reference), so all
simulators run the same gates in the same order with the same angles; the agreement check in
:mod:`bench.agreement` then verifies it on every point.

==========  ==============================================================================
``W1``      layered forward: ``L`` hardware-efficient layers (RY+RZ on every qubit, then a
            CNOT ring ``q → q+1 mod n``) from ``|0…0⟩``; output: the final state.
``W2``      batched: ``RY(x_q)`` angle encoding then W1's ansatz, all ``⟨Z_q⟩`` for a batch
            of samples (samples/s).
``W3``      adjoint gradient of ``Σ_q ⟨Z_q⟩`` for W1 with respect to all weights (plus our
            own forward time of the same circuit, for the gradient/forward ratio).
``G1``      one dense one-qubit gate pass on the middle qubit (memory traffic; roofline).
``HEAD``    one training step of the hybrid head (``bench.hybrid_step`` adapters).
``W4``      noisy density matrix: W1's circuit with a one-qubit depolarizing channel
            ``p = 0.001`` after every one-qubit gate and ``p = 0.01`` on each wire after every
            CNOT (issue 3, item 8); output: all ``⟨Z_q⟩``.  ``python -m bench.noise`` adds an
            in-process peer table with speed-ups and trajectory timings (:mod:`bench.noise`).
==========  ==============================================================================
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qsim import Circuit, Const, Operation, gates
from qsim.circuit import SRC_CONST, SRC_INPUT
from qsim.ansatz import angle_encoding, hardware_efficient_layer
from qsim.noise import NoiseModel

__all__ = [
    "Workload", "Problem", "WORKLOADS", "WORKLOAD_ORDER", "DEFAULT_LAYERS", "get_workload",
    "build_problem", "w1_circuit", "w2_circuit", "g1_matrix", "g1_target", "angle_value", "G1_ANGLE",
    "W4_P1", "W4_P2", "w4_noise_model",
]

#: Layers of the hardware-efficient ansatz in W1, W2 and W3 (issue 2, item 6).
DEFAULT_LAYERS = 4
#: Angle of the G1 gate (RX for complex dtypes, RY on the real path): any generic value.
G1_ANGLE = 0.7
#: W4's depolarizing probabilities: after each one-qubit gate, and on each wire after each CNOT.
W4_P1, W4_P2 = 0.001, 0.01
#: Range of the random weights and inputs.
WEIGHT_RANGE = (0.0, 2 * math.pi)
INPUT_RANGE = (0.0, math.pi)


@dataclass(frozen=True)
class Workload:
    """A named workload: its default sizes and what it measures."""

    name: str
    title: str
    output: str                          # "state", "z_each", "grad", "gate", "head", "noisy"
    default_qubits: tuple[int, ...]
    quick_qubits: tuple[int, ...]
    default_batch: int = 1
    quick_batch: int | None = None
    batched: bool = False
    layered: bool = True
    check: Callable[[], str | None] | None = field(default=None, repr=False)   # why it cannot run, or None

    def unavailable_reason(self) -> str | None:
        """None when the workload can run here, else why not."""
        return self.check() if self.check is not None else None

    def amplitudes(self, n_qubits: int, batch: int) -> float:
        """Entries of the simulated state(s): ``2**n`` per sample, ``4**n`` for density matrices."""
        return float(4**n_qubits if self.output == "noisy" else 2**n_qubits) * batch

    def work(self, n_qubits: int, batch: int, layers: int) -> float:
        """Relative cost of one run, used to predict the run time of the next size."""
        gates_per_state = max(1, layers) * 3 * n_qubits if self.layered else 1
        return self.amplitudes(n_qubits, batch) * gates_per_state


def _module_check(name: str) -> Callable[[], str | None]:
    def check() -> str | None:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else f"{name} not available"

    return check


WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", "layered forward (final state)", "state",
                   default_qubits=tuple(range(20, 27)), quick_qubits=(10, 12, 14)),
    "W2": Workload("W2", "batched encoding + ansatz, all <Z_q>", "z_each",
                   default_qubits=(8,), quick_qubits=(8,), default_batch=256, batched=True),
    "W3": Workload("W3", "adjoint gradient of sum_q <Z_q>", "grad",
                   default_qubits=(8, 10, 12, 14, 16, 18, 20), quick_qubits=(8, 10, 12)),
    "G1": Workload("G1", "one dense 1q gate pass (memory traffic)", "gate",
                   default_qubits=(24, 25, 26), quick_qubits=(20,), layered=False),
    "HEAD": Workload("HEAD", "hybrid head training step", "head",
                     default_qubits=(14,), quick_qubits=(8,), default_batch=32, batched=True, layered=False,
                     check=_module_check("bench.hybrid_step")),
    "W4": Workload("W4", "noisy density matrix, all <Z_q>", "noisy",
                   default_qubits=(4, 6, 8, 10, 12), quick_qubits=(4, 6)),
}
WORKLOAD_ORDER = tuple(WORKLOADS)


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name.upper()]
    except KeyError:
        raise KeyError(f"unknown workload {name!r}; choose from {', '.join(WORKLOADS)}") from None


@dataclass(frozen=True, eq=False)
class Problem:
    """One point of a workload: everything an adapter needs, deterministic in ``seed``."""

    workload: str
    n_qubits: int
    batch: int
    layers: int
    seed: int
    circuit: Circuit | None
    weights: np.ndarray
    inputs: np.ndarray | None

    @property
    def n_gates(self) -> int:
        if self.workload == "G1":
            return 1
        return len(self.circuit.ops) if self.circuit is not None else 0

    @property
    def key(self) -> str:
        """File-name-safe identifier of the point (reference outputs are stored under it)."""
        return f"{self.workload}-n{self.n_qubits}-b{self.batch}-L{self.layers}-s{self.seed}"


def w1_circuit(n_qubits: int, layers: int = DEFAULT_LAYERS) -> Circuit:
    """W1/W3: ``layers`` hardware-efficient layers (weights ``2·n·layers``)."""
    ops: list[Operation] = []
    for layer in range(layers):
        ops += hardware_efficient_layer(n_qubits, first_weight=2 * n_qubits * layer)
    return Circuit(n_qubits, ops)


def w2_circuit(n_qubits: int, layers: int = DEFAULT_LAYERS) -> Circuit:
    """W2: ``RY(x_q)`` on every qubit, then W1's ansatz."""
    return Circuit(n_qubits, tuple(angle_encoding(n_qubits)) + w1_circuit(n_qubits, layers).ops)


def w4_noise_model() -> NoiseModel:
    """W4's noise model (``qsim.noise``): depolarizing ``W4_P1`` after 1q gates, ``W4_P2`` on each CNOT wire."""
    return NoiseModel.depolarizing(W4_P1, W4_P2, two_qubit="each")


def g1_target(n_qubits: int) -> int:
    """G1 acts on the middle qubit (neither the contiguous low bits nor the strided high bits)."""
    return n_qubits // 2


def g1_matrix(real: bool) -> np.ndarray:
    """The dense 2x2 matrix of G1: ``RY(G1_ANGLE)`` on the real path, else ``RX(G1_ANGLE)``."""
    c, s = math.cos(G1_ANGLE / 2), math.sin(G1_ANGLE / 2)
    if real:
        return np.array([[c, -s], [s, c]])
    return np.array([[c, -1j * s], [-1j * s, c]])


def _rng(workload: str, n_qubits: int, batch: int, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, n_qubits, batch, sum(map(ord, workload))])


def build_problem(workload: str, n_qubits: int, batch: int | None = None, layers: int = DEFAULT_LAYERS,
                  seed: int = 0) -> Problem:
    """The problem of ``workload`` at one size (identical in every process for the same arguments)."""
    wl = get_workload(workload)
    batch = wl.default_batch if batch is None else int(batch)
    if n_qubits < 1 or batch < 1:
        raise ValueError(f"{wl.name}: n_qubits = {n_qubits} and batch = {batch} must be >= 1")
    rng = _rng(wl.name, n_qubits, batch, seed)
    if wl.name in ("W1", "W3"):
        circuit = w1_circuit(n_qubits, layers)
        weights = rng.uniform(*WEIGHT_RANGE, circuit.n_weights)
        return Problem(wl.name, n_qubits, 1, layers, seed, circuit, weights, None)
    if wl.name == "W2":
        circuit = w2_circuit(n_qubits, layers)
        weights = rng.uniform(*WEIGHT_RANGE, circuit.n_weights)
        inputs = rng.uniform(*INPUT_RANGE, (batch, circuit.n_inputs))
        return Problem(wl.name, n_qubits, batch, layers, seed, circuit, weights, inputs)
    if wl.name == "G1":
        circuit = Circuit(n_qubits, (Operation(gates.RX, (g1_target(n_qubits),), (Const(G1_ANGLE),)),))
        return Problem(wl.name, n_qubits, 1, 0, seed, circuit, np.zeros(0), None)
    if wl.name == "W4":
        circuit = w1_circuit(n_qubits, layers)
        weights = rng.uniform(*WEIGHT_RANGE, circuit.n_weights)
        return Problem(wl.name, n_qubits, 1, layers, seed, circuit, weights, None)
    return Problem(wl.name, n_qubits, batch, 0, seed, None, np.zeros(0), None)   # HEAD


def angle_value(param, weights: np.ndarray, x_row: np.ndarray | None = None) -> float:
    """The numeric angle of a qsim parameter reference (``Weight``/``Input``/``Const``).

    From the reference's :attr:`~qsim.circuit.Weight.affine` ``(source, index, scale, offset)``:
    ``scale · weights[index] + offset`` (a weight), ``scale · x_row[index] + offset`` (an input,
    ``x_row`` one sample's inputs) or ``offset`` (a constant, whose scale is 0).

    Raises:
        ValueError: an ``Input`` without ``x_row``.
        TypeError: ``param`` is not a qsim parameter reference.
    """
    try:
        source, index, scale, offset = param.affine
    except AttributeError:
        raise TypeError(f"not a qsim parameter reference: {param!r}") from None
    if source == SRC_CONST:
        return float(offset)
    if source == SRC_INPUT:
        if x_row is None:
            raise ValueError(f"{param!r} needs a row of inputs")
        return float(scale * x_row[index] + offset)
    return float(scale * weights[index] + offset)
