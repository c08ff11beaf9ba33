"""Public simulation functions (pure: circuit + data in, arrays out).

All functions take ``weights (P,)``, ``inputs (B, k)`` and an optional initial ``state
(B, 2**n)`` (default ``|0…0⟩``) and return batched arrays with qubit 0 as the most significant
bit of the basis index.

``backend``: ``"numba"`` (default, CPU kernels), ``"numpy"`` (reference oracle, complex128
only) or ``"cupy"`` (GPU; needs CuPy and a CUDA device).  ``precision``: ``"double"`` or
``"single"``.  ``real``: ``None`` (auto) simulates in float arithmetic when the circuit, the
initial state and the observables are all real (RY, CNOT, CZ, X, Z, H, SWAP and real amplitude
encodings: the paper's circuits); ``False`` forces complex arithmetic; ``True`` demands the
real path and raises if it does not apply.
"""

from __future__ import annotations

import logging
from typing import Iterable

import numpy as np

from .circuit import Circuit, CircuitError
from .observables import Observable, PauliString, as_observables
from .program import DEFAULT_FUSION, GPU_FUSION, lower
from .validate import Batch, check_batch

__all__ = [
    "BACKENDS", "PRECISIONS", "final_state", "expval", "probabilities", "sample", "counts", "sample_expval",
    "resolve_dtype", "check_precision",
]

log = logging.getLogger(__name__)

BACKENDS = ("numba", "numpy", "cupy")
#: Precision name -> (complex dtype, real dtype) of the simulated states.
PRECISIONS = {"double": (np.complex128, np.float64), "single": (np.complex64, np.float32)}


def check_precision(precision: str, backend: str | None = None) -> str:
    """Validate ``precision`` (for ``backend``: the numpy reference runs in double only)."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise CircuitError(f"precision {precision!r} must be one of {tuple(PRECISIONS)}")
    if backend == "numpy" and precision != "double":
        raise CircuitError(f"precision {precision!r}: the numpy reference backend runs in double precision only")
    return precision


def resolve_dtype(circuit: Circuit, state, observables, precision: str, real: bool | None):
    """The state dtype: complex, or float on the real fast path."""
    cdt, rdt = PRECISIONS[check_precision(precision)]
    can = circuit.is_real and (state is None or not np.iscomplexobj(state) or not np.any(np.imag(state))) and (
        observables is None or all(o.is_real for o in observables))
    if real is True and not can:
        raise CircuitError("real=True but the circuit, state or observables are complex")
    return rdt if (can and real is not False) else cdt


def _backend(name: str):
    if name == "numba":
        from .backends import numba_backend

        return numba_backend
    if name == "cupy":
        from .backends import cupy_backend

        return cupy_backend
    raise CircuitError(f"backend {name!r} must be one of {BACKENDS}")


def _check_fusion(fusion: int | None, backend: str = "numba") -> int:
    """Validate ``fusion``; ``None`` picks the backend's level (GPU: fewer, larger passes)."""
    if fusion is None:
        return GPU_FUSION if backend == "cupy" else DEFAULT_FUSION
    if fusion not in (0, 1, 2):
        raise CircuitError(f"fusion level {fusion!r} must be 0, 1 or 2")
    return fusion


def _run(circuit: Circuit, b: Batch, backend: str, precision: str, real, fusion, observables=None):
    """Final states for a validated batch (array of the backend's array module)."""
    check_precision(precision, backend)
    if backend == "numpy":
        from .backends import reference

        return reference.final_state(circuit, b.weights, b.inputs, b.state, b.size)
    dtype = resolve_dtype(circuit, b.state, observables, precision, real)
    level = _check_fusion(fusion, backend)
    return _backend(backend).forward(lower(circuit, level), b.weights, b.inputs, b.state, b.size, dtype)


def final_state(circuit: Circuit, weights=None, inputs=None, state=None, *, backend: str = "numba",
                precision: str = "double", real: bool | None = False, fusion: int | None = None) -> np.ndarray:
    """Final state vectors ``(B, 2**n)`` (complex unless ``real`` is ``None``/``True``)."""
    b = check_batch(circuit, weights, inputs, state)
    st = _run(circuit, b, backend, precision, real, fusion)
    return _backend("cupy").to_numpy(st) if backend == "cupy" else st


def expval(circuit: Circuit, observables: Observable | PauliString | Iterable, weights=None, inputs=None,
           state=None, *, backend: str = "numba", precision: str = "double", real: bool | None = None,
           fusion: int | None = None) -> np.ndarray:
    """Expectation values ``⟨ψ_b|O_j|ψ_b⟩``, ``(B, m)``."""
    obs = as_observables(observables)
    b = check_batch(circuit, weights, inputs, state)
    for o in obs:
        for t in o.terms:
            t.masks(circuit.n_qubits)
    if backend == "numpy":
        from .backends import reference

        check_precision(precision, backend)
        return reference.expval(circuit, obs, b.weights, b.inputs, b.state, b.size)
    st = _run(circuit, b, backend, precision, real, fusion, obs)
    return _backend(backend).expvals(st, obs, circuit.n_qubits)


