"""The CuPy GPU backend: :mod:`.xp_engine` with ``xp = cupy`` (see there for the method).

Import fails with a clear :class:`~qsim.errors.CircuitError` when CuPy or a CUDA device is
missing.  Results cross back to NumPy at the public API (``final_state``, ``expval``, ``vjp``).
"""

from __future__ import annotations

from ..errors import CircuitError
from . import xp_engine

try:  # pragma: no cover - exercised only on GPU machines (tests marked ``gpu``)
    import cupy as _cp

    _cp.cuda.runtime.getDeviceCount()
except Exception as exc:  # noqa: BLE001
    raise CircuitError(f"backend 'cupy' needs CuPy and a CUDA device: {exc}") from None

__all__ = ["forward", "expvals", "adjoint", "to_numpy", "BACKEND"]

#: The registered instance (:func:`qsim.backends.get_backend`).
BACKEND = xp_engine.XPBackend(_cp, name="cupy", device="gpu")


def forward(program, weights, inputs, state, B, dtype, shift=None):
    return xp_engine.forward(_cp, program, weights, inputs, state, B, dtype, shift)


def expvals(states, observables, n_qubits):
    return xp_engine.expvals(_cp, states, observables, n_qubits)


def adjoint(program, observables, cot, weights, inputs, state, B, dtype, backward_program=None):
    return xp_engine.adjoint(_cp, program, observables, cot, weights, inputs, state, B, dtype, backward_program)


def to_numpy(a):
    return _cp.asnumpy(a)
