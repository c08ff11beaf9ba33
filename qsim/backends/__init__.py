"""Simulation backends behind one protocol: ``numpy`` (the reference oracle), ``numba`` (CPU
kernels), ``cupy`` (GPU).

:func:`get_backend` returns the registered :class:`Backend` of a name (loaded on first use and
kept, so a call costs one dict lookup); :data:`NAMES` is the one list of names that
``qsim.simulate``, ``qsim.grad`` and the benchmark accept.

**Adding a backend** is one module and one line:

1. write ``qsim/backends/<module>.py`` defining ``BACKEND``, an object with

   * ``name`` (its registry name), ``device`` (``"cpu"`` or ``"gpu"``), ``description`` (how
     error messages name it, e.g. ``"numba CPU backend"``), ``precisions`` (the
     names of :data:`qsim.precision.PRECISIONS` it runs), ``default_fusion`` (the fusion level
     it runs when the caller gives none, or ``None`` if it does not run lowered programs: it then
     gets ``program=None`` and any explicit fusion level is refused);
   * ``forward(circuit, program, weights, inputs, state, batch, dtype)`` → final states
     ``(B, 2**n)`` as the backend's arrays (``state`` ``None`` means ``|0…0⟩``; ``dtype`` is the
     complex dtype of the precision, or its real dtype on the real fast path);
   * ``expvals(states, observables, n_qubits)`` → NumPy ``(B, m)`` float64;
   * ``adjoint(circuit, program, backward_program, observables, cotangents, weights, inputs,
     state, batch, dtype)`` → NumPy ``(values (B, m), grad_w (P,), grad_x (B, k) | None,
     grad_state (B, 2**n) | None)`` (derivation: ``qsim/grad/adjoint.md``);
   * ``probabilities(states)`` → NumPy ``(B, 2**n)`` float64, and ``to_numpy(a)``;

   Import failures (a missing library or device) raise :class:`~qsim.errors.InputError`
   naming what is missing.

   Optional, outside the protocol: ``apply_matrix(states, matrix, wires, n_qubits)`` applies any
   ``d × d`` matrix (shared ``(d, d)`` or per sample ``(B, d, d)``; unitary or not, e.g. a Kraus
   operator) to ``wires`` of ``states`` in place and returns them (``numba``; what engines built
   on the state kernels, such as :mod:`qsim.noise.trajectories`, need).
2. add ``"<name>": "<module>"`` to :data:`_MODULES` below.

Arguments are validated by the callers (``qsim.validate``) before a backend sees them.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import CircuitError, InputError
from ..validate import check_fusion

__all__ = ["Backend", "NAMES", "get_backend", "resolve_fusion"]


@runtime_checkable
class Backend(Protocol):
    """What a simulation backend offers (see the module docstring for the contract)."""

    name: str
    device: str
    description: str
    precisions: tuple[str, ...]
    default_fusion: int | None

    def forward(self, circuit, program, weights, inputs, state, batch: int, dtype): ...

    def expvals(self, states, observables, n_qubits: int) -> np.ndarray: ...

    def adjoint(self, circuit, program, backward_program, observables, cotangents, weights, inputs, state,
                batch: int, dtype) -> tuple: ...

    def probabilities(self, states) -> np.ndarray: ...

    def to_numpy(self, a) -> np.ndarray: ...

    def memory_sweeps(self, program, batch: int, dtype) -> float | None: ...


#: Registry: backend name -> module of this package defining ``BACKEND``.
_MODULES = {
    "numba": "numba_backend",
    "numpy": "reference",
    "cupy": "cupy_backend",
}
#: The backend names qsim accepts (``backend=`` everywhere), default first.
NAMES: tuple[str, ...] = tuple(_MODULES)

_loaded: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``.

    Raises:
        CircuitError: (an :class:`~qsim.errors.InputError`, the class earlier releases raised) for
            an unknown name (the message lists :data:`NAMES`), or when the backend cannot load
            here (e.g. ``"cupy"`` without CuPy or a CUDA device).
    """
    try:
        return _loaded[name]
    except (KeyError, TypeError):
        pass
    if not isinstance(name, str) or name not in _MODULES:
        raise CircuitError(f"backend {name!r} must be one of {NAMES}")
    backend = importlib.import_module(f"{__name__}.{_MODULES[name]}").BACKEND
    assert backend.name == name, f"module {_MODULES[name]} registers {backend.name!r} as {name!r}"
    _loaded[name] = backend
    return backend


def resolve_fusion(backend: Backend, fusion: int | None) -> int | None:
    """The fusion level ``backend`` runs: ``fusion`` (checked) or the backend's default.

    Raises:
        InputError: for a level that is not 0, 1 or 2, or any level for a backend that does not
            run lowered programs (the reference).
    """
    if backend.default_fusion is None:
        if fusion is not None:
            raise InputError(f"backend {backend.name!r} runs the circuit gate by gate and takes no fusion level "
                             f"(got fusion={fusion!r}); leave fusion=None")
        return None
    return backend.default_fusion if fusion is None else check_fusion(fusion)