def probabilities(circuit: Circuit, weights=None, inputs=None, state=None, *, backend: str = "numba",
                  precision: str = "double", fusion: int | None = None) -> np.ndarray:
    """Born probabilities ``|⟨i|ψ_b⟩|²``, ``(B, 2**n)`` float64."""
    b = check_batch(circuit, weights, inputs, state)
    st = _run(circuit, b, backend, precision, None, fusion)
    if backend == "cupy":
        return _backend("cupy").to_numpy(abs(st) ** 2).astype(np.float64)
    if backend == "numpy":
        return np.abs(st) ** 2
    from .backends.numba_kernels import abs2

    return abs2(st)


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_shots(shots: int) -> int:
    if not isinstance(shots, (int, np.integer)) or isinstance(shots, bool) or shots < 1:
        raise CircuitError(f"shots = {shots!r} must be a positive integer")
    return int(shots)


def sample_from_probabilities(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``(B, shots)`` basis-state indices drawn from each row of ``probs`` (inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random((probs.shape[0], shots))
    idx = np.empty((probs.shape[0], shots), dtype=np.int64)
    for b in range(probs.shape[0]):
        idx[b] = np.minimum(np.searchsorted(cdf[b], u[b], side="right"), probs.shape[1] - 1)
    return idx


def sample(circuit: Circuit, shots: int, weights=None, inputs=None, state=None, *, seed=None,
           backend: str = "numba", precision: str = "double", fusion: int | None = None) -> np.ndarray:
    """Measured basis-state indices ``(B, shots)`` (qubit 0 = most significant bit); seeded."""
    shots = _check_shots(shots)
    probs = probabilities(circuit, weights, inputs, state, backend=backend, precision=precision, fusion=fusion)
    return sample_from_probabilities(probs, shots, _rng(seed))


def counts(circuit: Circuit, shots: int, weights=None, inputs=None, state=None, *, seed=None,
           backend: str = "numba", precision: str = "double") -> list[dict[str, int]]:
    """Per sample, a ``{bitstring: count}`` dict (bitstring ``q_0 q_1 … q_{n-1}``)."""
    idx = sample(circuit, shots, weights, inputs, state, seed=seed, backend=backend, precision=precision)
    n = circuit.n_qubits
    out = []
    for row in idx:
        vals, cnt = np.unique(row, return_counts=True)
        out.append({format(int(v), f"0{n}b"): int(c) for v, c in zip(vals, cnt)})
    return out


def _basis_change_ops(term: PauliString):
    from .circuit import Operation
    from .gates import H, Sdg

    ops = []
    for p, w in zip(term.paulis, term.wires):
        if p == "X":
            ops.append(Operation(H, (w,)))
        elif p == "Y":
            ops += [Operation(Sdg, (w,)), Operation(H, (w,))]
    return ops


def sample_expval(circuit: Circuit, observables, shots: int, weights=None, inputs=None, state=None, *,
                  seed=None, backend: str = "numba", precision: str = "double",
                  readout=None) -> np.ndarray:
    """Shot estimates of ``⟨O_j⟩``, ``(B, m)``: each Pauli term is measured in its eigenbasis
    with ``shots`` shots and the sample mean of its ±1 eigenvalue is taken.

    ``readout``: optional callable ``(indices (B, shots), rng) -> indices`` applying assignment
    errors to the measured bitstrings (see :mod:`qsim.noise`).
    """
    shots = _check_shots(shots)
    obs = as_observables(observables)
    rng = _rng(seed)
    n = circuit.n_qubits
    b = check_batch(circuit, weights, inputs, state)
    out = np.zeros((b.size, len(obs)))
    for j, o in enumerate(obs):
        for t in o.terms:
            t.masks(n)
            rotated = circuit.extend(_basis_change_ops(t))
            idx = sample(rotated, shots, b.weights, b.inputs, b.state, seed=rng, backend=backend,
                         precision=precision)
            if readout is not None:
                idx = readout(idx, rng)
            # after the basis change every non-identity factor is measured in Z
            mask = 0
            for p, w in zip(t.paulis, t.wires):
                if p != "I":
                    mask |= 1 << (n - 1 - w)
            par = np.zeros_like(idx)
            v = idx & mask
            while np.any(v):
                par ^= v & 1
                v >>= 1
            out[:, j] += t.coeff * (1 - 2 * par).mean(axis=1)
    return out
