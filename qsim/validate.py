"""Checks on the data given to a simulation, shared by every backend.

Bad input raises :class:`~qsim.circuit.CircuitError` naming the bad value, before any kernel
runs.  ``B`` (the batch size) is taken from ``inputs`` or ``state``; both, when given, must agree.

The memory guard (:func:`check_memory`) runs where a state is allocated (state vectors on every
backend, density matrices): it compares the bytes of the batch of states with the available
memory and with a user cap (:func:`set_max_bytes` or ``$QSIM_MAX_BYTES``) and raises instead
of letting the allocation fail or swap.
"""

from __future__ import annotations

import os
import reprlib
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .hostinfo import available_memory

from .circuit import Circuit, CircuitError

__all__ = ["Batch", "check_batch", "check_fusion", "check_shots", "FUSION_LEVELS",
           "NORM_ATOL", "MAX_BYTES_ENV", "MEMORY_CHECK_MIN_BYTES", "set_max_bytes",
           "max_bytes", "available_memory", "state_bytes", "check_memory"]

#: Largest deviation of ``||ψ||²`` from 1 accepted for a given initial state.
NORM_ATOL = 1e-6
#: Environment variable capping the bytes of one batch of states (e.g. ``QSIM_MAX_BYTES=8e9``).
MAX_BYTES_ENV = "QSIM_MAX_BYTES"
#: Batches of states smaller than this are not compared with the free memory: reading
#: ``/proc/meminfo`` costs ~12 µs a call (timeit, 2-core dev machine), as much as a whole small
#: simulation, and 16 MiB cannot exhaust a host that runs Python.  The cap is always checked.
MEMORY_CHECK_MIN_BYTES = 1 << 24

#: Gate-fusion levels of the lowering (:mod:`qsim.program.lower`): 0 one pass per gate, 1 one-qubit
#: runs fused, 2 one-qubit passes absorbed into two-qubit passes as well.
FUSION_LEVELS = (0, 1, 2)

_max_bytes: int | None = None


def check_shots(shots) -> int:
    """``shots`` as an ``int``.

    Raises:
        CircuitError: (an :class:`~qsim.errors.InputError`) unless a positive integer (bools refused).
    """
    if not isinstance(shots, (int, np.integer)) or isinstance(shots, bool) or shots < 1:
        raise CircuitError(f"shots = {shots!r} must be a positive integer")
    return int(shots)


def check_fusion(fusion) -> int:
    """``fusion`` as a level of :data:`FUSION_LEVELS`; anything else raises :class:`CircuitError`."""
    if fusion not in FUSION_LEVELS:
        raise CircuitError(f"fusion level {fusion!r} must be 0, 1 or 2")
    return int(fusion)


def set_max_bytes(limit: int | float | None) -> None:
    """Cap the bytes of one batch of simulated states (``None``: no cap but ``$QSIM_MAX_BYTES``).

    A cap set here takes precedence over the environment variable.
    """
    global _max_bytes
    if limit is None:
        _max_bytes = None
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, float, np.integer, np.floating)) or not limit >= 1:
        raise CircuitError(f"memory cap {limit!r} must be a positive number of bytes or None")
    _max_bytes = int(limit)


def max_bytes() -> tuple[int, str] | None:
    """The cap in force and where it comes from, or ``None`` when there is none."""
    if _max_bytes is not None:
        return _max_bytes, "qsim.set_max_bytes"
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return None
    try:
        limit = float(raw)
    except ValueError:
        limit = float("nan")
    if not limit >= 1 or limit == float("inf"):
        raise CircuitError(f"${MAX_BYTES_ENV} = {raw!r} must be a positive number of bytes (e.g. 8e9)")
    return int(limit), f"${MAX_BYTES_ENV}"


def state_bytes(n_qubits: int, batch: int, dtype, *, density: bool = False) -> int:
    """Bytes of ``batch`` state vectors ``(B, 2**n)`` or density matrices ``(B, 4**n)`` of ``dtype``."""
    return int(batch) * (4 if density else 2) ** int(n_qubits) * np.dtype(dtype).itemsize


def _size(n: int) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def check_memory(n_qubits: int, batch: int, dtype, *, density: bool = False,
                 available: Callable[[], int | None] | None = None, where: str = "available memory") -> int:
    """Raise :class:`CircuitError` when a batch of states would not fit; return its bytes.

    Args:
        n_qubits, batch, dtype: the states to allocate.
        density: density matrices (``4**n`` entries each) instead of state vectors (``2**n``).
        available: returns the bytes free where the states go (default: :func:`available_memory`
            of the host); asked only from :data:`MEMORY_CHECK_MIN_BYTES` on.
        where: how to name that memory in the message.
    """
    need = state_bytes(n_qubits, batch, dtype, density=density)
    what = "density matrices" if density else "state vectors"
    limits = []
    cap = max_bytes()
    if cap is not None:
        limits.append((cap[0], f"the cap {cap[1]}"))
    free = (available or available_memory)() if need >= MEMORY_CHECK_MIN_BYTES else None
    if free is not None:
        limits.append((int(free), f"the {where}"))
    for limit, name in limits:
        if need > limit:
            raise CircuitError(
                f"{n_qubits} qubits x batch {batch} as {np.dtype(dtype).name} {what} need {need} bytes "
                f"({_size(need)}), more than {name} ({limit} bytes, {_size(limit)}); use fewer qubits "
                "or a smaller batch")
    return need


def _real_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 array; complex or non-numeric data raise naming ``name``."""
    try:
        a = np.asarray(value)
        if not np.iscomplexobj(a):
            return np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise CircuitError(f"{name} = {reprlib.repr(value)} are not real numbers") from None
    raise CircuitError(f"{name} are complex ({a.dtype}); angles are real: pass the real part explicitly "
                       "if that is what you mean")


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
    w = np.zeros(0) if weights is None else _real_array("weights", weights)
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
        x = _real_array("inputs", inputs)
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
            raise CircuitError(f"state {b} is not normalised: ||ψ||² = {norms[b]:.9g} (expected 1 within "
                               f"{norm_atol:g}; divide each state by its norm)")
        sizes.append(("state", s.shape[0]))
    if len(sizes) == 2 and sizes[0][1] != sizes[1][1]:
        raise CircuitError(f"batch sizes disagree: inputs has {sizes[0][1]} rows, state has {sizes[1][1]}")
    B = sizes[0][1] if sizes else 1
    if B < 1:
        raise CircuitError("empty batch: inputs/state have 0 rows")
    return Batch(w, x, s, B)
