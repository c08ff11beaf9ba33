"""qsim's exceptions: one hierarchy, one rule.

User input that qsim cannot honour raises a :class:`QsimError` subclass (a ``ValueError``, so
callers that caught ``ValueError`` keep working) *before* any kernel runs; a broken internal
invariant is an ``AssertionError``.  Other packages (``energy``, ``bench``, ``hybrid``) define
their own errors under their own names and never reuse these.

::

    QsimError(ValueError)
    ├── InputError          an argument of a simulation call (backend, precision, fusion,
    │   │                   shots, seed, cotangents, states, density matrices, readout arrays)
    │   └── CircuitError    a circuit, an operation or its parameter data
    ├── GateError           a gate defined or used with invalid data
    ├── ChannelError        a noise channel with invalid data
    └── NoiseProfileError   a noise profile file missing, malformed or out of range
"""

from __future__ import annotations

__all__ = ["QsimError", "InputError", "CircuitError", "GateError", "ChannelError", "NoiseProfileError"]


class QsimError(ValueError):
    """Base class of every error qsim raises for bad user input."""


class InputError(QsimError):
    """An argument of a simulation call is invalid (backend, precision, fusion, shots, state, ...)."""


class CircuitError(InputError):
    """A circuit, an operation or the data given to simulate it is invalid."""


class GateError(QsimError):
    """A gate was defined or used with invalid data (bad matrix, wrong parameter count, ...)."""


class ChannelError(QsimError):
    """A channel was defined with invalid data (probability out of range, non-TP Kraus set, ...)."""


class NoiseProfileError(QsimError):
    """A noise profile file is missing, malformed or has out-of-range values."""
