"""Checks on the data given to a simulation, shared by every backend.

Bad input raises :class:`~qsim.circuit.CircuitError` naming the bad value, before any kernel
runs.  ``B`` (the batch size) is taken from ``inputs`` or ``state``; both, when given, must agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .circuit import Circuit, CircuitError

__all__ = ["Batch", "check_batch", "NORM_ATOL"]

#: Largest deviation of ``||ψ||²`` from 1 accepted for a given initial state.
NORM_ATOL = 1e-6


@dataclass(frozen=True)
class Batch:
    """Validated simulation data: ``weights (P,)``, ``inputs (B, k) | None``, ``state (B, 2**n) | None``."""

    weights: np.ndarray
    inputs: np.ndarray | None
    state: np.ndarray | None
    size: int


def _finite(name: str, a: np.ndarray) -> None:
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0]
        raise CircuitError(f"{name}{tuple(int(i) for i in bad)} = {a[tuple(bad)].item()!r} is not finite")


def check_batch(circuit: Circuit, weights=None, inputs=None, state=None, *, norm_atol: float = NORM_ATOL) -> Batch:
    """Validate and normalise ``weights``, ``inputs`` and ``state`` for ``circuit``."""
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"expected a qsim Circuit, got {type(circuit).__name__}")
    P, K, N = circuit.n_weights, circuit.n_inputs, 2**circuit.n_qubits
    w = np.zeros(0) if weights is None else np.asarray(weights, dtype=np.float64)
    if weights is None and P:
        raise CircuitError(f"circuit uses {P} weights but none were given")
    if w.ndim != 1 or w.shape[0] != P:
        raise CircuitError(f"weights have shape {w.shape}, expected ({P},)")
    _finite("weights", w)
    x = None
    sizes = []
    if K:
        if inputs is None:
            raise CircuitError(f"circuit reads {K} inputs per sample but none were given")
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != K:
            raise CircuitError(f"inputs have shape {x.shape}, expected (B, {K})")
        _finite("inputs", x)
        x = np.ascontiguousarray(x)
        sizes.append(("inputs", x.shape[0]))
    elif inputs is not None and np.asarray(inputs).size:
        xi = np.asarray(inputs)
        if xi.ndim != 2 or xi.shape[1] != 0:
            raise CircuitError(f"inputs have shape {xi.shape} but the circuit reads no inputs")
    s = None
    if state is not None:
        s = np.asarray(state)
        if s.ndim == 1:
            s = s[None, :]
        if s.ndim != 2 or s.shape[1] != N:
            raise CircuitError(f"state has shape {np.shape(state)}, expected (B, {N}) for {circuit.n_qubits} qubits")
        if not (np.issubdtype(s.dtype, np.floating) or np.issubdtype(s.dtype, np.complexfloating)):
            raise CircuitError(f"state dtype {s.dtype} is not a float or complex type")
        _finite("state", s)
        norms = np.sum(np.abs(s) ** 2, axis=1)
        dev = np.abs(norms - 1.0)
        if np.any(dev > norm_atol):
            b = int(np.argmax(dev))
            raise CircuitError(f"state {b} is not normalised: ||ψ||² = {norms[b]:.9g}")
        sizes.append(("state", s.shape[0]))
    if len(sizes) == 2 and sizes[0][1] != sizes[1][1]:
        raise CircuitError(f"batch sizes disagree: inputs has {sizes[0][1]} rows, state has {sizes[1][1]}")
    B = sizes[0][1] if sizes else 1
    if B < 1:
        raise CircuitError("empty batch: inputs/state have 0 rows")
    return Batch(w, x, s, B)
