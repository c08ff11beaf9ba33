"""Builders for the circuits the hybrid head needs.

All builders return plain lists of :class:`~qsim.circuit.Operation` (circuits are data) and
take the index of the first weight slot they may use, so that blocks compose:
``ops = angle_encoding(4) + long_range_layer(4, 2, first_weight=0)``.

The paper's ansatz ("Quantum Large Language Model Fine-Tuning", Fig. 2 and Fig. 3): the block
``U_i`` is a CNOT followed by ``RY(θ_i)`` on the CNOT's target.  A *layer of connectivity C*
on ``Q`` qubits applies, for each offset ``c = 1..C``, a ring of ``Q`` blocks on the pairs
``(control i, target (i + c) mod Q)`` for ``i = 0..Q-1``; it has ``C·Q`` angles.
"""

from __future__ import annotations

from typing import Sequence

from .circuit import CircuitError, Input, Operation, Weight
from .gates import CNOT, RY, RZ, Gate

__all__ = [
    "angle_encoding",
    "long_range_layer",
    "long_range_pqc",
    "long_range_pqc_num_weights",
    "hardware_efficient_layer",
    "ry_column",
]


def _wires(n_qubits: int, wires: Sequence[int] | None) -> tuple[int, ...]:
    if n_qubits < 1:
        raise CircuitError(f"n_qubits = {n_qubits} must be >= 1")
    ws = tuple(range(n_qubits)) if wires is None else tuple(wires)
    if len(ws) != n_qubits:
        raise CircuitError(f"expected {n_qubits} wires, got {ws}")
    return ws


def angle_encoding(
    n_qubits: int,
    *,
    gate: Gate = RY,
    first_input: int = 0,
    scale: float = 1.0,
    offset: float = 0.0,
    wires: Sequence[int] | None = None,
) -> list[Operation]:
    """``⊗_q gate(scale · x[first_input + q] + offset)``: one input angle per qubit."""
    if gate.num_params != 1:
        raise CircuitError(f"angle encoding needs a one-parameter gate, got {gate.name}")
    ws = _wires(n_qubits, wires)
    return [Operation(gate, (w,), (Input(first_input + q, scale, offset),)) for q, w in enumerate(ws)]


def ry_column(n_qubits: int, *, first_weight: int = 0, wires: Sequence[int] | None = None) -> list[Operation]:
    """A column of trainable ``RY`` on every qubit (``n_qubits`` weights)."""
    ws = _wires(n_qubits, wires)
    return [Operation(RY, (w,), (Weight(first_weight + q),)) for q, w in enumerate(ws)]


def long_range_layer(
    n_qubits: int,
    connectivity: int,
    *,
    first_weight: int = 0,
    wires: Sequence[int] | None = None,
) -> list[Operation]:
    """One layer of the paper's long-range block: ``C·Q`` CNOT+RY blocks, ``C·Q`` weights.

    For ``c = 1..C`` and ``i = 0..Q-1``: ``CNOT(i → (i+c) mod Q)`` then ``RY(θ)`` on the target,
    with the weight index increasing in that order (Fig. 3 numbering).
    """
    ws = _wires(n_qubits, wires)
    q = len(ws)
    if q < 2:
        raise CircuitError(f"the long-range block needs at least 2 qubits, got {q}")
    if not 1 <= connectivity <= q - 1:
        raise CircuitError(f"connectivity = {connectivity} must be between 1 and n_qubits - 1 = {q - 1}")
    ops: list[Operation] = []
    k = first_weight
    for c in range(1, connectivity + 1):
        for i in range(q):
            ctrl, tgt = ws[i], ws[(i + c) % q]
            ops.append(Operation(CNOT, (ctrl, tgt)))
            ops.append(Operation(RY, (tgt,), (Weight(k),)))
            k += 1
    return ops


def long_range_pqc_num_weights(n_qubits: int, layers: int, connectivity: int,
                               ry_column_after: int | None = None) -> int:
    """Number of weights of :func:`long_range_pqc`: ``layers·C·Q`` (+ ``Q`` with the RY column)."""
    return layers * connectivity * n_qubits + (n_qubits if ry_column_after is not None else 0)


def long_range_pqc(
    n_qubits: int,
    layers: int,
    connectivity: int,
    *,
    first_weight: int = 0,
    ry_column_after: int | None = None,
    wires: Sequence[int] | None = None,
) -> list[Operation]:
    """``layers`` long-range layers, optionally with a column of ``RY`` after layer ``ry_column_after``.

    Fig. 3 of the paper (``Q=4``, 3 layers, ``C=2``, column after the first layer) has
    ``3·8 + 4 = 28`` angles: ``long_range_pqc(4, 3, 2, ry_column_after=0)``.
    """
    if layers < 0:
        raise CircuitError(f"layers = {layers} must be >= 0")
    if ry_column_after is not None and not 0 <= ry_column_after < max(layers, 1):
        raise CircuitError(f"ry_column_after = {ry_column_after} must index one of the {layers} layers")
    ops: list[Operation] = []
    k = first_weight
    for layer in range(layers):
        ops += long_range_layer(n_qubits, connectivity, first_weight=k, wires=wires)
        k += connectivity * n_qubits
        if ry_column_after == layer:
            ops += ry_column(n_qubits, first_weight=k, wires=wires)
            k += n_qubits
    return ops


def hardware_efficient_layer(
    n_qubits: int,
    *,
    first_weight: int = 0,
    rotations: Sequence[Gate] = (RY, RZ),
    ring: bool = True,
    wires: Sequence[int] | None = None,
) -> list[Operation]:
    """Rotations on every qubit, then a chain (or ring) of CNOTs ``q → q+1``.

    Uses ``len(rotations) · n_qubits`` weights, qubit-major: qubit ``q``'s rotation ``r`` reads
    weight ``first_weight + q·len(rotations) + r``.
    """
    ws = _wires(n_qubits, wires)
    ops: list[Operation] = []
    k = first_weight
    for w in ws:
        for gate in rotations:
            if gate.num_params != 1:
                raise CircuitError(f"rotation {gate.name} must have one parameter")
            ops.append(Operation(gate, (w,), (Weight(k),)))
            k += 1
    n_cnot = n_qubits if (ring and n_qubits > 2) else n_qubits - 1
    for i in range(n_cnot):
        ops.append(Operation(CNOT, (ws[i], ws[(i + 1) % n_qubits])))
    return ops

